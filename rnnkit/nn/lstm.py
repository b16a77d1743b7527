"""``rnnkit.LSTM``: torch.nn.LSTM's interface on rnnkit's LSTM cell."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from rnnkit.cells._common import joint_bias, needs_grad, resolve_kernel
from rnnkit.cells.lstm import lstm_layer
from rnnkit.nn import precision
from rnnkit.nn.base import StackedRecurrent
from rnnkit.nn.checks import user_errors


class LSTM(StackedRecurrent, nn.RNNBase):
    r"""A multi-layer LSTM (optionally with projections), a drop-in for ``torch.nn.LSTM``.

    For each element of the input sequence each layer computes

    .. math::
        \begin{array}{ll}
        i_t = \sigma(W_{ii} x_t + b_{ii} + W_{hi} h_{t-1} + b_{hi}) \\
        f_t = \sigma(W_{if} x_t + b_{if} + W_{hf} h_{t-1} + b_{hf}) \\
        g_t = \tanh(W_{ig} x_t + b_{ig} + W_{hg} h_{t-1} + b_{hg}) \\
        o_t = \sigma(W_{io} x_t + b_{io} + W_{ho} h_{t-1} + b_{ho}) \\
        c_t = f_t \odot c_{t-1} + i_t \odot g_t \\
        h_t = o_t \odot \tanh(c_t)
        \end{array}

    With ``proj_size > 0`` the hidden state is projected: :math:`h_t = W_{hr}(o_t \odot
    \tanh(c_t))`, so h has proj_size features and ``weight_hh`` takes proj_size inputs. With
    ``dropout > 0`` the output of every layer but the last goes through dropout in training.

    .. code-block:: python

        # Equivalent to the following with bidirectional=False, proj_size=0
        def forward(x, hx=None):
            if batch_first:
                x = x.transpose(0, 1)
            seq_len, batch_size, _ = x.size()
            h, c = hx if hx is not None else (zeros(num_layers, batch_size, hidden_size),) * 2
            h, c = list(h), list(c)
            output = []
            for t in range(seq_len):
                inp = x[t]
                for layer in range(num_layers):
                    gates = (inp @ weight_ih[layer].T + bias_ih[layer]
                             + h[layer] @ weight_hh[layer].T + bias_hh[layer])
                    i, f, g, o = gates.chunk(4, 1)
                    c[layer] = f.sigmoid() * c[layer] + i.sigmoid() * g.tanh()
                    h[layer] = o.sigmoid() * c[layer].tanh()
                    inp = h[layer]
                output.append(inp)
            output = torch.stack(output)
            if batch_first:
                output = output.transpose(0, 1)
            return output, (torch.stack(h), torch.stack(c))

    Args:
        input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
        proj_size, device, dtype: exactly as ``torch.nn.LSTM``.
        init_state: keyword-only. ``'zeros'`` (default) or ``'learned'``: trainable initial
            states ``h0_l{k}`` (H_out,) and ``c0_l{k}`` (H_cell,) (``_reverse`` for the
            reverse direction), broadcast over the batch, used when no ``hx`` is passed.
        kernel: keyword-only. ``None`` (fastest available, or ``$RNNKIT_KERNEL``),
            ``'reference'`` or ``'cpu'``.

    Inputs: input, (h_0, c_0)
        * input: (L, H_in), (L, N, H_in), (N, L, H_in) with ``batch_first``, or a
          ``PackedSequence``.
        * h_0: (D * num_layers, H_out) or (D * num_layers, N, H_out).
        * c_0: (D * num_layers, H_cell) or (D * num_layers, N, H_cell).

    Outputs: output, (h_n, c_n)
        * output: (L, D * H_out), (L, N, D * H_out), (N, L, D * H_out) with ``batch_first``,
          or a ``PackedSequence``.
        * h_n: (D * num_layers, [N,] H_out); c_n: (D * num_layers, [N,] H_cell).

    where N = batch size, L = sequence length, D = 2 if bidirectional else 1,
    H_in = input_size, H_cell = hidden_size, H_out = proj_size if proj_size > 0 else
    hidden_size.

    Attributes: ``weight_ih_l{k}`` (4*H_cell, H_in or D*H_out), ``weight_hh_l{k}``
    (4*H_cell, H_out), ``bias_ih_l{k}``, ``bias_hh_l{k}`` (4*H_cell,), ``weight_hr_l{k}``
    (H_out, H_cell) with projections; gate order i, f, g, o; ``_reverse`` suffix for the
    reverse direction; all U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)).
    """

    _family = "LSTM"
    _torch_forward = nn.LSTM.forward
    # what torch.nn.LSTM adds to RNNBase, which its forward (the CUDA path) calls
    get_expected_cell_size = nn.LSTM.get_expected_cell_size
    check_forward_args = nn.LSTM.check_forward_args
    permute_hidden = nn.LSTM.permute_hidden

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        device=None,
        dtype=None,
        *,
        init_state: str = "zeros",
        kernel: str | None = None,
    ) -> None:
        with user_errors():
            super().__init__(
                "LSTM",
                input_size,
                hidden_size,
                num_layers,
                bias=bias,
                batch_first=batch_first,
                dropout=dropout,
                bidirectional=bidirectional,
                proj_size=proj_size,
                device=device,
                dtype=dtype,
            )
        self._setup_extras(init_state, kernel)

    def _state_sizes(self) -> tuple[int, int]:
        return (self.proj_size or self.hidden_size, self.hidden_size)

    def _mixed_dtypes(self, mixed, packed: bool):
        """torch.nn's LSTM under autocast: with a projection h_t is a product (low) and c_t
        carried; padded input without projection runs oneDNN's LSTM on CPU, which returns
        the low dtype throughout; packed input runs element-wise math on a carried state."""
        low, carried = mixed.low, mixed.carried()
        if self.proj_size > 0:
            return low, (low, carried)
        if packed:
            return carried, (carried, carried)
        return low, (low, low)

    def _run_layer(self, x, layer, suffix, state, batch_sizes, mixed) -> tuple[Tensor, tuple]:
        if _bf16_step(x, state, batch_sizes, mixed, self.kernel):
            return self._bf16_step(x, layer, suffix, state, mixed)
        w_ih, w_hh, b_ih, b_hh, w_hr = self._weights(
            layer, suffix, mixed, "weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr"
        )
        y, h, c = lstm_layer(
            x,
            w_ih,
            w_hh,
            b_ih,
            b_hh,
            w_hr,
            state[0],
            state[1],
            reverse=bool(suffix),
            batch_sizes=batch_sizes,
            kernel=self.kernel,
        )
        return y, (h, c)

    def _bf16_step(self, x, layer, suffix, state, mixed) -> tuple[Tensor, tuple]:
        """One token without gradients in bfloat16: the fused step reading 16-bit weights."""
        names = ("weight_ih", "weight_hh", "weight_hr")
        w_ih, w_hh, w_hr = (
            precision.low_weight(getattr(self, f"{n}_l{layer}{suffix}", None), mixed) for n in names
        )
        b_ih, b_hh = self._weights(layer, suffix, mixed, "bias_ih", "bias_hh")
        kern = resolve_kernel(self.kernel, x)
        h, c = kern.lstm_step_bf16(
            x[0].contiguous(), w_ih, w_hh, joint_bias(b_ih, b_hh), w_hr, *state
        )
        return h.unsqueeze(0), (h, c)


def _bf16_step(x: Tensor, state, batch_sizes, mixed, kernel) -> bool:
    """Whether a layer call is a one-token bfloat16 step the cpu kernel's 16-bit-weight step
    can run: one time step, no packing, nothing needing gradients."""
    return (
        mixed is not None
        and mixed.low == torch.bfloat16
        and x.shape[0] == 1
        and x.shape[1] > 0
        and batch_sizes is None
        and x.device.type == "cpu"
        and not needs_grad(x, *state)
        and not torch.is_grad_enabled()
        and hasattr(resolve_kernel(kernel, x), "lstm_step_bf16")
    )
