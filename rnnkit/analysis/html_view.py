"""One self-contained HTML page (no network) showing a text coloured by neuron activations.

The page embeds its data as JSON and its script inline: switching neurons recolours the text,
hovering a token shows the model's most likely next tokens. ``render`` takes plain data, so
any activations can be shown, not only a language model's.
"""

from __future__ import annotations

import html
import json
from importlib import resources

import numpy as np

from rnnkit.analysis.activations import Activations


def render(acts: Activations, neurons: list[dict], vocab: list[str], title: str = "rnnkit") -> str:
    """The page for ``acts``, offering ``neurons`` (from ``interesting_neurons``) to switch
    between; ``vocab[i]`` is the text of token id i (for the next-token list)."""
    data = {
        "tokens": acts.tokens,
        "neurons": [
            {**n, "values": np.round(acts.states[:, n["neuron"]], 4).tolist()} for n in neurons
        ],
        "top": [
            [[vocab[i], round(float(p), 4)] for i, p in zip(ids, probs, strict=True)]
            for ids, probs in zip(acts.top_ids, acts.top_probs, strict=True)
        ],
    }
    # "</" inside a <script> element would end it: escape the slash, which JSON allows.
    payload = json.dumps(data, ensure_ascii=False).replace("</", "<\\/")
    template = (resources.files("rnnkit.analysis") / "view.html").read_text(encoding="utf-8")
    return template.replace("__TITLE__", html.escape(title)).replace("__DATA__", payload)
