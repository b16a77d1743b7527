r"""torch.nn's recurrent layers standing in for rnnkit's, with the same weights: what an export
copy of a model is built from.

rnnkit's LSTM, GRU and RNN subclass torch.nn's and keep its parameter names, so ``torch_twin``
makes the torch.nn layer of the same shape and copies the weights: exporters (torch.onnx)
know torch.nn's layers and write them as the standard ONNX LSTM/GRU/RNN operators.

A Jordan network has no torch.nn layer, but it is an Elman network in disguise. Substituting
:math:`o_{t-1} = W_{out} h_{t-1} + b_{out}` into its step gives, for t > 1,

.. math::
    h_t = \tanh(W_{ih} x_t + b_{ih} + b_{ho} + W_{ho} b_{out} + (W_{ho} W_{out}) h_{t-1})

an Elman step with :math:`W_{hh} = W_{ho} W_{out}` from :math:`h_0 = 0`. Only step 1 differs:
it reads :math:`W_{ho} o_0` where the Elman form reads :math:`W_{ho} b_{out}`. Two extra input
columns, nonzero at step 1 only, carry that difference (``o_0`` itself, with weights
:math:`W_{ho}`, and a 1, with weights :math:`-W_{ho} b_{out}`), so each Jordan layer becomes
one ``nn.RNN`` and a linear map: no time loop to write by hand.

Packed sequences are replaced too (``LengthAwareEncoder``): every row runs over the padded
length, each row's backward direction over its own steps reversed in place, which gives the
same outputs at a row's real steps and the same final states as packing, in operators every
exporter knows.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from rnnkit.errors import RnnkitError
from rnnkit.nn import JordanRNN

# by RNNBase.mode: rnnkit's layers subclass torch.nn.RNNBase, not torch.nn.LSTM/GRU/RNN
TORCH_LAYERS = {"LSTM": nn.LSTM, "GRU": nn.GRU, "RNN_TANH": nn.RNN, "RNN_RELU": nn.RNN}


def _torch_class(layer: nn.Module) -> type[nn.RNNBase]:
    if isinstance(layer, nn.RNNBase) and layer.mode in TORCH_LAYERS:
        return TORCH_LAYERS[layer.mode]
    raise RnnkitError(f"{type(layer).__name__} has no torch.nn counterpart to export")


def _check_plain(layer: nn.Module) -> None:
    if getattr(layer, "init_state", "zeros") != "zeros":
        raise RnnkitError("a layer with a learned initial state cannot be exported yet")


def torch_twin(layer: nn.Module) -> nn.Module:
    """torch.nn's LSTM/GRU/RNN with ``layer``'s options and a copy of its weights (for a
    JordanRNN, ``JordanAsElman``); in eval mode, on the layer's device and dtype."""
    if isinstance(layer, JordanRNN):
        return JordanAsElman(layer)
    cls = _torch_class(layer)
    _check_plain(layer)
    kw = dict(num_layers=layer.num_layers, bias=layer.bias, batch_first=layer.batch_first,
              dropout=layer.dropout, bidirectional=layer.bidirectional)  # fmt: skip
    if cls is nn.LSTM:
        kw["proj_size"] = layer.proj_size
    if cls is nn.RNN:
        kw["nonlinearity"] = layer.nonlinearity
    p = layer.weight_hh_l0
    twin = cls(layer.input_size, layer.hidden_size, **kw, device=p.device, dtype=p.dtype)
    with torch.no_grad():
        for name in twin._flat_weights_names:
            getattr(twin, name).copy_(getattr(layer, name))
    return twin.eval()


def _single(layer: nn.RNNBase, k: int, suffix: str) -> nn.RNNBase:
    """Layer ``k``, direction ``suffix`` ('' or '_reverse') of ``layer`` as a one-layer,
    one-direction, batch-first torch.nn layer with the same weights."""
    cls = _torch_class(layer)
    kw = {"nonlinearity": layer.nonlinearity} if cls is nn.RNN else {}
    w_ih = getattr(layer, f"weight_ih_l{k}{suffix}")
    single = cls(w_ih.shape[1], layer.hidden_size, 1, bias=layer.bias, batch_first=True, **kw,
                 device=w_ih.device, dtype=w_ih.dtype)  # fmt: skip
    with torch.no_grad():
        for name in single._flat_weights_names:  # weight_ih_l0, ..., bias_hh_l0
            getattr(single, name).copy_(getattr(layer, name.replace("_l0", f"_l{k}{suffix}")))
    return single.eval()


def reverse_within(lengths: Tensor, steps: int) -> Tensor:
    """(B, T) step indices that reverse each row's first ``lengths[b]`` steps and leave its
    padding in place: gathering by them twice is the identity."""
    t = torch.arange(steps, device=lengths.device)[None, :]  # (1, T)
    last = lengths[:, None] - 1  # (B, 1)
    return torch.where(t <= last, last - t, t)  # (B, T)


