"""The exponential-smoothing recurrent hybrid that won the M4 competition (Smyl 2020), for a
panel of N series of one frequency with season length m and horizon H.

Each series i has its own Holt-Winters smoothing coefficients (level alpha_i, season gamma_i,
both sigmoids of free parameters) and its own m initial seasonal indices (exponentials of free
parameters); multiplicatively, from the series' first value on:

    l_t = alpha y_t / s_t + (1 - alpha) l_{t-1}          s_{t+m} = gamma y_t / l_t + (1 - gamma) s_t

A global recurrent network (rnnkit's own, ``make_recurrent``), shared by the N series, reads at
every time t the last W values deseasonalised and divided by the current level, in logs,
x_t = log(y_{t-W+1..t} / (s_{t-W+1..t} l_t)) (W,), and predicts for each step k = 1..H and
quantile q the log ratio of y_{t+k} to l_t s_{t+1+((k-1) mod m)}: only seasonal indices
already known at t. Zero output is the smoothing's own (seasonally adjusted naive) forecast, so
training starts at Naive2. The smoothing parameters and the network are learned together by
gradient descent on the pinball loss over every t of every series.

``members`` independent copies (each its own smoothing parameters, network and initialisation)
are trained side by side and their forecasts averaged: Smyl's ensemble over seeds.
Values must be positive (the task shifts a series that is not).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from rnnkit.models import holt_winters
from rnnkit.models.forecaster import ForecasterConfig
from rnnkit.models.recurrent import TaskModel, make_recurrent


class ESRNN(TaskModel):
    """Padded panels y (N, T) with validity masks (N, T) -> log-space quantile forecasts."""

    def __init__(self, config: ForecasterConfig):
        super().__init__()
        c = self.config = config.validate()
        k, n, m = c.members, c.series, max(c.period, 1)
        self.alpha = nn.Parameter(torch.full((k, n), -1.0))  # sigmoid: 0.27, a smooth level
        self.gamma = nn.Parameter(torch.full((k, n), -2.0))  # 0.12
        self.init_season = nn.Parameter(torch.zeros(k, n, m))  # log indices
        q = len(c.quantiles)
        self.nets = nn.ModuleList(
            make_recurrent(
                c.cell,
                c.window,
                c.hidden_size,
                num_layers=c.num_layers,
                dropout=c.dropout,
                backend=c.backend,
            )
            for _ in range(k)
        )
        self.heads = nn.ModuleList(nn.Linear(c.hidden_size, c.horizon * q) for _ in range(k))
        for head in self.heads:  # start at the smoothing's own forecast
            nn.init.zeros_(head.weight)
            nn.init.zeros_(head.bias)
        self.register_buffer("q", torch.tensor(c.quantiles), persistent=False)

    def smooth(
        self, y: Tensor, start: Tensor, index: Tensor, first: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """Levels (K, N, T) and seasonal indices (K, N, T + m) of the series ``index`` (N,),
        y (N, T) right-aligned from ``start`` (N,) on (values before it are ignored), its value
        at ``start`` the series' value number ``first`` (N,; 0 by default): the initial index
        j is the season of the values j, j + m, ... of the whole series, wherever it is cut."""
        m = max(self.config.period, 1)
        alpha = torch.sigmoid(self.alpha[:, index])  # (K, N)
        gamma = torch.sigmoid(self.gamma[:, index])  # (K, N)
        t_all = torch.arange(y.shape[1], device=y.device)
        valid = t_all[None] >= start[:, None]  # (N, T)
        # ring position p holds the index of the times t = p mod m: a series starting at
        # ``start`` takes its initial index number ``first`` mod m there
        first = torch.zeros_like(start) if first is None else first
        pos = (torch.arange(m, device=y.device)[None] - start[:, None] + first[:, None]) % m
        init = torch.exp(self.init_season[:, index])  # (K, N, m)
        init = init / init.mean(-1, keepdim=True)  # indices average 1
        initial = torch.gather(init, 2, pos.expand_as(init))  # (K, N, m) of times 0..m-1
        return holt_winters.smooth(y, valid, t_all[None] == start[:, None], alpha, gamma, initial)

    def forward(
        self, y: Tensor, start: Tensor, index: Tensor, first: Tensor | None = None
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Forecasts from every time t = W-1..T-1 of y (N, T) (``smooth`` says what ``start``,
        ``index`` and ``first`` are):

        returns (out (K, N, T-W+1, H, Q) log ratios, levels (K, N, T-W+1) l_t, future seasonal
        indices (K, N, T-W+1, H) s_{t+1+((k-1) mod m)}); the forecast of y_{t+k} at quantile
        q is exp(out) * level * season.
        """
        c, w = self.config, self.config.window
        m = max(c.period, 1)
        levels, seasons = self.smooth(y, start, index, first)  # (K, N, T), (K, N, T + m)
        level = levels[..., w - 1 :]  # (K, N, T')
        past = seasons[..., : y.shape[1]].unfold(-1, w, 1)  # (K, N, T', W)
        x = torch.log(y.unfold(-1, w, 1)[None] / (past * level[..., None]))  # (K, N, T', W)
        x = torch.where(
            (torch.arange(y.shape[1] - w + 1, device=y.device) >= start[:, None])[None, :, :, None],
            x,
            torch.zeros_like(x),
        )
        steps = w + torch.arange(c.horizon, device=y.device) % m  # (H,) t + 1 + (k-1) mod m
        future = seasons.unfold(-1, seasons.shape[-1] - w - m + 1, 1)  # (K, N, w+m, T')
        future = future[:, :, steps].transpose(-1, -2)  # (K, N, T', H)
        outs = []
        for i, (net, head) in enumerate(zip(self.nets, self.heads, strict=True)):
            h, _ = net(x[i])  # (N, T', hidden)
            outs.append(head(h).view(*h.shape[:2], c.horizon, -1))  # (N, T', H, Q)
        return torch.stack(outs), level, future
