"""Training a task's ``Pretraining`` (``rnnkit.tasks.base``) before the run's own model: the
task's second objective (classify's encoder read as a language model) for its steps, with the
run's training settings otherwise, into ``run_dir/<name>``. The driver
(``rnnkit.runs.driver``) calls ``pretrain`` once, in the process that owns the run folder, and
each training process then starts its model from the checkpoint it names."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import torch

from rnnkit.errors import RnnkitError
from rnnkit.tasks.base import Pretraining
from rnnkit.train import checkpoint as ckpt
from rnnkit.train.trainer import TrainConfig, Trainer

SUMMARY = "pretraining.json"


def pretrain(
    spec: Pretraining, train: dict[str, Any], run_dir: Path, device: torch.device
) -> dict[str, Any]:
    """Train ``spec`` for ``spec.steps`` steps on ``device`` with the run's training settings
    ``train`` (stop rules, averaging and monitor replaced) into ``run_dir/<spec.name>``, which
    is made afresh. Returns {checkpoint, steps, seconds, best_step, best_value} for
    results.json; ``checkpoint`` is the best validation checkpoint (else the latest)."""
    config = TrainConfig.from_dict(
        {**train, "max_steps": spec.steps, "max_time": None, "epochs": None, "average": 0,
         "patience": None, "progress": False}
    )  # fmt: skip
    config.monitor, config.mode = spec.monitor
    out = run_dir / spec.name
    if out.exists():  # an earlier attempt killed before the run's first checkpoint
        shutil.rmtree(out)
    out.mkdir()
    torch.manual_seed(config.seed)
    model = spec.build().to(device)
    train_data, val = spec.batches(config.seed)
    t0 = time.perf_counter()
    summary = Trainer(model, spec.loss, train_data, val, config=config, out_dir=out,
                      unit=spec.unit).fit()  # fmt: skip
    seconds = time.perf_counter() - t0
    best = ckpt.best_checkpoint(out) or ckpt.latest_checkpoint(out)
    if best is None:
        raise RnnkitError(f"pretraining wrote no checkpoint in {out}")
    result = {
        "checkpoint": str(best),
        "steps": int(summary.get("steps", spec.steps)),
        "seconds": round(seconds, 1),
        **{k: summary[k] for k in ("best_step", "best_value") if k in summary},
    }
    ckpt.atomic_write_json(out / SUMMARY, result)  # a resumed run reports it again
    return result


def pretrained_summary(run_dir: Path, name: str) -> dict[str, Any] | None:
    """What ``pretrain`` returned for this run, read back (None: no pretraining there)."""
    path = run_dir / name / SUMMARY
    return ckpt.read_json(path, "pretraining summary") if path.is_file() else None
