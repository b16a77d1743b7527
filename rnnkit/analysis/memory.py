"""Train and evaluate a cell on the adding problem or the copy task, alone or as a table.

Usable from Python::

    r = rnnkit.analysis.memory.train_memory_task("adding", "lstm", length=100)
    r["test_mse"], r["solved"]

Training runs on the shared ``Trainer`` with freshly generated batches (the stream never
repeats); validation uses a fixed generated set and the reported figure a separate fixed test
set of ``test_size`` sequences.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.data.synthetic import (
    ADDING_SOLVED_MSE,
    COPY_SOLVED_ACCURACY,
    N_COPY,
    TASKS,
    GeneratedBatches,
)
from rnnkit.errors import RnnkitError
from rnnkit.models.memory import MemoryModel
from rnnkit.models.recurrent import CELLS
from rnnkit.train.checkpoint import prepare_run_dir
from rnnkit.train.steps import StepOutput
from rnnkit.train.trainer import TrainConfig, Trainer

LENGTHS = (50, 100, 200)


def memory_loss(model: nn.Module, batch: tuple[Tensor, Tensor], state: Any) -> StepOutput:
    """Adding: mean squared error. Copy: mean cross-entropy over every step."""
    x, y = batch
    out = model(x)
    if out.dim() == 1:
        return StepOutput(F.mse_loss(out, y), y.numel())
    return StepOutput(F.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1)), y.numel())


@torch.no_grad()
def memory_metrics(model: nn.Module, data: GeneratedBatches) -> dict[str, float]:
    """Adding: {'mse'}; copy: {'accuracy'} over the copied symbols only."""
    model.eval()
    total, count = 0.0, 0
    for i in range(len(data)):
        x, y = data.batch(0, i)
        out = model(x)
        if data.task == "adding":
            total += float(((out - y) ** 2).sum())
            count += y.numel()
        else:
            pred = out[:, -N_COPY:].argmax(-1)  # (B, N_COPY)
            total += float((pred == y[:, -N_COPY:]).sum())
            count += pred.numel()
    return {("mse" if data.task == "adding" else "accuracy"): total / count}


def is_solved(task: str, metrics: dict[str, float]) -> bool:
    if task == "adding":
        return metrics["mse"] < ADDING_SOLVED_MSE
    return metrics["accuracy"] > COPY_SOLVED_ACCURACY


def check_args(task: str, cell: str, length: int, hidden: int, batch_size: int) -> None:
    if task not in TASKS:
        raise RnnkitError(f"unknown task {task!r} (choose adding or copy)")
    if cell not in CELLS:
        raise RnnkitError(f"unknown cell {cell!r} (choose one of {', '.join(CELLS)})")
    if not 2 <= length <= 100_000:
        raise RnnkitError(f"--length must be between 2 and 100000, got {length}")
    if hidden < 1 or batch_size < 1:
        raise RnnkitError("--hidden and --batch-size must be positive")


def train_memory_task(
    task: str,
    cell: str,
    length: int,
    *,
    hidden: int = 64,
    batch_size: int = 64,
    lr: float = 5e-3,
    max_steps: int = 3000,
    max_time: float | None = None,
    clip: float = 1.0,
    forget_bias: float = 1.0,
    test_size: int = 2000,
    eval_every: int = 250,
    seed: int = 0,
    out: str | Path | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Train ``cell`` on ``task`` at ``length`` and evaluate on a fixed test set.

    Returns the test metric (``test_mse`` or ``test_accuracy``), ``solved``, the steps and
    seconds used, and the settings. ``out`` (optional) keeps the Trainer's run directory
    (metrics.jsonl, checkpoints, loss.png).
    """
    check_args(task, cell, length, hidden, batch_size)
    if out is not None:
        out = prepare_run_dir(out, f"memory-{task}", resume=False)
    torch.manual_seed(seed)
    model = MemoryModel(task, cell, hidden, forget_bias)
    train = GeneratedBatches(task, length, batch_size, 1000, seed)
    val = GeneratedBatches(task, length, 500, 2, seed + 1)
    config = TrainConfig(
        lr=lr,
        clip=clip,
        max_steps=max_steps,
        max_time=max_time,
        eval_every=eval_every,
        patience=None,
        progress=progress,
        seed=seed,
    )
    trainer = Trainer(model, memory_loss, train, val, config=config, out_dir=out, unit="seqs")
    t0 = time.perf_counter()
    summary = trainer.fit()
    wall = time.perf_counter() - t0
    test = GeneratedBatches(task, length, 500, max(1, test_size // 500), seed + 2)
    metrics = memory_metrics(model, test)
    name, value = next(iter(metrics.items()))
    return {
        "task": task,
        "cell": cell,
        "length": length,
        f"test_{name}": value,
        "solved": is_solved(task, metrics),
        "steps": summary["steps"],
        "train_s": summary["elapsed_s"],
        "wall_s": round(wall, 1),
        "hidden": hidden,
        "batch_size": batch_size,
        "lr": lr,
        "clip": clip,
        "seed": seed,
    }


def memory_table(
    tasks: list[str],
    cells: list[str],
    lengths: list[int],
    out: str | Path,
    **train_args: Any,
) -> list[dict[str, Any]]:
    """Run every (task, cell, length); write ``table.md``, ``table.json`` and ``table.png``
    under ``out`` (each rewritten after every run, so a long table can be watched)."""
    from rnnkit.analysis.plots import plot_memory_table

    for task in tasks:
        for cell in cells:
            check_args(task, cell, min(lengths), 1, 1)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    for task in tasks:
        for cell in cells:
            for length in lengths:
                rows.append(train_memory_task(task, cell, length, progress=False, **train_args))
                write_table(rows, out)
                plot_memory_table(rows, out / "table.png")
    return rows


def markdown_table(rows: list[dict[str, Any]]) -> str:
    """One line per run: task, cell, length, test metric, solved, steps, seconds."""
    lines = [
        "| task | cell | T | test metric | solved | steps | train s |",
        "|---|---|---:|---:|:---:|---:|---:|",
    ]
    for r in rows:
        metric = f"MSE {r['test_mse']:.2g}" if "test_mse" in r else f"acc {r['test_accuracy']:.3f}"
        lines.append(
            f"| {r['task']} | {r['cell']} | {r['length']} | {metric} | "
            f"{'yes' if r['solved'] else 'no'} | {r['steps']} | {r['train_s']:.0f} |"
        )
    return "\n".join(lines) + "\n"


def write_table(rows: list[dict[str, Any]], out: Path) -> None:
    """Write table.md and table.json under ``out`` atomically."""
    import json

    from rnnkit.files import atomic_write_bytes

    atomic_write_bytes(out / "table.md", markdown_table(rows).encode())
    atomic_write_bytes(out / "table.json", json.dumps(rows, indent=1).encode())
