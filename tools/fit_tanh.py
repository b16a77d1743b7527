"""Fit the rational tanh of rnnkit/kernels/csrc/fastmath.h and print its coefficients.

tanh(x) ~ x P(x^2) / Q(x^2) on [-9, 9] (beyond 9, tanh rounds to +-1 in float32), with P and Q
of degree 4 and P(0) = Q(0) = 1, so tanh(x) ~ x near zero to full relative precision. The fit
minimises the largest relative error by Lawson's iteration: weighted least squares on the
linearised residual x P - tanh(x) Q, reweighting by each point's error until the errors level
out. In float64 the fit's relative error is about 2e-8; rounded to float32 and evaluated in
the float32 kernels, 2.85e-7 absolute (about 5 units in the last place of 1.0), which
tests/test_kernels_cpu.py checks.

    python tools/fit_tanh.py
"""

from __future__ import annotations

import numpy as np

CLAMP = 9.0
DEGREE = 4


def fit(degree: int = DEGREE, clamp: float = CLAMP, iterations: int = 60) -> np.ndarray:
    """(p_0..p_d, q_0..q_d) with p_0 = q_0 = 1, as float64."""
    x = np.unique(np.concatenate([np.linspace(1e-4, clamp, 6000), np.geomspace(1e-4, 1, 500)]))
    f = np.tanh(x)
    z = x * x
    weight = np.ones_like(x)
    q_prev = np.ones_like(x)
    for _ in range(iterations):
        # unknowns p_1..p_d, q_1..q_d; the residual x P - f Q over f Q_prev is the relative error
        a = np.hstack(
            [
                np.stack([x * z**k for k in range(1, degree + 1)], axis=1),
                np.stack([-f * z**k for k in range(1, degree + 1)], axis=1),
            ]
        )
        b = f - x
        scale = np.sqrt(weight) / np.abs(f * q_prev)
        sol, *_ = np.linalg.lstsq(a * scale[:, None], b * scale, rcond=None)
        p = np.concatenate([[1.0], sol[:degree]])
        q = np.concatenate([[1.0], sol[degree:]])
        big_p = np.polynomial.polynomial.polyval(z, p)
        q_prev = np.polynomial.polynomial.polyval(z, q)
        err = np.abs(x * big_p / q_prev - f) / f
        weight = weight * err
        weight /= weight.sum()
    return np.concatenate([p, q])


def main() -> None:
    coef = fit().astype(np.float32)
    p, q = coef[: DEGREE + 1], coef[DEGREE + 1 :]
    for name, c in (("P", p), ("Q", q)):
        print(f"{name}: " + ", ".join(f"{v:.9e}f" for v in c))


if __name__ == "__main__":
    main()
