"""``rnnkit.JordanRNN``: stacked Jordan layers, recurrent from each layer's previous output."""

from __future__ import annotations

import math
import numbers

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence

from rnnkit.cells.jordan import jordan_layer, jordan_teacher_forced
from rnnkit.nn import precision
from rnnkit.nn.base import check_extras
from rnnkit.nn.checks import NotScriptable, refuse_jit_tracing, user_errors
from rnnkit.nn.packing import (
    active_mask,
    batch_size,
    last_steps,
    pack_sorted,
    unpack_sorted,
)


class JordanRNN(NotScriptable, nn.Module):
    r"""A multi-layer Jordan network: the recurrence runs from the previous *output*.

    Each layer k computes, for t = 1..L,

    .. math::
        \begin{array}{ll}
        h_t = \tanh(x_t W_{ih}^T + b_{ih} + o_{t-1} W_{ho}^T + b_{ho}) \\
        o_t = h_t W_{out}^T + b_{out}
        \end{array}

    where :math:`x_t` is the input (the previous layer's output :math:`o_t` for k > 0) and
    :math:`o_0` the initial output. ReLU replaces tanh with ``nonlinearity='relu'``. Every layer
    outputs ``output_size`` features; the top layer's :math:`o_t` are the outputs (apply a
    softmax or a loss outside). With ``dropout > 0`` the output of every layer but the last goes
    through dropout in training.

    Teacher forcing: with ``prev_targets`` (the target of the previous step, y_{t-1}, at each
    step t) the top layer uses y_{t-1} in place of its own :math:`o_{t-1}`; no step then depends
    on another, so that layer runs as two matrix products without a time loop.

    The network is unidirectional by design: :math:`o_{t-1}` is the model's own previous
    prediction, which only exists in the forward direction; there is no ``bidirectional``.

    .. code-block:: python

        # Equivalent to the following (prev_targets=None)
        def forward(x, o0=None):
            if batch_first:
                x = x.transpose(0, 1)
            seq_len, batch_size, _ = x.size()
            o = list(o0) if o0 is not None else [zeros(batch_size, output_size)] * num_layers
            output = []
            for t in range(seq_len):
                inp = x[t]
                for k in range(num_layers):
                    h = torch.tanh(inp @ weight_ih[k].T + bias_ih[k]
                                   + o[k] @ weight_ho[k].T + bias_ho[k])
                    o[k] = h @ weight_out[k].T + bias_out[k]
                    inp = o[k]
                output.append(inp)
            output = torch.stack(output)
            if batch_first:
                output = output.transpose(0, 1)
            return output, torch.stack(o)

    Args:
        input_size (H_in), hidden_size (H), output_size (O), num_layers, nonlinearity
        ('tanh' or 'relu'), bias, batch_first, dropout: as in ``rnnkit.RNN``.
        init_state: keyword-only. ``'zeros'`` or ``'learned'``: a trainable ``o0_l{k}`` (O,)
            per layer, broadcast over the batch, used when no ``o0`` is passed.
        kernel: keyword-only. ``None``, ``'reference'`` or ``'cpu'``.

    Inputs: input, o0, prev_targets
        * input: (L, H_in), (L, N, H_in), (N, L, H_in) with ``batch_first``, or a
          ``PackedSequence``.
        * o0: (num_layers, O) unbatched or (num_layers, N, O).
        * prev_targets: the layout of the outputs: (L, O), (L, N, O), (N, L, O), or a
          ``PackedSequence`` with the input's batch_sizes and sorted_indices.

    Outputs: output, o_n
        * output: (L, O), (L, N, O), (N, L, O) with ``batch_first``, or a ``PackedSequence``.
        * o_n: (num_layers, O) or (num_layers, N, O): each layer's last output (for packed
          input, at each sequence's own end).

    where N = batch size, L = sequence length.

    Attributes, per layer k: ``weight_ih_l{k}`` (H, H_in for k = 0 else O),
    ``weight_ho_l{k}`` (H, O), ``bias_ih_l{k}``, ``bias_ho_l{k}`` (H,), ``weight_out_l{k}``
    (O, H), ``bias_out_l{k}`` (O,); all U(-1/sqrt(H), 1/sqrt(H)) like torch.nn.RNN.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        output_size: int,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        *,
        init_state: str = "zeros",
        kernel: str | None = None,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__()
        with user_errors():
            _check_args(
                input_size, hidden_size, output_size, num_layers, nonlinearity, bias, batch_first
            )
            _check_dropout(dropout)
        check_extras(init_state, kernel)
        self.input_size, self.hidden_size, self.output_size = input_size, hidden_size, output_size
        self.num_layers, self.nonlinearity, self.bias = num_layers, nonlinearity, bias
        self.batch_first, self.dropout = batch_first, float(dropout)
        self.init_state, self.kernel = init_state, kernel
        factory = {"device": device, "dtype": dtype}
        H, O = hidden_size, output_size
        for k in range(num_layers):
            shapes = {"weight_ih": (H, input_size if k == 0 else O), "weight_ho": (H, O)}
            if bias:
                shapes.update(bias_ih=(H,), bias_ho=(H,))
            shapes["weight_out"] = (O, H)
            if bias:
                shapes["bias_out"] = (O,)
            for name, shape in shapes.items():
                setattr(self, f"{name}_l{k}", nn.Parameter(torch.empty(shape, **factory)))
            if init_state == "learned":
                setattr(self, f"o0_l{k}", nn.Parameter(torch.empty(O, **factory)))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """U(-1/sqrt(H), 1/sqrt(H)) for weights and biases; learned initial outputs at zero."""
        stdv = 1.0 / math.sqrt(self.hidden_size)
        for name, param in self.named_parameters():
            if name.startswith("o0_"):
                nn.init.zeros_(param)
            else:
                nn.init.uniform_(param, -stdv, stdv)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}, {self.output_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.nonlinearity != "tanh":
            s += f", nonlinearity={self.nonlinearity!r}"
        if not self.bias:
            s += ", bias=False"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout:
            s += f", dropout={self.dropout}"
        if self.init_state != "zeros":
            s += f", init_state={self.init_state!r}"
        if self.kernel is not None:
            s += f", kernel={self.kernel!r}"
        return s

    def forward(self, input, o0: Tensor | None = None, prev_targets=None):
        """Run the stack; see the class docstring for shapes."""
        refuse_jit_tracing()
        with user_errors():
            x, o0, targets, batch_sizes, sorted_idx, unsorted_idx, unbatched = self._prepare(
                input, o0, prev_targets
            )
        mask = None
        if batch_sizes is not None:
            rows = x.shape[0]  # N, the packed rows
            mask = active_mask(batch_sizes, o0.shape[1], x.device)  # (T, B)
            x = unpack_sorted(x, batch_sizes, mask)  # (T, B, H_in)
            if targets is not None:
                targets = unpack_sorted(targets, batch_sizes, mask)  # (T, B, O)
        elif self.batch_first:
            x = x.transpose(0, 1)
            targets = None if targets is None else targets.transpose(0, 1)
        mixed = precision.plan(x, self.weight_ih_l0)
        if mixed is None:
            x, finals = self._run_stack(x, o0, targets, batch_sizes, mask, None)
        else:  # float32 compute on low-precision operands; every output is a product's
            with precision.autocast_off(x.device.type):
                x, finals = self._run_stack(
                    precision.state(x),
                    precision.state(o0),
                    precision.operand(targets, mixed),
                    batch_sizes,
                    mask,
                    mixed,
                )
            x, finals = x.to(mixed.low), [f.to(mixed.low) for f in finals]
        o_n = torch.stack(finals)  # (num_layers, B, O)
        if batch_sizes is not None:
            data = pack_sorted(x, batch_sizes, rows)  # (N, O)
            packed = PackedSequence(data, batch_sizes, sorted_idx, unsorted_idx)
            return packed, o_n if unsorted_idx is None else o_n.index_select(1, unsorted_idx)
        if self.batch_first:
            x = x.transpose(0, 1)
        if unbatched:
            return x.squeeze(0 if self.batch_first else 1), o_n.squeeze(1)
        return x, o_n

    def _run_stack(self, x, o0, targets, batch_sizes, mask, mixed):
        """x (T, B, H_in) time-major -> (top outputs (T, B, O), [o_T of each layer (B, O)])."""
        finals = []
        relu = self.nonlinearity == "relu"
        for k in range(self.num_layers):
            w = [getattr(self, f"{n}_l{k}", None) for n in _PARAMS]
            if mixed is not None:
                x = precision.operand(x, mixed)
                w = [precision.weight_operand(p, mixed) for p in w]
            if k == self.num_layers - 1 and targets is not None:
                _, x = jordan_teacher_forced(x, targets, *w, relu=relu)  # (T, B, O)
                finals.append(x[-1] if mask is None else last_steps(x, mask))
            else:
                _, x, oT = jordan_layer(
                    x, *w, o0[k], relu=relu, batch_sizes=batch_sizes, kernel=self.kernel
                )
                finals.append(oT)
            if self.dropout > 0 and self.training and k < self.num_layers - 1:
                x = F.dropout(x, self.dropout, training=True)
        return x, finals

    def _prepare(self, input, o0, prev_targets):
        """Checks -> (x, o0 (L, B, O) sorted, targets, batch_sizes, sorted, unsorted, unbatched)."""
        unbatched = False
        sorted_idx = unsorted_idx = None
        targets = prev_targets
        if isinstance(input, PackedSequence):
            x, batch_sizes, sorted_idx, unsorted_idx = input
            if x.dim() != 2:
                raise RuntimeError(f"input must have 2 dimensions, got {x.dim()}")
            if prev_targets is not None:
                if not _same_packing(prev_targets, input):
                    raise ValueError(
                        "JordanRNN: with a PackedSequence input, prev_targets must be a "
                        "PackedSequence with the same batch_sizes and sorted_indices"
                    )
                targets = prev_targets.data
            batch = batch_size(batch_sizes, sorted_idx, o0)
        else:
            x, batch_sizes = input, None
            if x.dim() not in (2, 3):
                raise ValueError(
                    f"JordanRNN: Expected input to be 2D or 3D, got {x.dim()}D instead"
                )
            unbatched = x.dim() == 2
            batch_dim = 0 if self.batch_first else 1
            if unbatched:
                x = x.unsqueeze(batch_dim)
            if o0 is not None:
                if o0.dim() != (2 if unbatched else 3):
                    form = "unbatched 2-D" if unbatched else "batched 3-D"
                    raise RuntimeError(
                        f"For {form} input, o0 should be {2 if unbatched else 3}-D "
                        f"but got {o0.dim()}-D tensor"
                    )
                o0 = o0.unsqueeze(1) if unbatched else o0
            if targets is not None:
                targets = targets.unsqueeze(batch_dim) if unbatched else targets
                if targets.shape[:-1] != x.shape[:-1] or targets.size(-1) != self.output_size:
                    raise RuntimeError(
                        f"prev_targets must have the outputs' shape "
                        f"{(*x.shape[:-1], self.output_size)}, got {list(targets.shape)}"
                    )
            batch = x.size(batch_dim)
            if x.size(1 - batch_dim) == 0:
                raise RuntimeError("Expected sequence length to be larger than 0 in RNN")
        mixed = precision.plan(x, self.weight_ih_l0)
        if x.dtype != self.weight_ih_l0.dtype and not (mixed and mixed.autocast):
            raise ValueError(
                f"RNN input dtype ({x.dtype}) does not match weight dtype "
                f"({self.weight_ih_l0.dtype})"
            )
        if x.size(-1) != self.input_size:
            raise RuntimeError(
                "input.size(-1) must be equal to input_size. "
                f"Expected {self.input_size}, got {x.size(-1)}"
            )
        if targets is not None and targets.dtype != x.dtype:
            raise RuntimeError(f"prev_targets dtype ({targets.dtype}) must be {x.dtype}")
        expected = (self.num_layers, batch, self.output_size)
        if o0 is None:
            o0 = self._default_o0(batch, x)
        elif tuple(o0.shape) != expected:
            raise RuntimeError(f"Expected o0 size {expected}, got {list(o0.shape)}")
        elif o0.dtype != x.dtype and not (mixed and mixed.autocast):
            raise RuntimeError(f"o0 dtype ({o0.dtype}) does not match input dtype ({x.dtype})")
        elif sorted_idx is not None:
            o0 = o0.index_select(1, sorted_idx)
        return x, o0, targets, batch_sizes, sorted_idx, unsorted_idx, unbatched

    def _default_o0(self, batch: int, x: Tensor) -> Tensor:
        """Zeros, or the learned initial outputs broadcast over the batch: (L, B, O)."""
        shape = (self.num_layers, batch, self.output_size)
        if self.init_state == "zeros":
            return torch.zeros(shape, dtype=x.dtype, device=x.device)
        learned = torch.stack([getattr(self, f"o0_l{k}") for k in range(self.num_layers)])
        return learned.unsqueeze(1).expand(shape)  # (L, B, O)


def _same_packing(a, b: PackedSequence) -> bool:
    """Whether a is a PackedSequence laid out exactly like b (same steps, same sort order)."""
    if not isinstance(a, PackedSequence) or not torch.equal(a.batch_sizes, b.batch_sizes):
        return False
    if a.sorted_indices is None or b.sorted_indices is None:
        return a.sorted_indices is None and b.sorted_indices is None
    return torch.equal(a.sorted_indices, b.sorted_indices)


_PARAMS = ("weight_ih", "weight_ho", "bias_ih", "bias_ho", "weight_out", "bias_out")


def _check_args(
    input_size, hidden_size, output_size, num_layers, nonlinearity, bias, batch_first
) -> None:
    """torch.nn.RNN's constructor checks, with its error types and messages."""
    for name, value in (
        ("input_size", input_size),
        ("hidden_size", hidden_size),
        ("output_size", output_size),
        ("num_layers", num_layers),
    ):
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(f"{name} should be of type int, got: {type(value).__name__}")
        if value <= 0:
            raise ValueError(f"{name} must be greater than zero")
    if nonlinearity not in ("tanh", "relu"):
        raise ValueError(f"Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or 'relu'.")
    if not isinstance(bias, bool):
        raise TypeError(f"bias should be of type bool, got: {type(bias).__name__}")
    if not isinstance(batch_first, bool):
        raise TypeError(f"batch_first should be of type bool, got: {type(batch_first).__name__}")


def _check_dropout(dropout) -> None:
    if (
        isinstance(dropout, bool)
        or not isinstance(dropout, numbers.Number)
        or not 0 <= dropout <= 1
    ):
        raise ValueError(
            "dropout should be a number in range [0, 1] representing the probability of an "
            "element being zeroed"
        )
