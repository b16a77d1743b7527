"""Training: the Trainer (``trainer``), what tasks hand it (``steps``), checkpoints, metrics and
data-parallel launching. Nothing is imported here, so that a task importing ``steps`` does not
load the Trainer."""
