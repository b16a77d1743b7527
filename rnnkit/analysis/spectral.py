"""Spectral radius (largest |eigenvalue|) of the recurrent weights, per layer and gate.

For the Elman recurrence h_t = tanh(W h_{t-1} + ...), a radius of W well above 1 lets
products of step Jacobians explode, well below 1 makes them vanish (Pascanu et al. 2013). LSTM and
GRU stack one square block per gate in ``weight_hh`` (LSTM: i, f, g, o; GRU: r, z, n); each
block's radius is reported. A Jordan layer's linearised recurrence o -> o is
W_out W_ho, whose radius is reported instead.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

GATES = {1: [""], 3: ["r", "z", "n"], 4: ["i", "f", "g", "o"]}


def spectral_radius(w: Tensor) -> float:
    """max |eig(w)| of a square matrix, computed in float64."""
    return float(torch.linalg.eigvals(w.detach().double()).abs().max())


def spectral_radii(rnn: nn.Module) -> dict[str, float]:
    """{'weight_hh_l0': r} or {'weight_hh_l0[i]': r, ...}; Jordan: {'W_out W_ho l0': r}."""
    out = {}
    params = dict(rnn.named_parameters())
    for name, w in params.items():
        if name.startswith("weight_ho"):
            w_out = params.get(name.replace("weight_ho", "weight_out"))
            if w_out is not None:
                out[f"W_out W_ho {name[len('weight_ho_') :]}"] = spectral_radius(w_out @ w)
            continue
        if not name.startswith("weight_hh") or w.shape[0] % w.shape[1]:
            continue
        H = w.shape[1]
        gates = GATES.get(w.shape[0] // H, [str(i) for i in range(w.shape[0] // H)])
        for g, gate in enumerate(gates):
            key = f"{name}[{gate}]" if gate else name
            out[key] = spectral_radius(w[g * H : (g + 1) * H])
    return out
