r"""How far back the last step's loss reaches: dL_T/ds_t, step Jacobians and their products.

For a stack with flat state s_t (``rnnkit.analysis.stepping``) run over T inputs, L_T is the
cross-entropy of the prediction made at the last step. Since the inputs are fixed, the only
path from s_t to L_T is the recurrence, so by the chain rule (Bengio et al. 1994; Pascanu et al.
2013)::

    dL_T/ds_t = dL_T/ds_T · J_T J_{T-1} ... J_{t+1},      J_k = ds_k/ds_{k-1}  (S x S)

``gradient_flow`` measures the left side with autograd for every t, each J_k with autograd
(one backward pass per step: the sample is replicated S times and row i of the output is
differentiated in row i), and the spectral norm (largest singular value) of each J_k and of
each running product P_t = J_T ... J_{t+1}. Norms of gradients are per sequence (each
sequence's own L_T), then summarised over sequences by their geometric mean, which suits
quantities that span orders of magnitude.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.analysis.probe import Probe
from rnnkit.analysis.spectral import spectral_radii
from rnnkit.analysis.stepping import run, step, top_output, zero_state


def geometric_mean(x: Tensor, dim: int = 0) -> Tensor:
    """exp(mean(log x)) along ``dim``; zeros give 0."""
    return x.double().log().mean(dim).exp()


def state_gradients(probe: Probe, ids: Tensor) -> tuple[Tensor, list[Tensor], Tensor]:
    """ids (T+1, B): inputs ids[:T], last-step target ids[T].

    Returns (dL_T/ds_t for t = 0..T as (T+1, B, S), the states [s_0..s_T] (detached),
    the mean loss L_T).
    """
    x = probe.encode(ids[:-1])  # (T, B, I)
    s0 = zero_state(probe.rnn, ids.shape[1], x).requires_grad_()  # (B, S)
    _, states = run(probe.rnn, x, s0)
    logits = probe.head(top_output(probe.rnn, states[-1]))  # (B, V)
    # A sum, not a mean: each sequence's gradient is then that sequence's own dL_T/ds_t.
    loss = F.cross_entropy(logits, ids[-1], reduction="sum")
    grads = torch.autograd.grad(loss, states)
    mean_loss = loss.detach() / ids.shape[1]
    return torch.stack(grads), [s.detach() for s in states], mean_loss


def step_jacobian(rnn: nn.Module, x_t: Tensor, s_prev: Tensor) -> Tensor:
    """J[i, j] = ds_t[i]/ds_{t-1}[j] (S, S) of one sequence: x_t (I,), s_prev (S,)."""
    S = s_prev.numel()
    s = s_prev.detach().expand(S, S).clone().requires_grad_()  # (S, S): row i is sample copy i
    _, out = step(rnn, x_t.expand(S, -1), s)  # (S, S)
    (jac,) = torch.autograd.grad(out, s, torch.eye(S, dtype=out.dtype, device=out.device))
    return jac


def jacobians(probe: Probe, ids: Tensor, states: list[Tensor], samples: int) -> Tensor:
    """J_t for t = 1..T of the first ``samples`` sequences: (samples, T, S, S)."""
    x = probe.encode(ids[:-1])  # (T, B, I)
    out = [
        torch.stack([step_jacobian(probe.rnn, x[t, b], states[t][b]) for t in range(x.shape[0])])
        for b in range(samples)
    ]
    return torch.stack(out)


def product_norms(jacs: Tensor) -> Tensor:
    """||J_T ... J_{t+1}||_2 for t = 0..T from jacs (T, S, S), in float64: (T+1,)."""
    T, S = jacs.shape[0], jacs.shape[1]
    prod = torch.eye(S, dtype=torch.float64)
    norms = [1.0] * (T + 1)
    for t in range(T, 0, -1):
        prod = prod @ jacs[t - 1].double()  # P_{t-1} = P_t J_t
        norms[t - 1] = float(torch.linalg.matrix_norm(prod, ord=2))
    return torch.tensor(norms, dtype=torch.float64)


def gradient_flow(probe: Probe, ids: Tensor, samples: int = 4) -> dict:
    """Measure gradient flow on the batch ids (T+1, B); see the module docstring.

    Returns a JSON-ready dict: ``grad_norm[t]`` = ||dL_T/ds_t|| for t = 0..T,
    ``jacobian_norm[t-1]`` = ||J_t||_2 for t = 1..T, ``product_norm[t]`` = ||J_T..J_{t+1}||_2
    for t = 0..T (sequences summarised by geometric mean; Jacobians over the first
    ``samples`` sequences), ``spectral_radius`` of the recurrent weights, the loss L_T.
    """
    probe.rnn.eval()
    grads, states, loss = state_gradients(probe, ids)
    per_seq = grads.double().norm(dim=2)  # (T+1, B); float64 so tiny norms do not underflow
    k = min(samples, ids.shape[1])
    jacs = jacobians(probe, ids, states, k)  # (k, T, S, S)
    jac_norms = torch.linalg.matrix_norm(jacs.double(), ord=2)  # (k, T)
    prods = torch.stack([product_norms(j) for j in jacs])  # (k, T+1)
    grad_norm = geometric_mean(per_seq, 1)
    T = ids.shape[0] - 1
    return {
        "length": T,
        "batch": ids.shape[1],
        "jacobian_samples": k,
        "state_size": grads.shape[2],
        "loss": float(loss),
        "grad_norm": grad_norm.tolist(),
        "jacobian_norm": geometric_mean(jac_norms, 0).tolist(),
        "product_norm": geometric_mean(prods, 0).tolist(),
        "decay_orders": _orders(grad_norm[T] / grad_norm[0]),
        "spectral_radius": spectral_radii(probe.rnn),
    }


def _orders(ratio: Tensor) -> float | None:
    """log10 of how many times smaller dL_T/ds_0 is than dL_T/ds_T; None when dL_T/ds_0
    underflowed to 0 (float32 ends near 1e-45)."""
    r = float(ratio)
    return math.log10(r) if 0 < r < math.inf else None
