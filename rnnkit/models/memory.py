"""The model of the long-memory benchmarks (``rnnkit.data.synthetic``): one recurrent layer
and a linear head."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.data.synthetic import input_size, output_size
from rnnkit.models.recurrent import TaskModel, make_recurrent, set_forget_bias


class MemoryModel(TaskModel):
    """One recurrent layer and a linear head: the last step's output (adding) or every
    step's logits (copy)."""

    def __init__(self, task: str, cell: str, hidden: int, forget_bias: float = 1.0):
        super().__init__()
        self.task = task
        self.rnn = make_recurrent(cell, input_size(task), hidden, 1, batch_first=True)
        self.head = nn.Linear(hidden, output_size(task))
        if cell == "lstm":
            set_forget_bias(self.rnn, forget_bias)

    def forward(self, x: Tensor) -> Tensor:
        """adding: x (B, T, 2) -> predictions (B,); copy: ids (B, T) -> logits (B, T, C)."""
        if self.task == "copy":
            x = F.one_hot(x, output_size("copy")).float()  # (B, T, C)
        y, _ = self.rnn(x)  # (B, T, H)
        if self.task == "adding":
            return self.head(y[:, -1]).squeeze(-1)  # (B,)
        return self.head(y)  # (B, T, C)
