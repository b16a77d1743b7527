"""The Holt-Winters smoothing's hand-derived backward pass against autograd through the plain
loop, and against finite differences."""

from __future__ import annotations

import pytest
import torch

from rnnkit.models import holt_winters
from rnnkit.models.esrnn import ESRNN
from rnnkit.models.forecaster import ForecasterConfig


def panel(m: int, dtype: torch.dtype, k: int = 3, seed: int = 0):
    """A padded panel of four series starting at different times (one at 0), with positive
    values, coefficients inside (0, 1) and initial indices around 1, all needing gradients."""
    g = torch.Generator().manual_seed(seed)
    n, t = 4, 23
    start = torch.tensor([0, 3, 7, 11])
    times = torch.arange(t)
    valid = times[None] >= start[:, None]  # (N, T)
    first = times[None] == start[:, None]
    y = torch.where(valid, 1 + torch.rand(n, t, generator=g, dtype=dtype) * 3,
                    torch.ones(n, t, dtype=dtype))  # fmt: skip
    alpha = (0.1 + 0.8 * torch.rand(k, n, generator=g, dtype=dtype)).requires_grad_()
    gamma = (0.1 + 0.8 * torch.rand(k, n, generator=g, dtype=dtype)).requires_grad_()
    initial = (0.7 + 0.6 * torch.rand(k, n, m, generator=g, dtype=dtype)).requires_grad_()
    return y, valid, first, alpha, gamma, initial


@pytest.mark.parametrize("m", [1, 4])
def test_values_and_gradients_match_autograd_through_the_loop(m):
    y, valid, first, *params = panel(m, torch.float64)
    levels, seasons = holt_winters.HoltWinters.apply(y, valid, first, *params)
    ref_levels, ref_seasons = holt_winters.smooth_loop(y, valid, first, *params)
    torch.testing.assert_close(levels, ref_levels, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(seasons, ref_seasons, rtol=1e-12, atol=1e-12)
    g = torch.Generator().manual_seed(1)
    w_l = torch.randn(levels.shape, generator=g, dtype=torch.float64)
    w_s = torch.randn(seasons.shape, generator=g, dtype=torch.float64)
    ours = torch.autograd.grad(
        (levels * w_l).sum() + (seasons * w_s).sum(), params, allow_unused=True
    )
    ref = torch.autograd.grad(
        (ref_levels * w_l).sum() + (ref_seasons * w_s).sum(), params, allow_unused=True
    )
    assert (ours[1] is None) == (ref[1] is None) == (m == 1)  # no season: gamma unused
    for name, a, b in zip(("alpha", "gamma", "initial"), ours, ref, strict=True):
        if b is not None:
            torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12, msg=name)


@pytest.mark.parametrize("m", [1, 3])
def test_gradients_match_finite_differences(m):
    y, valid, first, *params = panel(m, torch.float64, k=2, seed=2)

    def f(alpha, gamma, initial):
        return holt_winters.HoltWinters.apply(y, valid, first, alpha, gamma, initial)

    assert torch.autograd.gradcheck(f, tuple(params), eps=1e-6, atol=1e-7)


def test_float32_values_equal_the_loops_to_the_bit_and_gradients_are_close():
    """The same operations in the same order: a run's forecasts do not move with the switch."""
    y, valid, first, *params = panel(4, torch.float32)
    levels, seasons = holt_winters.HoltWinters.apply(y, valid, first, *params)
    ref_levels, ref_seasons = holt_winters.smooth_loop(y, valid, first, *params)
    assert torch.equal(levels, ref_levels) and torch.equal(seasons, ref_seasons)
    ours = torch.autograd.grad(levels.log().sum() + seasons.sum(), params)
    ref = torch.autograd.grad(ref_levels.log().sum() + ref_seasons.sum(), params)
    for a, b in zip(ours, ref, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_the_es_rnn_trains_through_it_and_infers_through_the_loop():
    """The model's loss takes the hand-written backward (its graph holds HoltWinters); without
    gradients the loop runs, with the same values."""
    config = ForecasterConfig(kind="esrnn", series=2, offsets=[0.0, 0.0], period=4, horizon=3,
                              window=4, quantiles=[0.1, 0.5, 0.9], members=2)  # fmt: skip
    model = ESRNN(config)
    y = 1 + torch.rand(2, 30)
    start, index = torch.tensor([0, 5]), torch.tensor([0, 1])
    levels, _ = model.smooth(y, start, index)
    assert type(levels.grad_fn).__name__ == "HoltWintersBackward"
    levels.sum().backward()
    assert model.alpha.grad is not None and model.init_season.grad is not None
    with torch.no_grad():
        plain, _ = model.smooth(y, start, index)
    assert plain.grad_fn is None
    torch.testing.assert_close(plain, levels.detach(), rtol=1e-6, atol=0)


def test_bfloat16_takes_the_loop():
    """numpy has no bfloat16: the loop (autograd) runs instead, with the same results."""
    y, valid, first, *params = panel(4, torch.float32)
    half = [p.detach().to(torch.bfloat16).requires_grad_() for p in params]
    levels, _ = holt_winters.smooth(y.to(torch.bfloat16), valid, first, *half)
    assert levels.dtype == torch.bfloat16 and type(levels.grad_fn).__name__ != "HoltWintersBackward"
    levels.float().sum().backward()
    assert all(p.grad is not None for p in half)
