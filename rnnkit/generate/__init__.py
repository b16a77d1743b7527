"""Turning a model's scores into outputs, for every task that writes: one logits filter
(temperature, top-k, top-p, a constraint mask), sampling, greedy and beam search over a step
model, and the CTC decoders (after OpenNMT-py's ``onmt/translate``: one search and one
sampler that every decoder uses)."""
