"""What takes a language-model run folder: ``train_lm`` (``fit("lm", ...)`` with settings by
name), ``generate``, ``complete`` and ``score``; each also takes a ``LoadedRun``::

    rnnkit.train_lm(out="runs/lm", max_time=120)                 # bundled Shakespeare
    for piece in rnnkit.generate("runs/lm", prime="ROMEO:", length=200):
        print(piece, end="")
    rnnkit.complete("runs/lm", "To be, or not to ", k=5)
    rnnkit.score("runs/lm", "To be, or not to be")
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from rnnkit.config import check_value
from rnnkit.errors import RnnkitError
from rnnkit.models.language_model import LanguageModelConfig
from rnnkit.runs.driver import LoadedRun, as_run, fit
from rnnkit.tasks.lm import LMData, context, sample, top_tokens
from rnnkit.train.trainer import TrainConfig


def train_lm(data: str | Path | None = None, *, out: str | Path = "runs/lm", resume: bool = False,
             nproc: int = 1, **settings: Any) -> dict[str, Any]:  # fmt: skip
    """``rnnkit.fit("lm", ...)`` with the settings given by name, whichever section they are
    in (``LMData``, ``LanguageModelConfig``, ``TrainConfig``)."""
    sections: dict[str, dict[str, Any]] = {"data": {}, "model": {}, "train": {}}
    if data is not None:
        sections["data"]["data"] = str(data)
    owners = [("data", LMData), ("model", LanguageModelConfig), ("train", TrainConfig)]
    for name, value in settings.items():
        owner = next((s for s, cls in owners if name in cls.__dataclass_fields__), None)
        if owner is None:
            raise RnnkitError(f"unknown language-model setting {name!r}")
        sections[owner][name] = value
    if resume:
        sections = {"data": {}, "model": {}, "train": sections["train"]}
    return fit("lm", **sections, out=out, resume=resume, nproc=nproc)


def load_lm(run_dir: str | Path | LoadedRun, which: str = "best") -> LoadedRun:
    """``load_run`` for a language-model run (RnnkitError for any other task)."""
    return as_run(run_dir, "lm", which)


def generate(run_dir: str | Path | LoadedRun, prime: str = "", length: int = 500,
             temperature: float = 0.8, top_k: int | None = None, top_p: float | None = None,
             seed: int | None = None) -> Iterator[str]:  # fmt: skip
    """``sample`` from a trained run's model."""
    lm = load_lm(run_dir)
    return sample(lm.model, lm.task.tokenizer, prime, length, temperature, top_k, top_p, seed)


@torch.no_grad()
def complete(run_dir: str | Path | LoadedRun, prefix: str, k: int = 5) -> list[dict]:
    """The ``k`` most likely next tokens after ``prefix`` with their probabilities.

    At word level, a prefix that ends inside a word (no trailing space) is completed: the
    candidates are the vocabulary words that begin with that partial word. ``<unk>`` is never
    suggested.
    """
    check_value("k", k, {"lo": 1, "hi": 10**7}, int, False)
    lm = load_lm(run_dir)
    tok = lm.task.tokenizer
    partial = ""
    if tok.level == "word" and prefix and not prefix[-1].isspace():
        words = tok.tokenize(prefix)
        if words and words[-1][-1].isalnum():
            partial = words[-1]
            prefix = prefix[: prefix.rfind(partial)]
    ids = context(tok, prefix)
    if not ids:
        raise RnnkitError("the prefix must hold at least one token")
    logits, _ = lm.model(torch.tensor([ids]))  # (1, T, V)
    return top_tokens(tok, logits[0, -1].softmax(-1), k, partial)


@torch.no_grad()
def score(run_dir: str | Path | LoadedRun, text: str) -> dict[str, Any]:
    """Natural-log probability of ``text``: the total and one entry per token.

    log p(text) = sum_t log p(x_t | "\\n", x_1 .. x_{t-1}). Without a line break in the
    vocabulary the first token is context and is not scored.
    """
    lm = load_lm(run_dir)
    ids = context(lm.task.tokenizer, text)
    if len(ids) < 2:
        raise RnnkitError("the text to score holds no token")
    x = torch.tensor([ids])
    logits, _ = lm.model(x[:, :-1])  # (1, T-1, V)
    logp = logits[0].log_softmax(-1).gather(1, x[0, 1:, None])[:, 0]  # (T-1,)
    tokens = [
        {"token": lm.task.tokenizer.token(i), "logprob": float(lp)}
        for i, lp in zip(ids[1:], logp.tolist(), strict=True)
    ]
    total = float(logp.double().sum())
    return {"total_logprob": total, "mean_logprob": total / len(tokens), "tokens": tokens}
