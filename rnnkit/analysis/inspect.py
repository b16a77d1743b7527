"""``rnnkit inspect``: a trained language model's neurons over a text, as one HTML page.

Usable from Python::

    rnnkit.analysis.inspect.inspect_run("runs/lm", "To be, or not to be", "view.html")
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from rnnkit.analysis.activations import collect, interesting_neurons
from rnnkit.analysis.html_view import render
from rnnkit.analysis.probe import probe_of
from rnnkit.data.text import read_text
from rnnkit.errors import RnnkitError
from rnnkit.files import atomic_write_bytes
from rnnkit.runs.lm import load_lm

MAX_TOKENS = 20_000


def read_text_arg(text: str) -> str:
    """``text`` is read from a file when it names one, else it is the text itself. A folder, or
    a single word with a path's form (a slash, or a .txt/.md ending) that names nothing, is an
    error: the user meant a file."""
    p = Path(text)
    try:
        exists = len(text) < 4096 and p.exists()
    except OSError:
        exists = False
    looks_like_path = not any(c.isspace() for c in text) and (
        "/" in text or p.suffix.lower() in (".txt", ".md", ".text")
    )
    if exists or looks_like_path:
        return read_text(p)
    return text


def inspect_run(
    run_dir: str | Path,
    text: str,
    out: str | Path = "view.html",
    *,
    max_tokens: int = 3000,
    per_list: int = 8,
    which: str = "best",
) -> dict[str, Any]:
    """Write the HTML view of ``run_dir``'s model over ``text`` (a file path or the text).

    The first ``max_tokens`` tokens are shown; ``per_list`` neurons are offered per ranking
    (variance, then correlation with each text feature). Returns the neurons offered and the
    output path.
    """
    if not 1 <= max_tokens <= MAX_TOKENS:
        raise RnnkitError(f"--max-tokens must be between 1 and {MAX_TOKENS}, got {max_tokens}")
    lm = load_lm(run_dir, which)
    body = read_text_arg(text)
    ids = lm.task.tokenizer.encode(body, strict=True)[:max_tokens]
    if len(ids) < 2:
        raise RnnkitError("--text must hold at least 2 tokens the model knows")
    sep = "" if lm.task.tokenizer.level == "char" else " "
    tokens = [
        lm.task.tokenizer.token(i) + ("" if lm.task.tokenizer.token(i) == "\n" else sep)
        for i in ids
    ]
    acts = collect(probe_of(lm.model), torch.tensor(ids), tokens)
    neurons = interesting_neurons(acts, per_list)
    vocab = [lm.task.tokenizer.token(i) for i in range(len(lm.task.tokenizer))]
    title = f"{Path(run_dir).name}: {lm.model.config.cell}, {len(ids)} tokens"
    page = render(acts, neurons, vocab, title)
    out = Path(out)
    if out.is_dir():
        raise RnnkitError(f"--out {out} is a directory; give a file name such as view.html")
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out, page.encode("utf-8"))
    return {"out": str(out), "tokens": len(ids), "neurons": neurons}
