"""Training: the Trainer, checkpoints, metrics and data-parallel launching."""

from rnnkit.train.checkpoint import prepare_run_dir, resolve_checkpoint
from rnnkit.train.distributed import launch, rank_world
from rnnkit.train.trainer import ListBatches, StepOutput, TrainConfig, Trainer, detach_state

__all__ = [
    "ListBatches",
    "StepOutput",
    "TrainConfig",
    "Trainer",
    "detach_state",
    "launch",
    "prepare_run_dir",
    "rank_world",
    "resolve_checkpoint",
]