def gather_steps(x: Tensor, index: Tensor) -> Tensor:
    """x (B, T, F) with its steps picked per row by index (B, T)."""
    return x.gather(1, index[:, :, None].expand(-1, -1, x.shape[-1]))


class LengthAwareEncoder(nn.Module):
    """A stacked (optionally bidirectional) LSTM/GRU/RNN over padded input with per-row
    lengths, without packing. ``forward(x (B, T, F), lengths (B,))`` -> outputs (B, T, D*H),
    zero past each row's length, and the top layer's final states [forward at step L-1;
    backward at step 0] (B, D*H): what ``encode_packed`` gives, in plain operators."""

    def __init__(self, layer: nn.Module):
        super().__init__()
        _check_plain(layer)
        if not layer.batch_first:
            raise RnnkitError("LengthAwareEncoder takes batch-first layers")
        suffixes = ("", "_reverse") if layer.bidirectional else ("",)
        self.layers = nn.ModuleList(
            nn.ModuleList(_single(layer, k, s) for s in suffixes) for k in range(layer.num_layers)
        )

    def forward(self, x: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        steps = x.shape[1]
        rev = reverse_within(lengths, steps)  # (B, T)
        ends = (lengths - 1)[:, None]  # (B, 1)
        finals: list[Tensor] = []
        for directions in self.layers:
            outs, finals = [], []
            for d, rnn in enumerate(directions):
                y, _ = rnn(x if d == 0 else gather_steps(x, rev))  # (B, T, H)
                # the forward pass ends at step L-1; the backward (reversed rows) too
                finals.append(gather_steps(y, ends)[:, 0])  # (B, H)
                outs.append(y if d == 0 else gather_steps(y, rev))
            x = torch.cat(outs, -1)  # (B, T, D*H)
        real = torch.arange(steps, device=x.device)[None, :] < lengths[:, None]  # (B, T)
        return x.masked_fill(~real[:, :, None], 0.0), torch.cat(finals, -1)


class JordanAsElman(nn.Module):
    """A JordanRNN as one ``nn.RNN`` and one linear map per layer (see the module docstring).
    ``forward(x, o0=None)`` -> (output, o_n) with JordanRNN's shapes, for unpacked input."""

    def __init__(self, layer: JordanRNN):
        super().__init__()
        _check_plain(layer)
        self.batch_first, self.num_layers = layer.batch_first, layer.num_layers
        self.output_size = O = layer.output_size
        H = layer.hidden_size
        self.rnns, self.outs = nn.ModuleList(), nn.ModuleList()
        for k in range(layer.num_layers):
            w_ih, w_ho = getattr(layer, f"weight_ih_l{k}"), getattr(layer, f"weight_ho_l{k}")
            w_out = getattr(layer, f"weight_out_l{k}")
            zeros = w_ih.new_zeros(H)

            def bias(name: str, like: Tensor, k: int = k) -> Tensor:
                return getattr(layer, f"{name}_l{k}") if layer.bias else like

            b_ih, b_ho, b_out = (
                bias("bias_ih", zeros),
                bias("bias_ho", zeros),
                bias("bias_out", w_out.new_zeros(O)),
            )
            rnn = nn.RNN(w_ih.shape[1] + O + 1, H, 1, nonlinearity=layer.nonlinearity,
                         batch_first=True, device=w_ih.device, dtype=w_ih.dtype)  # fmt: skip
            out = nn.Linear(H, O, device=w_ih.device, dtype=w_ih.dtype)
            with torch.no_grad():  # the products in float64, then rounded once
                ho_bout = (w_ho.double() @ b_out.double()).to(w_ih.dtype)  # (H,)
                rnn.weight_ih_l0.copy_(torch.cat([w_ih, w_ho, -ho_bout[:, None]], 1))
                rnn.weight_hh_l0.copy_(w_ho.double() @ w_out.double())  # (H, H)
                rnn.bias_ih_l0.copy_(b_ih + b_ho + ho_bout)
                rnn.bias_hh_l0.zero_()
                out.weight.copy_(w_out)
                out.bias.copy_(b_out)
            self.rnns.append(rnn.eval())
            self.outs.append(out)

    def forward(self, x: Tensor, o0: Tensor | None = None) -> tuple[Tensor, Tensor]:
        if not self.batch_first:
            x = x.transpose(0, 1)  # (B, T, I)
        if o0 is None:
            o0 = x.new_zeros(self.num_layers, x.shape[0], self.output_size)  # (L, B, O)
        first = (torch.ones_like(x[:, :, :1]).cumsum(1) == 1).to(x.dtype)  # (B, T, 1): step 1
        finals = []
        for k, (rnn, out) in enumerate(zip(self.rnns, self.outs, strict=True)):
            h, _ = rnn(torch.cat([x, first * o0[k][:, None, :], first], -1))  # (B, T, H)
            x = out(h)  # (B, T, O)
            finals.append(x[:, -1])
        y = x if self.batch_first else x.transpose(0, 1)
        return y, torch.stack(finals)  # (B, T, O) or (T, B, O); (L, B, O)
