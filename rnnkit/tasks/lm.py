"""Language modelling: a next-token model trained with truncated BPTT on one long token stream;
the last ``val`` fraction of the text is held out (``rnnkit train lm``). ``sample`` writes text
from a model and its tokenizer; the functions that take a run folder (``generate``,
``complete``, ``score``, ``train_lm``) are in ``rnnkit.runs.lm``.

Scoring, completion and generation start from a line break (the model reads "\\n" + text when
the vocabulary holds "\\n"), since every line of the corpus follows one.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.config import Settings, check_value, setting
from rnnkit.data.stream import TokenStream, eval_stream, split_tail
from rnnkit.data.text import read_text
from rnnkit.data.tokenizers import UNK, Tokenizer, fit_tokenizer, tokenizer_from_dict
from rnnkit.errors import RnnkitError
from rnnkit.generate.sampling import check_sampling, sample_tokens
from rnnkit.models.language_model import LanguageModel, LanguageModelConfig
from rnnkit.tasks.base import Splits, Task, register_task
from rnnkit.train.steps import StepOutput, evaluate

SAMPLE_LENGTH = 300


@dataclass(kw_only=True)
class LMData(Settings):
    data: str | None = setting(
        None, "UTF-8 text file (default: bundled Shakespeare)", metavar="FILE"
    )
    level: str = setting("char", "token level", choices=("char", "word"))
    vocab_size: int = setting(10000, "word vocabulary cap", lo=2, hi=10**7)
    val: float = setting(0.05, "held-out tail fraction", lo=0, hi=1, lo_open=True)
    seq_len: int = setting(100, "BPTT chunk length", lo=1, hi=100_000)
    batch_size: int = setting(32, "parallel streams (global, over all processes)", lo=1, hi=65536)
    max_val_tokens: int = setting(
        1_000_000, "validation reads at most this many held-out tokens", lo=2, hi=10**10
    )

    def check(self) -> None:
        if self.val >= 1:
            raise RnnkitError(f"val must be below 1, got {self.val}")


def lm_loss(model: nn.Module, batch: tuple, state: Any) -> StepOutput:
    """Mean next-token cross-entropy over a ``(x, y)`` chunk, carrying the recurrent state."""
    x, y = batch
    logits, state = model(x, state)  # (B, T, V)
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
    return StepOutput(loss, y.numel(), state)


@register_task
class LMTask(Task):
    name = "lm"
    help = "train a language model on text"
    description = (
        "Train a next-token language model (default: on the bundled Shakespeare plays). Ends by "
        "printing the held-out figures, a sample, and where the checkpoint and loss plot are."
    )
    Data = LMData
    Model = LanguageModelConfig
    defaults = {"train": {"max_time": 600.0, "lr": 2e-3, "eval_every": 100, "patience": 5}}
    unit = "tokens"

    tokenizer: Tokenizer | None = None

    def prepare(self) -> Splits:
        text = read_text(self.data.data)
        if self.tokenizer is None:
            self.tokenizer = fit_tokenizer(text, self.data.level, self.data.vocab_size)
            self.model.vocab_size = len(self.tokenizer)
        ids = self.tokenizer.encode_ids(text, strict=True)  # (N,), 1-4 bytes a token
        del text
        train, val = split_tail(ids, self.data.val)
        val = val[: self.data.max_val_tokens]
        source = self.data.data or "the bundled Shakespeare corpus"
        info = {"source": source, "split": {"train_tokens": len(train), "val_tokens": len(val)}}
        return Splits(train, val, val, info)

    def artefacts(self) -> dict[str, Any]:
        return {"tokenizer.json": self.tokenizer.to_dict()}

    def restore(self, files: dict[str, Any]) -> None:
        self.tokenizer = tokenizer_from_dict(files.get("tokenizer.json", {}))

    def batch_sources(self, splits: Splits, rank: int, world: int, seed: int):
        d = self.data
        train = TokenStream(splits.train, d.batch_size, d.seq_len, rank, world)
        return train, eval_stream(splits.val, d.batch_size, d.seq_len)

    def build_model(self) -> LanguageModel:
        return LanguageModel(self.model)

    def loss(self, model: nn.Module, batch: tuple, state: Any) -> StepOutput:
        return lm_loss(model, batch, state)

    def score(self, model: nn.Module, ids: Tensor) -> dict[str, Any]:
        """Loss in nats per token, with bits per character (char level) or perplexity."""
        stream = eval_stream(ids, self.data.batch_size, self.data.seq_len, name="evaluation")
        result = evaluate(model, lm_loss, stream)
        loss = result["val_loss"]
        out: dict[str, Any] = {"tokens": int(result["val_count"]), "loss": loss}
        if self.tokenizer.level == "char":
            out["bits_per_char"] = loss / math.log(2)
        else:
            out["perplexity"] = math.exp(loss)
        return out

    def test(self, model: nn.Module, splits: Splits, run_dir: Path) -> dict[str, Any]:
        pieces = sample(model, self.tokenizer, length=SAMPLE_LENGTH, seed=0)
        return {"test": self.score(model, splits.test), "sample": "".join(pieces)}

    @staticmethod
    def format_results(r: dict[str, Any]) -> str:
        t, s = r["test"], r["training"]
        figure = (
            f"{t['bits_per_char']:.3f} bits/char"
            if "bits_per_char" in t
            else f"perplexity {t['perplexity']:.1f}"
        )
        return (
            f"Held-out loss {t['loss']:.4f} nats/token, {figure} (best checkpoint, step "
            f"{s['best_step']}).\n\nSample:\n\n{r['sample']}"
        )

    def read_examples(self, path: str) -> Tensor:
        return self.tokenizer.encode_ids(read_text(path), strict=True)

    def format_scores(self, r: dict[str, Any]) -> str:
        extra = (
            f"{r['bits_per_char']:.4f} bits per character"
            if "bits_per_char" in r
            else f"perplexity {r['perplexity']:.2f}"
        )
        return f"{r['tokens']} tokens, loss {r['loss']:.4f} nats/token, {extra}"

    def predict(self, model: nn.Module, inputs: list[str]) -> list[dict[str, Any]]:
        """Per text: its log-probability and the five most likely next tokens."""
        rows = []
        for text in inputs:
            ids = context(self.tokenizer, text)
            logits, _ = model(torch.tensor([ids]))  # (1, T, V)
            logp = logits[0].log_softmax(-1)  # (T, V)
            total = float(logp[:-1].gather(1, torch.tensor(ids[1:])[:, None]).double().sum())
            rows.append({
                "text": text,
                "logprob": total,
                "next": top_tokens(self.tokenizer, logp[-1].exp(), 5),
            })  # fmt: skip
        return rows

    def format_prediction(self, row: dict[str, Any]) -> str:
        nxt = "  ".join(f"{t['token']!r} {t['prob']:.3f}" for t in row["next"])
        return f"{row['logprob']:.3f}\t{row['text']}\tnext: {nxt}"


# -- the language-model functions --------------------------------------------------------------


def context(tokenizer: Tokenizer, text: str) -> list[int]:
    """Ids of ``text`` preceded by the line-break token when the vocabulary has one."""
    ids = tokenizer.encode(text, strict=True)
    nl = tokenizer.index.get("\n")
    return ([nl] if nl is not None else []) + ids


def top_tokens(tokenizer: Tokenizer, probs: Tensor, k: int, prefix: str = "") -> list[dict]:
    """The ``k`` most likely tokens of ``probs`` (V,) that start with ``prefix``, never <unk>."""
    order = torch.argsort(probs, descending=True).tolist()
    keep = [i for i in order if tokenizer.token(i) != UNK and tokenizer.token(i).startswith(prefix)]
    return [{"token": tokenizer.token(i), "prob": float(probs[i])} for i in keep[:k]]


def sample(
    model: nn.Module,
    tokenizer: Tokenizer,
    prime: str = "",
    length: int = 500,
    temperature: float = 0.8,
    top_k: int | None = None,
    top_p: float | None = None,
    seed: int | None = None,
) -> Iterator[str]:
    """Yield the text of ``length`` sampled tokens, one piece per token, after ``prime``."""
    check_value("length", length, {"lo": 0, "hi": 10**8}, int, False)
    check_sampling(temperature, top_k, top_p)
    check_value("seed", seed, {"lo": 0, "hi": 2**63 - 1}, int, True)
    ids = context(tokenizer, prime) or [0]
    gen = torch.Generator().manual_seed(seed) if seed is not None else None
    prev = ids[-1]
    for tok in sample_tokens(model, ids, length, temperature, top_k, top_p, gen):
        # Decode with the previous token so that word spacing comes out right.
        yield tokenizer.decode([prev, tok])[len(tokenizer.decode([prev])) :]
        prev = tok
