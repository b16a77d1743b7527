"""Neuron activations over a text, the neurons worth looking at, and next-token guesses.

Every unit of the recurrent state is a neuron: s_t = [h^1..h^L (, c^1..c^L)] after reading
token t (``rnnkit.analysis.stepping``), so an LSTM's cell states can be inspected as well as
its outputs. Neurons are ranked by variance over the text and by |Pearson correlation| with
simple features of the text, in the spirit of Karpathy, Johnson & Fei-Fei (2015).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from rnnkit.analysis.probe import Probe
from rnnkit.analysis.stepping import is_lstm, run, state_shapes, top_output, zero_state

FEATURES = ("inside quotes", "inside brackets", "position in line", "uppercase", "space")


@dataclass
class Activations:
    """``states`` (T, S) after each token; ``top_ids``/``top_probs`` (T, k): the model's k
    most likely next tokens after each token; ``names[j]`` says which unit neuron j is."""

    tokens: list[str]
    states: np.ndarray
    top_ids: np.ndarray
    top_probs: np.ndarray
    names: list[str]


def neuron_names(rnn: torch.nn.Module) -> list[str]:
    """'layer 1 h 17' ... in the flat state's order (layers, then h before c)."""
    kinds = ["h", "c"] if is_lstm(rnn) else (["o"] if "Jordan" in type(rnn).__name__ else ["h"])
    names = []
    for kind, size in zip(kinds, state_shapes(rnn), strict=True):
        for layer in range(rnn.num_layers):
            names += [f"layer {layer + 1} {kind} {j}" for j in range(size)]
    return names


@torch.no_grad()
def collect(probe: Probe, ids: Tensor, tokens: list[str], k: int = 5) -> Activations:
    """Run ``ids`` (T,) through the probe; ``tokens[t]`` is the text of ``ids[t]``."""
    x = probe.encode(ids.unsqueeze(1))  # (T, 1, I)
    _, states = run(probe.rnn, x, zero_state(probe.rnn, 1, x))
    s = torch.cat(states[1:])  # (T, S)
    probs = probe.head(top_output(probe.rnn, s)).softmax(-1)  # (T, V)
    top = probs.topk(min(k, probs.shape[1]), dim=1)
    return Activations(
        tokens,
        s.float().numpy(),
        top.indices.numpy(),
        top.values.float().numpy(),
        neuron_names(probe.rnn),
    )


def text_features(tokens: list[str]) -> dict[str, np.ndarray]:
    """Per-token features of ``FEATURES``: 0/1 flags, and the position in the line.

    "Inside quotes" toggles at every double quote; "inside brackets" is the nesting depth of
    (), [] and {} (clipped at 1); the quote or bracket tokens themselves count as inside.
    """
    quote, depth, col = False, 0, 0
    rows = []
    for tok in tokens:
        if '"' in tok:
            quote = not quote if tok.count('"') % 2 else quote
        depth = max(0, depth + sum(tok.count(c) for c in "([{") - sum(tok.count(c) for c in ")]}"))
        rows.append(
            (
                float(quote or '"' in tok),
                float(depth > 0 or any(c in tok for c in "()[]{}")),
                float(col),
                float(tok[:1].isupper()),
                float(tok.isspace()),
            )
        )
        col = 0 if "\n" in tok else col + 1
    table = np.array(rows, dtype=np.float64).reshape(len(tokens), len(FEATURES))
    return {name: table[:, i] for i, name in enumerate(FEATURES)}


def correlations(states: np.ndarray, feature: np.ndarray) -> np.ndarray:
    """Pearson r of every neuron (column of ``states`` (T, S)) with ``feature`` (T,); 0 where
    either is constant."""
    a = states - states.mean(0)
    f = feature - feature.mean()
    denom = np.sqrt((a**2).sum(0) * (f**2).sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (a * f[:, None]).sum(0) / denom
    return np.nan_to_num(r)


def interesting_neurons(acts: Activations, per_list: int = 8) -> list[dict]:
    """The largest-variance neurons, then the most correlated with each feature.

    Returns [{'neuron', 'name', 'reason', 'score'}], each neuron listed once (its first reason).
    """
    chosen: list[dict] = []
    seen: set[int] = set()

    def add(order: np.ndarray, reason: str, scores: np.ndarray) -> None:
        n = 0
        for j in order:
            if n == per_list:
                break
            if int(j) in seen:
                continue
            seen.add(int(j))
            n += 1
            chosen.append(
                {
                    "neuron": int(j),
                    "name": acts.names[j],
                    "reason": reason,
                    "score": float(scores[j]),
                }
            )

    var = acts.states.var(0)
    add(np.argsort(-var), "variance", var)
    for name, feature in text_features(acts.tokens).items():
        if feature.std() == 0:
            continue
        r = correlations(acts.states, feature)
        add(np.argsort(-np.abs(r))[: max(2, per_list // 3)], f"r with {name}", r)
    return chosen
