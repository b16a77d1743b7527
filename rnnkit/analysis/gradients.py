"""``rnnkit gradients``: gradient flow through time on real text, for a run or fresh cells.

Usable from Python::

    result = rnnkit.analysis.gradients.measure_gradients(cells=["rnn", "lstm"], length=100)
    result = rnnkit.analysis.gradients.measure_gradients("runs/lm")        # a trained model

Batches are windows of real text: for a run, its own held-out tail (the validation text it
was trained beside) through its tokenizer; for fresh models, the bundled Shakespeare corpus
through a character tokenizer and one-hot input. ``clipping_demo`` trains an Elman model whose
recurrent weights are scaled up, once with and once without clipping, on the shared Trainer.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from rnnkit.analysis.grad_norms import GradNormRecorder
from rnnkit.analysis.gradient_flow import gradient_flow
from rnnkit.analysis.plots import plot_clipping, plot_gradient_flow
from rnnkit.analysis.probe import CELLS, fresh_model, probe_of
from rnnkit.analysis.spectral import spectral_radius
from rnnkit.data.stream import split_tail
from rnnkit.data.text import read_text
from rnnkit.data.tokenizers import fit_tokenizer
from rnnkit.errors import RnnkitError
from rnnkit.files import atomic_write_bytes
from rnnkit.runs.lm import load_lm
from rnnkit.tasks.lm import lm_loss
from rnnkit.train.steps import ListBatches
from rnnkit.train.trainer import TrainConfig, Trainer


def text_windows(ids: torch.Tensor, length: int, batch: int, seed: int) -> torch.Tensor:
    """``batch`` random windows of ``length + 1`` tokens from ``ids``: (length + 1, batch)."""
    if len(ids) < length + 2:
        raise RnnkitError(f"the text holds {len(ids)} tokens, too few for --length {length}")
    g = torch.Generator().manual_seed(seed)
    starts = torch.randint(0, len(ids) - length - 1, (batch,), generator=g)  # (B,)
    return torch.stack([ids[s : s + length + 1] for s in starts.tolist()], 1)  # (T+1, B)


def _check(length: int, batch_size: int, samples: int) -> None:
    if not 1 <= length <= 100_000:
        raise RnnkitError(f"--length must be between 1 and 100000, got {length}")
    if batch_size < 1 or samples < 1:
        raise RnnkitError("--batch-size and --samples must be positive")


def measure_gradients(
    run_dir: str | Path | None = None,
    *,
    cells: list[str] | None = None,
    length: int = 100,
    batch_size: int = 32,
    hidden: int = 128,
    layers: int = 1,
    forget_bias: float = 1.0,
    samples: int = 4,
    seed: int = 0,
    out: str | Path | None = None,
) -> dict[str, dict[str, Any]]:
    """Gradient flow (``rnnkit.analysis.gradient_flow``) for a trained run or fresh cells.

    Returns {name: result}; with ``out``, writes ``gradients.json`` and ``gradients.png``.
    Fresh models: ``hidden`` units in ``layers`` layers, LSTM forget-gate bias ``forget_bias``.
    """
    _check(length, batch_size, samples)
    results: dict[str, dict[str, Any]] = {}
    if run_dir is not None:
        lm = load_lm(run_dir)
        d = lm.task.data
        ids = torch.tensor(lm.task.tokenizer.encode(read_text(d.data), strict=False))
        _, tail = split_tail(ids, d.val)
        batch = text_windows(tail, length, batch_size, seed)
        name = f"{Path(run_dir).name} ({lm.model.config.cell}, trained)"
        results[name] = gradient_flow(probe_of(lm.model), batch, samples)
        results[name]["source"] = "held-out tail of the run's training text"
    else:
        cells = cells or list(CELLS)
        for cell in cells:
            if cell not in CELLS:
                raise RnnkitError(f"unknown cell {cell!r} (choose from {', '.join(CELLS)})")
        text = read_text(None)
        tok = fit_tokenizer(text, "char")
        batch = text_windows(torch.tensor(tok.encode(text)), length, batch_size, seed)
        for cell in cells:
            model = fresh_model(cell, len(tok), hidden, layers, forget_bias, seed)
            name = (
                f"{cell} (fresh, forget bias {forget_bias:g})"
                if cell == "lstm"
                else f"{cell} (fresh)"
            )
            results[name] = gradient_flow(probe_of(model), batch, samples)
            results[name]["source"] = "bundled Shakespeare corpus, one-hot characters"
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(out / "gradients.json", json.dumps(results, indent=1).encode())
        plot_gradient_flow(results, out / "gradients.png")
    return results


def clipping_demo(
    *,
    radius: float = 2.0,
    steps: int = 150,
    length: int = 100,
    batch_size: int = 32,
    hidden: int = 128,
    lr: float = 0.5,
    clip: float = 1.0,
    seed: int = 0,
    out: str | Path | None = None,
) -> dict[str, dict[str, list[float]]]:
    """Train a fresh tanh Elman language model whose recurrent weights are scaled to spectral
    radius ``radius``, with SGD, once clipped at ``clip`` and once unclipped, from the same
    initialisation and batches. Returns {'grad_norm': {run: total gradient norm per step,
    before clipping}, 'loss': {run: loss per step}}; a run whose loss stops being finite ends
    there.
    """
    text = read_text(None)
    tok = fit_tokenizer(text, "char")
    ids = torch.tensor(tok.encode(text))
    batches = []
    for i in range(steps):
        w = text_windows(ids, length, batch_size, seed + i).t()  # (B, T+1)
        batches.append((w[:, :-1], w[:, 1:]))
    curves, losses = {}, {}
    for name, threshold in ((f"clipped at {clip:g}", clip), ("no clipping", 0.0)):
        model = fresh_model("rnn", len(tok), hidden, 1, seed=seed)
        with torch.no_grad():
            w_hh = model.rnn.weight_hh_l0
            w_hh.mul_(radius / spectral_radius(w_hh))
        recorder = GradNormRecorder(model)
        config = TrainConfig(
            optimizer="sgd",
            momentum=0.0,
            lr=lr,
            clip=threshold,
            schedule="constant",
            max_steps=steps,
            patience=None,
            progress=False,
            seed=seed,
        )
        trainer = Trainer(
            model.train(), recorder.wrap(lm_loss), ListBatches(batches, False), config=config
        )
        try:
            trainer.fit()
        except RnnkitError:  # the loss became inf or nan: the curve ends there
            pass
        recorder.close()
        curves[name], losses[name] = recorder.norms, recorder.losses
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        title = (
            f"tanh Elman LM, W_hh scaled to spectral radius {radius:g}, SGD lr {lr:g}, T={length}"
        )
        plot_clipping(curves, losses, out / "clipping.png", title)
        record = {"grad_norm": curves, "loss": losses}
        atomic_write_bytes(out / "clipping.json", json.dumps(record).encode())
    return {"grad_norm": curves, "loss": losses}
