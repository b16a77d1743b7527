"""Task functions: what each ``rnnkit`` sub-command does, callable from Python."""

from rnnkit.tasks.lm import complete, evaluate_lm, generate, load_lm, score, train_lm

__all__ = ["complete", "evaluate_lm", "generate", "load_lm", "score", "train_lm"]
