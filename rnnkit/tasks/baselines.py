"""Simple baselines measured beside every model, on the same split.

- classification: TF-IDF features + logistic regression (scikit-learn); for real-valued
  sequences, logistic regression on the standardised flattened sequence;
- tagging: each token's most frequent training tag, the overall most frequent tag for tokens
  never seen in training;
- forecasting: naive (repeat the last value) and seasonal-naive (repeat the last season).
"""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np

from rnnkit.data.conll import Sentence


def tfidf_logreg(
    train_texts: list[str], train_labels: list[str], test_texts: list[str], level: str = "word"
) -> list[str]:
    """Labels predicted for ``test_texts`` by TF-IDF (word 1-2-grams or char 2-5-grams) + LR."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    if level == "char":
        vec = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True)
    else:
        vec = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1)
    clf = LogisticRegression(max_iter=2000, C=4.0)
    clf.fit(vec.fit_transform(train_texts), train_labels)
    return list(clf.predict(vec.transform(test_texts)))


def _flatten(seqs: list[np.ndarray], steps: int) -> np.ndarray:
    out = np.zeros((len(seqs), steps, seqs[0].shape[-1]), dtype=np.float64)  # (N, T, F)
    for i, s in enumerate(seqs):
        out[i, : min(len(s), steps)] = s[:steps]
    return out.reshape(len(seqs), -1)  # (N, T*F)


def flat_logreg(
    train_seqs: list[np.ndarray], train_labels: list[str], test_seqs: list[np.ndarray]
) -> list[str]:
    """Labels from logistic regression on sequences zero-padded to the longest and flattened."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    steps = max(len(s) for s in train_seqs)
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    clf.fit(_flatten(train_seqs, steps), train_labels)
    return list(clf.predict(_flatten(test_seqs, steps)))


def most_frequent_tag(train: list[Sentence], test_tokens: list[list[str]]) -> list[list[str]]:
    """Each token's most frequent training tag (ties: first seen); unseen tokens get the
    overall most frequent tag."""
    counts: dict[str, Counter] = defaultdict(Counter)
    overall: Counter = Counter()
    for tokens, tags in train:
        for w, t in zip(tokens, tags, strict=True):
            counts[w][t] += 1
            overall[t] += 1
    best = {w: c.most_common(1)[0][0] for w, c in counts.items()}
    default = overall.most_common(1)[0][0]
    return [[best.get(w, default) for w in tokens] for tokens in test_tokens]


def naive(history: np.ndarray, horizon: int) -> np.ndarray:
    """(H,) the last value repeated: yhat_{n+h} = y_n."""
    return np.full(horizon, history[-1], dtype=np.float64)


def seasonal_naive(history: np.ndarray, horizon: int, period: int) -> np.ndarray:
    """(H,) the value one season earlier: yhat_{n+h} = y_{n+h-m*k}, k = ceil(h/m)."""
    if period is None or period < 1 or len(history) < period:
        return naive(history, horizon)
    season = history[-period:]
    return np.array([season[h % period] for h in range(horizon)], dtype=np.float64)
