"""Language modelling: train on text, then generate, complete, score and evaluate.

Every function here is what a ``rnnkit`` sub-command calls, and is usable from Python::

    summary = rnnkit.train_lm(out="runs/lm", max_time=120)      # bundled Shakespeare
    for piece in rnnkit.generate("runs/lm", prime="ROMEO:", length=200):
        print(piece, end="")
    rnnkit.complete("runs/lm", "To be, or not to ", k=5)
    rnnkit.score("runs/lm", "To be, or not to be")
    rnnkit.evaluate_lm("runs/lm")

Scoring, completion and generation start from a line break (the model reads "\\n" + text when
the vocabulary holds "\\n"), since every line of the corpus follows one.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from rnnkit.data.stream import TokenStream, eval_stream, split_tail
from rnnkit.data.text import read_text
from rnnkit.data.tokenizers import UNK, Tokenizer, fit_tokenizer, tokenizer_from_dict
from rnnkit.errors import RnnkitError
from rnnkit.models.language_model import LanguageModel, LanguageModelConfig
from rnnkit.train import checkpoint as ckpt
from rnnkit.train.distributed import launch, rank_world, under_torchrun
from rnnkit.train.trainer import StepOutput, TrainConfig, Trainer, evaluate

TASK = "lm"
DEFAULT_MAX_TIME = 600.0
MAX_PARAMS = 500_000_000


def lm_loss(model: torch.nn.Module, batch: tuple, state: Any) -> StepOutput:
    """Mean next-token cross-entropy over a ``(x, y)`` chunk, carrying the recurrent state."""
    x, y = batch
    logits, state = model(x, state)  # (B, T, V)
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
    return StepOutput(loss, y.numel(), state)


def _check_range(name: str, value: float | None, lo: float, hi: float) -> None:
    if value is not None and not (lo <= value <= hi and math.isfinite(value)):
        raise RnnkitError(f"--{name} must be between {lo:g} and {hi:g}, got {value:g}")


def _device() -> torch.device:
    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return torch.device("cpu")


def _param_count(c: LanguageModelConfig) -> int:
    gates = {"lstm": 4, "gru": 3, "rnn": 1, "jordan": 1}[c.cell]
    inp = c.vocab_size if c.one_hot else c.embed
    per_layer = gates * c.hidden * (inp + c.hidden)
    return per_layer * c.layers + c.hidden * c.vocab_size + c.vocab_size * c.embed


def train_lm(
    data: str | Path | None = None,
    *,
    out: str | Path = "runs/lm",
    level: str = "char",
    cell: str = "lstm",
    hidden: int = 256,
    layers: int = 2,
    embed: int = 64,
    one_hot: bool = False,
    dropout: float = 0.0,
    seq_len: int = 100,
    batch_size: int = 32,
    lr: float = 2e-3,
    clip: float = 1.0,
    optimizer: str = "adam",
    max_steps: int | None = None,
    max_time: float | None = None,
    epochs: int | None = None,
    eval_every: int = 100,
    patience: int | None = 5,
    vocab_size: int = 10000,
    val_fraction: float = 0.05,
    backend: str = "rnnkit",
    resume: bool = False,
    seed: int = 0,
    nproc: int = 1,
    progress: bool = True,
) -> dict[str, Any]:
    """Train a next-token language model on ``data`` (default: the bundled Shakespeare plays).

    The last ``val_fraction`` of the text is held out for validation. Without ``max_steps``,
    ``max_time`` or ``epochs`` the run stops after ``DEFAULT_MAX_TIME`` seconds. With
    ``resume`` the model, data and optimisation settings come from ``out`` and only the
    stopping rules and ``nproc`` may change. Returns the Trainer's summary (steps, val_loss,
    paths...; an empty dict on the ranks other than 0 under torchrun). Writes a run directory
    (see ``rnnkit.train.checkpoint``).
    """
    for name, value, lo, hi in [
        ("seq-len", seq_len, 1, 100_000),
        ("batch-size", batch_size, 1, 65_536),
        ("max-steps", max_steps, 1, 10**9),
        ("max-time", max_time, 1e-3, 10**8),
        ("epochs", epochs, 1, 10**6),
        ("nproc", nproc, 1, 256),
        ("vocab-size", vocab_size, 2, 10**7),
        ("eval-every", eval_every, 1, 10**9),
        ("seed", seed, 0, 2**63 - 1),
    ]:
        _check_range(name, value, lo, hi)
    out = Path(out)
    if resume:
        ckpt.prepare_run_dir(out, TASK, resume=True)  # only checks: there is a run to resume
        saved = _read_config(out)
        stops = dict(max_steps=max_steps, max_time=max_time, epochs=epochs)
        train_cfg = TrainConfig(**saved["train"])
        if any(v is not None for v in stops.values()):
            train_cfg.max_steps, train_cfg.max_time, train_cfg.epochs = (
                max_steps,
                max_time,
                epochs,
            )
        model_cfg = LanguageModelConfig.from_dict(saved["model"])
        tok = tokenizer_from_dict(ckpt.read_json(out / "tokenizer.json", "tokenizer file"))
        data_cfg = saved["data"]
        text = read_text(data_cfg["path"])
    else:
        if max_steps is None and max_time is None and epochs is None:
            max_time = DEFAULT_MAX_TIME
        text = read_text(data)
        tok = fit_tokenizer(text, level, vocab_size)
        model_cfg = LanguageModelConfig(
            vocab_size=len(tok),
            cell=cell,
            hidden=hidden,
            layers=layers,
            embed=embed,
            one_hot=one_hot,
            dropout=dropout,
            backend=backend,
        )
        train_cfg = TrainConfig(
            optimizer=optimizer,
            lr=lr,
            clip=clip,
            max_steps=max_steps,
            max_time=max_time,
            epochs=epochs,
            eval_every=eval_every,
            patience=patience,
            seed=seed,
        )
        data_cfg = {
            "path": str(Path(data).resolve()) if data is not None else None,
            "level": level,
            "vocab_size": vocab_size,
            "val_fraction": val_fraction,
            "seq_len": seq_len,
            "batch_size": batch_size,
        }
    train_cfg.progress = progress
    train_cfg.validate()
    # Everything the user could get wrong is checked here, before a file is written.
    model_cfg.validate()
    if _param_count(model_cfg) > MAX_PARAMS:
        raise RnnkitError(
            f"the model would have about {_param_count(model_cfg):,} parameters "
            f"(limit {MAX_PARAMS:,}): lower --hidden, --layers or --embed"
        )
    ids = torch.tensor(tok.encode(text, strict=True), dtype=torch.long)
    train_ids, val_ids = split_tail(ids, data_cfg["val_fraction"])
    world = int(os.environ["WORLD_SIZE"]) if under_torchrun() else nproc
    TokenStream(train_ids, data_cfg["batch_size"], data_cfg["seq_len"], 0, world)
    eval_stream(val_ids, data_cfg["batch_size"], data_cfg["seq_len"])
    args = (model_cfg.to_dict(), asdict(train_cfg), data_cfg, train_ids, val_ids, str(out), resume)
    if under_torchrun() and int(os.environ["RANK"]) != 0:
        launch(_train_worker, nproc, *args)  # rank 0 owns the run directory and reports
        return {}
    run_dir = ckpt.prepare_run_dir(out, TASK, resume)
    if not resume:
        ckpt.atomic_write_json(run_dir / "tokenizer.json", tok.to_dict())
        config = {"task": TASK, "model": model_cfg.to_dict(), "data": data_cfg}
        ckpt.atomic_write_json(run_dir / "config.json", {**config, "train": asdict(train_cfg)})
    summary_path = run_dir / "summary.json"
    summary_path.unlink(missing_ok=True)
    launch(_train_worker, nproc, *args)
    return json.loads(summary_path.read_text(encoding="utf-8"))


def _train_worker(model_cfg, train_cfg, data_cfg, train_ids, val_ids, run_dir, resume) -> None:
    """One training process (rank): build the model and its share of the stream, then fit."""
    rank, world = rank_world()
    device = _device()
    torch.manual_seed(train_cfg["seed"])
    model = LanguageModel(LanguageModelConfig.from_dict(model_cfg)).to(device)
    bs, T = data_cfg["batch_size"], data_cfg["seq_len"]
    train = TokenStream(train_ids.to(device), bs, T, rank, world)
    val = eval_stream(val_ids.to(device), bs, T)
    trainer = Trainer(
        model,
        lm_loss,
        train,
        val,
        config=TrainConfig(**train_cfg),
        out_dir=run_dir,
        resume=resume,
        unit="tokens",
    )
    summary = trainer.fit()
    if rank == 0:
        ckpt.atomic_write_json(Path(run_dir) / "summary.json", summary)


# -- using a trained model ---------------------------------------------------------------------


@dataclass
class LoadedLM:
    """A trained model with its tokenizer and the configuration it was trained with."""

    model: LanguageModel
    tokenizer: Tokenizer
    config: dict
    run_dir: Path


def _read_config(run_dir: Path) -> dict:
    config = ckpt.read_json(run_dir / "config.json", "run config")
    if not isinstance(config, dict) or config.get("task") != TASK:
        raise RnnkitError(f"{run_dir} does not hold a language model run")
    for key in ("model", "data", "train"):
        if not isinstance(config.get(key), dict):
            raise RnnkitError(f"run config is malformed (no {key!r} section): {run_dir}")
    return config


def load_lm(run_dir: str | Path | LoadedLM, which: str = "best") -> LoadedLM:
    """Load the ``best`` (or ``latest``) checkpoint of a run, verified against its manifest."""
    if isinstance(run_dir, LoadedLM):
        return run_dir
    run_dir = Path(run_dir)
    path = ckpt.resolve_checkpoint(run_dir, which)  # checks existence and checksums first
    config = _read_config(run_dir)
    tok = tokenizer_from_dict(ckpt.read_json(run_dir / "tokenizer.json", "tokenizer file"))
    model = LanguageModel(LanguageModelConfig.from_dict(config["model"]))
    try:
        model.load_state_dict(ckpt.load_weights(path))
    except RuntimeError as exc:
        raise RnnkitError(f"weights in {path} do not fit the model config: {exc}") from None
    model.eval()
    return LoadedLM(model, tok, config, run_dir)


def _context(lm: LoadedLM, text: str) -> list[int]:
    """Ids of ``text`` preceded by the line-break token when the vocabulary has one."""
    ids = lm.tokenizer.encode(text, strict=True)
    nl = lm.tokenizer.index.get("\n")
    return ([nl] if nl is not None else []) + ids


def _check_sampling(temperature: float, top_k: int | None, top_p: float | None) -> None:
    _check_range("temperature", temperature, 0, 100)
    _check_range("top-k", top_k, 1, 10**7)
    if top_p is not None and not (0 < top_p <= 1):
        raise RnnkitError(f"--top-p must be in (0, 1], got {top_p}")


def sample_next(
    logits: torch.Tensor,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
) -> int:
    """Draw one token id from ``logits`` (V,): temperature, then top-k, then nucleus (top-p).

    Temperature 0 is greedy decoding. Nucleus keeps the smallest set of most likely tokens
    whose probabilities sum to at least ``top_p``.
    """
    if temperature == 0:
        return int(logits.argmax())
    logits = logits / temperature
    if top_k is not None and top_k < logits.numel():
        kth = torch.topk(logits, top_k).values[-1]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and top_p < 1:
        sorted_logits, order = torch.sort(logits, descending=True)
        cum = sorted_logits.softmax(-1).cumsum(-1)
        drop = cum - sorted_logits.softmax(-1) >= top_p  # mass before this token already enough
        drop = torch.empty_like(drop).scatter_(0, order, drop)  # back to vocabulary order
        logits = logits.masked_fill(drop, float("-inf"))
    return int(torch.multinomial(logits.softmax(-1), 1, generator=generator))


@torch.no_grad()
def generate(
    run_dir: str | Path | LoadedLM,
    prime: str = "",
    length: int = 500,
    temperature: float = 0.8,
    top_k: int | None = None,
    top_p: float | None = None,
    seed: int | None = None,
) -> Iterator[str]:
    """Yield the text of ``length`` sampled tokens, one piece per token, after ``prime``."""
    _check_range("length", length, 0, 10**8)
    _check_sampling(temperature, top_k, top_p)
    _check_range("seed", seed, 0, 2**63 - 1)
    lm = load_lm(run_dir)
    ids = _context(lm, prime)
    if not ids:
        ids = [0]
    gen = torch.Generator().manual_seed(seed) if seed is not None else None
    logits, state = lm.model(torch.tensor([ids]))  # (1, T, V)
    last = logits[0, -1]
    prev = ids[-1]
    for _ in range(length):
        tok = sample_next(last, temperature, top_k, top_p, gen)
        # Decode with the previous token so that word spacing comes out right.
        yield lm.tokenizer.decode([prev, tok])[len(lm.tokenizer.decode([prev])) :]
        prev = tok
        logits, state = lm.model(torch.tensor([[tok]]), state)  # (1, 1, V)
        last = logits[0, -1]


@torch.no_grad()
def complete(run_dir: str | Path | LoadedLM, prefix: str, k: int = 5) -> list[dict]:
    """The ``k`` most likely next tokens after ``prefix`` with their probabilities.

    At word level, a prefix that ends inside a word (no trailing space) is completed: the
    candidates are the vocabulary words that begin with that partial word. ``<unk>`` is never
    suggested.
    """
    _check_range("k", k, 1, 10**7)
    lm = load_lm(run_dir)
    tok = lm.tokenizer
    partial = ""
    if tok.level == "word" and prefix and not prefix[-1].isspace():
        words = tok.tokenize(prefix)
        if words and words[-1][-1].isalnum():
            partial = words[-1]
            prefix = prefix[: prefix.rfind(partial)]
    ids = _context(lm, prefix)
    if not ids:
        raise RnnkitError("--prefix must hold at least one token")
    logits, _ = lm.model(torch.tensor([ids]))  # (1, T, V)
    probs = logits[0, -1].softmax(-1)  # (V,)
    order = [i for i in torch.argsort(probs, descending=True).tolist() if tok.token(i) != UNK]
    if partial:
        order = [i for i in order if tok.token(i).startswith(partial)]
    return [{"token": tok.token(i), "prob": float(probs[i])} for i in order[:k]]


@torch.no_grad()
def score(run_dir: str | Path | LoadedLM, text: str) -> dict[str, Any]:
    """Natural-log probability of ``text``: the total and one entry per token.

    log p(text) = sum_t log p(x_t | "\\n", x_1 .. x_{t-1}). Without a line break in the
    vocabulary the first token is context and is not scored.
    """
    lm = load_lm(run_dir)
    ids = _context(lm, text)
    if len(ids) < 2:
        raise RnnkitError("the text to score holds no token")
    x = torch.tensor([ids])
    logits, _ = lm.model(x[:, :-1])  # (1, T-1, V)
    logp = logits[0].log_softmax(-1).gather(1, x[0, 1:, None])[:, 0]  # (T-1,)
    tokens = [
        {"token": lm.tokenizer.token(i), "logprob": float(lp)}
        for i, lp in zip(ids[1:], logp.tolist(), strict=True)
    ]
    total = float(logp.double().sum())
    return {"total_logprob": total, "mean_logprob": total / len(tokens), "tokens": tokens}


def evaluate_lm(
    run_dir: str | Path | LoadedLM, data: str | Path | None = None, batch_size: int = 32
) -> dict[str, Any]:
    """Loss (nats per token) on ``data`` or, by default, the run's held-out validation tail;
    with bits per character (char level) or perplexity (word level)."""
    lm = load_lm(run_dir)
    d = lm.config["data"]
    if data is None:
        ids = torch.tensor(lm.tokenizer.encode(read_text(d["path"]), strict=True))
        ids = split_tail(ids, d["val_fraction"])[1]
        source = "held-out tail of " + (d["path"] or "the bundled Shakespeare corpus")
    else:
        ids = torch.tensor(lm.tokenizer.encode(read_text(data), strict=True))
        source = str(data)
    stream = eval_stream(ids, batch_size, d["seq_len"], name="evaluation")
    result = evaluate(lm.model, lm_loss, stream)
    loss = result["val_loss"]
    out: dict[str, Any] = {"data": source, "tokens": int(result["val_count"]), "loss": loss}
    if lm.tokenizer.level == "char":
        out["bits_per_char"] = loss / math.log(2)
    else:
        out["perplexity"] = math.exp(loss)
    return out
