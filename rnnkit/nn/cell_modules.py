r"""Single-step cells with torch.nn's interface: ``RNNCell``, ``LSTMCell``, ``GRUCell``.

Each subclasses its torch.nn counterpart (same constructor, parameters ``weight_ih``,
``weight_hh``, ``bias_ih``, ``bias_hh``, initialisation and state_dict) and runs one step as
a sequence of length 1 through the same ``*_layer`` function as the full layers, so the
hand-written backward pass is the one used.

Shapes: input (N, H_in) or (H_in,) unbatched; state (N, H) or (H,); N = batch size,
H_in = input_size, H = hidden_size.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from rnnkit.cells.elman import elman_layer
from rnnkit.cells.gru import gru_layer
from rnnkit.cells.lstm import lstm_layer
from rnnkit.nn import precision
from rnnkit.nn.base import check_extras
from rnnkit.nn.checks import NotScriptable, refuse_jit_tracing, user_errors


class _StepMixin(NotScriptable):
    """Input handling shared by the three cells, with torch.nn's checks and messages."""

    def _setup(self, kernel: str | None) -> None:
        check_extras("zeros", kernel)
        self.kernel = kernel

    def _prepare(self, input: Tensor, hx: tuple[Tensor, ...] | None, names: tuple[str, ...]):
        """-> (x (1, N, H_in), states [(N, H)], batched); raises torch.nn's error types."""
        refuse_jit_tracing()
        family = type(self).__name__
        if input.dim() not in (1, 2):
            raise ValueError(f"{family}: Expected input to be 1D or 2D, got {input.dim()}D instead")
        if hx is not None:
            for name, h in zip(names, hx, strict=True):
                if h.dim() not in (1, 2):
                    raise ValueError(
                        f"{family}: Expected {name} to be 1D or 2D, got {h.dim()}D instead"
                    )
        batched = input.dim() == 2
        x = input if batched else input.unsqueeze(0)  # (N, H_in)
        autocast = precision.plan(input, self.weight_ih)
        if input.dtype != self.weight_ih.dtype and not (autocast and autocast.autocast):
            raise RuntimeError(
                f"{family}: input dtype ({input.dtype}) does not match weight dtype "
                f"({self.weight_ih.dtype})"
            )
        if x.size(1) != self.input_size:
            raise RuntimeError(
                f"input has inconsistent input_size: got {x.size(1)} expected {self.input_size}"
            )
        if hx is None:
            zeros = torch.zeros(x.size(0), self.hidden_size, dtype=x.dtype, device=x.device)
            return x.unsqueeze(0), [zeros] * len(names), batched
        states = []
        for i, h in enumerate(hx):
            if h.dim() != input.dim():
                raise RuntimeError(
                    f"{family}: hx[{i}] is {h.dim()}-D but the input is {input.dim()}-D; "
                    "batched input needs 2-D states, unbatched input 1-D states"
                )
            h = h if batched else h.unsqueeze(0)  # (N, H)
            if h.size(0) != x.size(0):
                raise RuntimeError(
                    f"Input batch size {x.size(0)} doesn't match hidden{i} batch size {h.size(0)}"
                )
            if h.size(1) != self.hidden_size:
                raise RuntimeError(
                    f"hidden{i} has inconsistent hidden_size: got {h.size(1)}, "
                    f"expected {self.hidden_size}"
                )
            if h.dtype != x.dtype and not (autocast and autocast.autocast):
                raise RuntimeError(
                    f"{family}: hx[{i}] dtype ({h.dtype}) does not match input dtype ({x.dtype})"
                )
            states.append(h)
        return x.unsqueeze(0), states, batched

    def _step(self, layer, x: Tensor, states: list[Tensor], *extra, **kwargs):
        """``layer(x, weight_ih, weight_hh, bias_ih, bias_hh, *extra, *states, **kwargs)``,
        in mixed precision when ``precision.plan`` says so: float32 compute on low-precision
        operands, results cast to ``_mixed_dtype`` (the dtype torch.nn's cell returns)."""
        weights = (self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
        mixed = precision.plan(x, self.weight_ih, tuple(states))
        if mixed is None:
            return layer(x, *weights, *extra, *states, kernel=self.kernel, **kwargs)
        with precision.mixed_compute(x.device.type, mixed):
            out = layer(
                precision.operand(x, mixed),
                *(precision.weight_operand(w, mixed) for w in weights),
                *extra,
                *(precision.state(h) for h in states),
                kernel=self.kernel,
                **kwargs,
            )
        return tuple(t.to(self._mixed_dtype(mixed)) for t in out)

    def _mixed_dtype(self, mixed: precision.Mixed) -> torch.dtype:
        """LSTMCell and GRUCell carry the state through element-wise math (promote(low, x)
        under autocast, like torch.nn's); RNNCell overrides: its state is a product's."""
        return mixed.carried()

    def extra_repr(self) -> str:
        s = super().extra_repr()
        return s if self.kernel is None else s + f", kernel={self.kernel!r}"


class RNNCell(_StepMixin, nn.RNNCell):
    r"""An Elman cell with tanh or ReLU, a drop-in replacement for ``torch.nn.RNNCell``.

    .. math::
        h' = \tanh(W_{ih} x + b_{ih} + W_{hh} h + b_{hh})

    ReLU replaces tanh with ``nonlinearity='relu'``. Equivalent plain code::

        h_next = torch.tanh(x @ weight_ih.T + bias_ih + h @ weight_hh.T + bias_hh)

    Inputs: input (N, H_in) or (H_in,); hidden (N, H_out) or (H_out,), zeros if omitted.
    Output: h' with the shape of hidden. ``kernel`` (keyword-only) as in ``rnnkit.RNN``.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        nonlinearity: str = "tanh",
        device=None,
        dtype=None,
        *,
        kernel: str | None = None,
    ) -> None:
        with user_errors():
            super().__init__(input_size, hidden_size, bias, nonlinearity, device, dtype)
        self._setup(kernel)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        with user_errors():
            x, (h0,), batched = self._prepare(input, None if hx is None else (hx,), ("hidden",))
            if self.nonlinearity not in ("tanh", "relu"):
                raise RuntimeError(f"Unknown nonlinearity: {self.nonlinearity}")
        _, h = self._step(elman_layer, x, [h0], relu=self.nonlinearity == "relu")
        return h if batched else h.squeeze(0)

    def _mixed_dtype(self, mixed: precision.Mixed) -> torch.dtype:
        return mixed.low  # h' = tanh(products): torch.nn's RNNCell returns autocast's dtype


class LSTMCell(_StepMixin, nn.LSTMCell):
    r"""An LSTM cell, a drop-in replacement for ``torch.nn.LSTMCell``.

    .. math::
        \begin{array}{ll}
        i = \sigma(W_{ii} x + b_{ii} + W_{hi} h + b_{hi}) \\
        f = \sigma(W_{if} x + b_{if} + W_{hf} h + b_{hf}) \\
        g = \tanh(W_{ig} x + b_{ig} + W_{hg} h + b_{hg}) \\
        o = \sigma(W_{io} x + b_{io} + W_{ho} h + b_{ho}) \\
        c' = f \odot c + i \odot g \\
        h' = o \odot \tanh(c')
        \end{array}

    Equivalent plain code::

        i, f, g, o = (x @ weight_ih.T + bias_ih + h @ weight_hh.T + bias_hh).chunk(4, 1)
        c_next = f.sigmoid() * c + i.sigmoid() * g.tanh()
        h_next = o.sigmoid() * c_next.tanh()

    Inputs: input (N, H_in) or (H_in,); (h_0, c_0) each (N, H) or (H,), zeros if omitted.
    Outputs: (h_1, c_1) with the shapes of (h_0, c_0).
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        device=None,
        dtype=None,
        *,
        kernel: str | None = None,
    ) -> None:
        with user_errors():
            super().__init__(input_size, hidden_size, bias, device, dtype)
        self._setup(kernel)

    def forward(
        self, input: Tensor, hx: tuple[Tensor, Tensor] | None = None
    ) -> tuple[Tensor, Tensor]:
        with user_errors():
            x, (h0, c0), batched = self._prepare(input, hx, ("hx[0]", "hx[1]"))
        _, h, c = self._step(lstm_layer, x, [h0, c0], None)
        return (h, c) if batched else (h.squeeze(0), c.squeeze(0))


