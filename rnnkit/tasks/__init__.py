"""The tasks: each module defines one ``Task`` (``rnnkit.tasks.base``) and registers it.

Adding a task is its own module (and model) plus one line here.
"""

import importlib

TASK_MODULES = [
    "rnnkit.tasks.lm",
    "rnnkit.tasks.classify",
    "rnnkit.tasks.tag",
    "rnnkit.tasks.forecast",
    "rnnkit.tasks.reorder",
    "rnnkit.tasks.text.translate",
    "rnnkit.tasks.text.summarize",
    "rnnkit.tasks.text.chat",
    "rnnkit.tasks.speech",
    "rnnkit.tasks.caption",
    "rnnkit.tasks.music.task",
]


def load_tasks() -> None:
    """Import every task module, which registers its task (idempotent)."""
    for name in TASK_MODULES:
        importlib.import_module(name)
