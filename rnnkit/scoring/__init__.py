"""Metrics, one module per kind of output: BLEU/chrF, ROUGE, distinct-n, caption scores, word
orders, labels, tags, forecast errors, word and character error rates, tune checks."""
