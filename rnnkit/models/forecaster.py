"""Multi-step forecasts of a real-valued series, with quantiles for a prediction interval.

The series is standardised with the training part's mean and standard deviation
(z = (y - mu) / sd). Each window is also measured in its own spread s = std(z_1..W) + 0.1, so
that a stretch of the series swinging more widely than anything in the training part (the
recent sunspot cycles) still looks familiar. Each input step carries two features, the offset
from the window's last value in units of s and the level z_t; the head predicts, for every
horizon step h and quantile q, the change from the last value in units of s, so that a zero
output is the naive forecast:

    h = RNN([(z_t - z_W) / s, z_t]_{t=1..W})_W      zhat_{W+h, q} = z_W + s (V h + c)_{h, q}

Training minimises the pinball (quantile) loss, whose minimiser is the q-th conditional
quantile; the median (q = 0.5) is the point forecast and (q_lo, q_hi) the interval.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

import torch
from torch import Tensor, nn

from rnnkit.models.recurrent import make_recurrent

SPREAD_FLOOR = 0.1  # keeps a flat window's scale away from zero (in standardised units)


@dataclass
class ForecasterConfig:
    """Everything needed to rebuild a Forecaster, including the training-part scaling."""

    horizon: int
    window: int
    quantiles: list[float] = field(default_factory=lambda: [0.05, 0.5, 0.95])
    hidden_size: int = 64
    num_layers: int = 1
    cell: str = "lstm"
    dropout: float = 0.0
    backend: str = "rnnkit"
    mean: float = 0.0
    std: float = 1.0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> ForecasterConfig:
        return cls(**{f.name: d[f.name] for f in fields(cls) if f.name in d})


def pinball_loss(pred: Tensor, target: Tensor, quantiles: Tensor) -> Tensor:
    """mean over batch, horizon and quantiles of max(q e, (q - 1) e), e = target - pred.

    pred (B, H, Q), target (B, H), quantiles (Q,).
    """
    err = target[..., None] - pred  # (B, H, Q)
    return torch.maximum(quantiles * err, (quantiles - 1) * err).mean()


class Forecaster(nn.Module):
    """Standardised windows (B, W) -> standardised quantile forecasts (B, H, Q)."""

    def __init__(self, config: ForecasterConfig):
        super().__init__()
        c = config
        self.config = c
        self.rnn = make_recurrent(
            c.cell, 2, c.hidden_size, num_layers=c.num_layers, dropout=c.dropout,
            backend=c.backend,
        )  # fmt: skip
        self.head = nn.Linear(c.hidden_size, c.horizon * len(c.quantiles))
        nn.init.zeros_(self.head.weight)  # start at the naive forecast
        nn.init.zeros_(self.head.bias)
        self.register_buffer("q", torch.tensor(c.quantiles, dtype=torch.float32), persistent=False)

    def forward(self, z: Tensor) -> Tensor:
        last = z[:, -1:]  # (B, 1)
        spread = z.std(dim=1, keepdim=True) + SPREAD_FLOOR  # (B, 1)
        feats = torch.stack([(z - last) / spread, z], dim=-1)  # (B, W, 2)
        out, _ = self.rnn(feats)  # (B, W, H)
        delta = self.head(out[:, -1]).view(z.shape[0], self.config.horizon, -1)  # (B, H, Q)
        return last[..., None] + spread[..., None] * delta  # (B, H, Q)

    def scale(self, y: Tensor) -> Tensor:
        return (y - self.config.mean) / self.config.std

    def unscale(self, z: Tensor) -> Tensor:
        return z * self.config.std + self.config.mean