class GRUCell(_StepMixin, nn.GRUCell):
    r"""A GRU cell (torch.nn's variant), a drop-in replacement for ``torch.nn.GRUCell``.

    .. math::
        \begin{array}{ll}
        r = \sigma(W_{ir} x + b_{ir} + W_{hr} h + b_{hr}) \\
        z = \sigma(W_{iz} x + b_{iz} + W_{hz} h + b_{hz}) \\
        n = \tanh(W_{in} x + b_{in} + r \odot (W_{hn} h + b_{hn})) \\
        h' = (1 - z) \odot n + z \odot h
        \end{array}

    Equivalent plain code::

        xr, xz, xn = (x @ weight_ih.T + bias_ih).chunk(3, 1)
        hr, hz, hn = (h @ weight_hh.T + bias_hh).chunk(3, 1)
        r, z = (xr + hr).sigmoid(), (xz + hz).sigmoid()
        h_next = (1 - z) * (xn + r * hn).tanh() + z * h

    Inputs: input (N, H_in) or (H_in,); hidden (N, H) or (H,), zeros if omitted.
    Output: h' with the shape of hidden.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        device=None,
        dtype=None,
        *,
        kernel: str | None = None,
    ) -> None:
        with user_errors():
            super().__init__(input_size, hidden_size, bias, device, dtype)
        self._setup(kernel)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        with user_errors():
            x, (h0,), batched = self._prepare(input, None if hx is None else (hx,), ("hidden",))
        _, h = self._step(gru_layer, x, [h0])
        return h if batched else h.squeeze(0)
