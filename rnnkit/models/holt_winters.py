"""Multiplicative Holt-Winters smoothing (level and season, no trend) over a padded panel, with
its backward pass through time derived by hand: the recursion the ES-RNN (``esrnn.py``) learns
its per-series coefficients and initial seasonal indices through.

Shapes, by symbol: K members, N series, T times, m season length (1: no season).

    y       (N, T)     the values, each series right-aligned from its first time on
    valid   (N, T)     bool: t is at or after the series' first time
    first   (N, T)     bool: t is the series' first time
    alpha   (K, N)     level coefficients, in (0, 1)
    gamma   (K, N)     season coefficients, in (0, 1) (unused when m = 1)
    initial (K, N, m)  seasonal indices of the times 0..m-1 (ones when m = 1)
    ->
    levels  (K, N, T)      l_t
    seasons (K, N, T + m)  s_t: the m initial ones, then s_{t+m} made at each t

At each t where the series has begun (``valid``), the first time taking r_t as the level:

    r_t = y_t / s_t         l_t = alpha r_t + (1 - alpha) l_{t-1}
    s_{t+m} = gamma y_t / l_t + (1 - gamma) s_t

and before it both carry over (the level holds y at time 0, which no valid time reads).

``smooth_loop`` is the recursion in torch operations, which autograd differentiates: 9
operations a time step, forward and backward, most of a training step on hourly's 960 values
with 9 members. ``HoltWinters`` runs the same arithmetic in numpy on the (K, N) slices, in the
tensors' dtype (the values are the loop's to the bit), and its backward is the chain rule
written out (below), with every factor computed for all times at once: the step takes 160 ms
instead of 403 (``bench/esrnn_step.py``, AMD EPYC Zen 3). ``smooth`` takes the autograd
function when a gradient is wanted in eager mode, and the loop otherwise (``torch.compile``
and ``torch.export`` trace the loop; numpy cannot be traced).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor


def smooth_loop(
    y: Tensor, valid: Tensor, first: Tensor, alpha: Tensor, gamma: Tensor, initial: Tensor
) -> tuple[Tensor, Tensor]:
    """(levels (K, N, T), seasons (K, N, T + m)) by torch operations; shapes in the module's
    docstring."""
    m = initial.shape[-1]
    seasons = list(initial.unbind(-1))  # m x (K, N)
    level = y[:, 0].expand_as(alpha)  # (K, N), replaced at each series' first value
    levels = []
    for t in range(y.shape[1]):
        s_t, y_t, v = seasons[t], y[:, t], valid[:, t]
        ratio = y_t / s_t if m > 1 else y_t.expand_as(alpha)
        smoothed = torch.where(first[:, t], ratio, alpha * ratio + (1 - alpha) * level)
        level = torch.where(v, smoothed, level)
        levels.append(level)
        if m > 1:
            seasons.append(torch.where(v, gamma * y_t / level + (1 - gamma) * s_t, s_t))
        else:
            seasons.append(s_t)
    return torch.stack(levels, -1), torch.stack(seasons, -1)


class HoltWinters(torch.autograd.Function):
    """``smooth_loop``'s values, with the backward pass through time by hand (no gradient
    for y, valid or first: data)."""

    @staticmethod
    def forward(
        y: Tensor, valid: Tensor, first: Tensor, alpha: Tensor, gamma: Tensor, initial: Tensor
    ) -> tuple[Tensor, Tensor]:
        a, g, init = _np(alpha), _np(gamma), _np(initial)  # (K, N), (K, N), (K, N, m)
        dt = a.dtype
        # time-major, so that each step reads contiguous (K, N) slices
        yt = _np(y).T.astype(dt)  # (T, N)
        vt, ft = _np(valid).T, _np(first).T  # (T, N)
        k, n = a.shape
        t_len, m = yt.shape[0], init.shape[-1]
        levels = np.empty((t_len, k, n), dtype=dt)  # (T, K, N)
        seasons = np.empty((t_len + m, k, n), dtype=dt)  # (T + m, K, N)
        seasons[:m] = np.moveaxis(init, -1, 0)
        level = np.broadcast_to(yt[0], (k, n)).astype(dt)  # (K, N)
        b = 1 - a
        for t in range(t_len):
            s_t, y_t, v = seasons[t], yt[t], vt[t]
            ratio = y_t / s_t if m > 1 else np.broadcast_to(y_t, (k, n))
            smoothed = np.where(ft[t], ratio, a * ratio + b * level)
            level = levels[t] = np.where(v, smoothed, level)
            if m > 1:
                seasons[t + m] = np.where(v, g * y_t / level + (1 - g) * s_t, s_t)
            else:
                seasons[t + m] = s_t
        return _like(np.moveaxis(levels, 0, -1), alpha), _like(np.moveaxis(seasons, 0, -1), alpha)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Tensor, ...], output: tuple[Tensor, Tensor]) -> None:
        y, valid, first, alpha, gamma, _ = inputs
        ctx.save_for_backward(y, valid, first, alpha, gamma, *output)

    @staticmethod
    def backward(ctx: Any, d_levels: Tensor, d_seasons: Tensor):  # type: ignore[override]
        """Reverse through time. A season s_j is read by step j (as s_t) and, for m > 1, the
        level l_t by step t's new season and by step t + 1's level, so when step t is undone
        the gradients G_s of s_{t+m} and G_l of l_t are complete:

            s_{t+m} = g y / l_t + (1 - g) s_t:   dg += G_s (y / l_t - s_t)
                                                 dl_t -= G_s g y / l_t^2,  ds_t += G_s (1 - g)
            l_t = a r + (1 - a) l_{t-1}:         da += G_l (r - l_{t-1}),  dr = G_l a,
                                                 dl_{t-1} += G_l (1 - a)
            l_t = r (first time):                dr = G_l
            r = y / s_t:                         ds_t -= dr r / s_t

        and where the series has not begun (or, s_{t+m} only, without a season), l_t = l_{t-1}
        and s_{t+m} = s_t pass theirs back. Only the G's need the loop: every factor they are
        multiplied by is known from the forward values and is computed for all t at once, and
        so are da and dg once the G's are.
        """
        y, valid, first, alpha, gamma, levels_t, seasons_t = ctx.saved_tensors
        a, g = _np(alpha), _np(gamma)  # (K, N)
        dt = a.dtype
        yt = _np(y).T.astype(dt)[:, None]  # (T, 1, N)
        v = _np(valid).T[:, None].astype(dt)  # (T, 1, N) 1 where the series has begun
        f = _np(first).T[:, None].astype(dt)  # (T, 1, N) 1 at its first time
        rec = v - f  # 1 where l_t = a r + (1 - a) l_{t-1}
        levels = np.moveaxis(_np(levels_t), -1, 0)  # (T, K, N)
        seasons = np.moveaxis(_np(seasons_t), -1, 0)  # (T + m, K, N)
        t_len, k, n = levels.shape
        m = seasons.shape[0] - t_len
        s = seasons[:t_len]  # (T, K, N) s_t, the index step t reads
        ratio = yt / s if m > 1 else np.broadcast_to(yt, levels.shape)  # (T, K, N) r_t
        prev = np.concatenate([np.broadcast_to(yt[0], (1, k, n)), levels[:-1]])  # l_{t-1}
        if m > 1:
            to_level = v * g * yt / (levels * levels)  # dl_t -= G_s * this
            to_season = v * (1 - g) + (1 - v)  # ds_t += G_s * this
            from_ratio = ratio / s  # ds_t -= dr * this
        else:
            to_level = np.zeros_like(levels)
            to_season = np.ones_like(levels)
            from_ratio = np.zeros_like(levels)
        to_ratio = f + rec * a  # dr = G_l * this
        to_prev = rec * (1 - a) + (1 - v)  # dl_{t-1} += G_l * this
        g_level = _zeros_or(d_levels, (k, n, t_len), dt)
        g_level = np.ascontiguousarray(np.moveaxis(g_level, -1, 0))  # (T, K, N)
        g_season = _zeros_or(d_seasons, (k, n, t_len + m), dt)
        g_season = np.ascontiguousarray(np.moveaxis(g_season, -1, 0))  # (T + m, K, N)
        carry = np.zeros((k, n), dt)  # dL/dl_t from step t + 1
        for t in range(t_len - 1, -1, -1):
            gs = g_season[t + m]
            gl = g_level[t] = g_level[t] + carry - gs * to_level[t]
            carry = gl * to_prev[t]
            g_season[t] += gs * to_season[t] - gl * to_ratio[t] * from_ratio[t]
        da = (rec * g_level * (ratio - prev)).sum(0)  # (K, N)
        d_gamma = None
        if m > 1:
            d_gamma = _like((v * g_season[m:] * (yt / levels - s)).sum(0), gamma)
        d_initial = np.moveaxis(g_season[:m], 0, -1)  # (K, N, m)
        return None, None, None, _like(da, alpha), d_gamma, _like(d_initial, alpha)


def smooth(
    y: Tensor, valid: Tensor, first: Tensor, alpha: Tensor, gamma: Tensor, initial: Tensor
) -> tuple[Tensor, Tensor]:
    """(levels (K, N, T), seasons (K, N, T + m)); shapes in the module's docstring."""
    wants_grad = torch.is_grad_enabled() and any(x.requires_grad for x in (alpha, gamma, initial))
    numpy_dtype = alpha.dtype in (torch.float32, torch.float64)  # numpy has no bfloat16
    if wants_grad and numpy_dtype and not torch.compiler.is_compiling():
        return HoltWinters.apply(y, valid, first, alpha, gamma, initial)
    return smooth_loop(y, valid, first, alpha, gamma, initial)


def _np(x: Tensor) -> np.ndarray:
    return x.detach().cpu().numpy()


def _like(a: np.ndarray, ref: Tensor) -> Tensor:
    return torch.from_numpy(np.ascontiguousarray(a)).to(device=ref.device, dtype=ref.dtype)


def _zeros_or(grad: Tensor | None, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    return np.zeros(shape, dtype) if grad is None else _np(grad).astype(dtype, copy=True)
