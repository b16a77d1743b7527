"""Training a task's ``TrainedCompanion`` (``rnnkit.tasks.base``): a second model trained exactly
like the run's own (its training settings, the task's loss, batches, metrics and monitor) for a
given number of steps into ``run_dir/<name>``, e.g. speech's per-frame baseline; and its
``Refit``: the run's model trained again on the task's larger training source for the run's
whole schedule, kept in ``run_dir/<name>`` and loaded from there with the run. The driver
(``rnnkit.runs.driver``) calls them before the test and also loads the ``LoadedCompanion`` runs."""

from __future__ import annotations

import functools
import json
import shutil
import time
from pathlib import Path
from typing import Any

import torch

from rnnkit.errors import RnnkitError
from rnnkit.tasks.base import Refit, Splits, Task, TrainedCompanion, TrainedModel
from rnnkit.train import checkpoint as ckpt
from rnnkit.train.trainer import TrainConfig, Trainer


def companion_steps(companion: TrainedCompanion, run_dir: Path) -> int:
    """The companion's own step budget, else the steps of the run's training (summary.json;
    0 when it cannot be read: then no companion is trained)."""
    if companion.steps is not None:
        return companion.steps
    try:
        return int(json.loads((run_dir / "summary.json").read_text())["steps"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0


def train_companion(
    task: Task,
    companion: TrainedCompanion,
    splits: Splits,
    train: dict[str, Any],
    run_dir: Path,
    steps: int,
    device: torch.device,
) -> TrainedModel:
    """Train ``companion`` for ``steps`` steps on ``device`` with the run's training settings
    ``train`` (its stop rules replaced) into ``run_dir/<name>`` (an earlier one there is
    replaced); its best validation checkpoint (else its latest) is loaded."""
    config = TrainConfig.from_dict(
        {**train, "max_steps": steps, "max_time": None, "epochs": None, "progress": False}
    )
    config.monitor, config.mode = task.monitor
    torch.manual_seed(config.seed)  # the same draws as before the companion moved here
    model = companion.build().to(device)
    train_data, val = task.batch_sources(splits, 0, 1, config.seed)
    out = run_dir / companion.name
    if out.exists():  # a companion of an earlier test of this run: trained again
        shutil.rmtree(out)
    out.mkdir()
    metrics = functools.partial(task.metrics, examples=splits.val) if task.metrics else None
    t0 = time.perf_counter()
    trainer = Trainer(model, task.loss, train_data, val, config=config, out_dir=out,
                      metrics_fn=metrics, unit=task.unit)  # fmt: skip
    trainer.fit()
    seconds = time.perf_counter() - t0
    best = ckpt.best_checkpoint(out) or ckpt.latest_checkpoint(out)
    if best is not None:
        model.load_state_dict(ckpt.load_weights(best))
    model.eval()
    return TrainedModel(model, steps, seconds)


REFIT_SUMMARY = "refit.json"


def train_refit(
    task: Task, spec: Refit, train: dict[str, Any], run_dir: Path, device: torch.device
) -> TrainedModel:
    """Train ``spec`` into ``run_dir/<name>`` (made afresh) with the task's loss and the run's
    training settings ``train`` for the run's whole planned schedule (its epochs or max_steps;
    with a time budget alone, the steps the run made: summary.json), without validation, early
    stopping, averaging or a time budget; its last weights are loaded."""
    rules = {k: train.get(k) for k in ("max_steps", "epochs")}
    if not any(rules.values()):
        summary = ckpt.read_json(run_dir / "summary.json", "training summary")
        rules["max_steps"] = int(summary["steps"])
    config = TrainConfig.from_dict(
        {**train, **rules, "max_time": None, "patience": None, "average": 0, "progress": False}
    )
    out = run_dir / spec.name
    if out.exists():  # of an earlier test of this run, or of one killed half-way: again
        shutil.rmtree(out)
    out.mkdir()
    torch.manual_seed(config.seed)
    model = spec.build().to(device)
    t0 = time.perf_counter()
    summary = Trainer(model, task.loss, spec.batches(config.seed), config=config, out_dir=out,
                      unit=task.unit).fit()  # fmt: skip
    seconds = time.perf_counter() - t0
    steps = int(summary["steps"])
    ckpt.atomic_write_json(out / REFIT_SUMMARY, {"steps": steps, "seconds": round(seconds, 1)})
    model.eval()
    return TrainedModel(model, steps, seconds)


def load_refit(spec: Refit, run_dir: Path) -> TrainedModel:
    """The refit a run's test trained (its last checkpoint, verified), built by ``spec``."""
    out = run_dir / spec.name
    last = ckpt.latest_checkpoint(out) if out.is_dir() else None
    if last is None or not (out / REFIT_SUMMARY).is_file():
        raise RnnkitError(
            f"{run_dir} has no refitted model ({spec.name}/): its training did not reach the "
            "test; train it again"
        )
    ckpt.verify_checkpoint(last)
    summary = ckpt.read_json(out / REFIT_SUMMARY, "refit summary")
    model = spec.build()
    ckpt.load_into(model, last)
    model.eval()
    return TrainedModel(model, int(summary["steps"]), float(summary["seconds"]))
