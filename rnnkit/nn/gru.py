"""``rnnkit.GRU``: torch.nn.GRU's interface on rnnkit's GRU cell."""

from __future__ import annotations

from torch import Tensor, nn

from rnnkit.cells.gru import gru_layer
from rnnkit.nn.base import StackedRecurrent, _refuse_proj_size
from rnnkit.nn.checks import user_errors


class GRU(StackedRecurrent, nn.RNNBase):
    r"""A multi-layer gated recurrent unit, a drop-in replacement for ``torch.nn.GRU``.

    For each element of the input sequence each layer computes

    .. math::
        \begin{array}{ll}
        r_t = \sigma(W_{ir} x_t + b_{ir} + W_{hr} h_{t-1} + b_{hr}) \\
        z_t = \sigma(W_{iz} x_t + b_{iz} + W_{hz} h_{t-1} + b_{hz}) \\
        n_t = \tanh(W_{in} x_t + b_{in} + r_t \odot (W_{hn} h_{t-1} + b_{hn})) \\
        h_t = (1 - z_t) \odot n_t + z_t \odot h_{t-1}
        \end{array}

    (torch.nn's variant: the reset gate multiplies the recurrent term after its bias). With
    ``dropout > 0`` the output of every layer but the last goes through dropout in training.

    .. code-block:: python

        # Equivalent to the following with bidirectional=False
        def forward(x, hx=None):
            if batch_first:
                x = x.transpose(0, 1)
            seq_len, batch_size, _ = x.size()
            h = list(hx) if hx is not None else [zeros(batch_size, hidden_size)] * num_layers
            output = []
            for t in range(seq_len):
                inp = x[t]
                for layer in range(num_layers):
                    xr, xz, xn = (inp @ weight_ih[layer].T + bias_ih[layer]).chunk(3, 1)
                    hr, hz, hn = (h[layer] @ weight_hh[layer].T + bias_hh[layer]).chunk(3, 1)
                    r, z = (xr + hr).sigmoid(), (xz + hz).sigmoid()
                    n = (xn + r * hn).tanh()
                    h[layer] = (1 - z) * n + z * h[layer]
                    inp = h[layer]
                output.append(inp)
            output = torch.stack(output)
            if batch_first:
                output = output.transpose(0, 1)
            return output, torch.stack(h)

    Args:
        input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
        device, dtype: exactly as ``torch.nn.GRU``.
        init_state: keyword-only. ``'zeros'`` (default) or ``'learned'``: a trainable initial
            state ``h0_l{k}`` (``h0_l{k}_reverse``) of shape (H_out,) per layer and direction,
            broadcast over the batch, used when no ``hx`` is passed.
        kernel: keyword-only. ``None`` (fastest available, or ``$RNNKIT_KERNEL``),
            ``'reference'`` or ``'cpu'``.

    Inputs: input, hx
        * input: (L, H_in), (L, N, H_in), (N, L, H_in) with ``batch_first``, or a
          ``PackedSequence``.
        * hx: (D * num_layers, H_out) or (D * num_layers, N, H_out).

    Outputs: output, h_n
        * output: (L, D * H_out), (L, N, D * H_out), (N, L, D * H_out) with ``batch_first``,
          or a ``PackedSequence``.
        * h_n: (D * num_layers, H_out) or (D * num_layers, N, H_out).

    where N = batch size, L = sequence length, D = 2 if bidirectional else 1,
    H_in = input_size, H_out = hidden_size.

    Attributes: ``weight_ih_l{k}`` (3*H_out, H_in or D*H_out), ``weight_hh_l{k}``
    (3*H_out, H_out), ``bias_ih_l{k}``, ``bias_hh_l{k}`` (3*H_out,); gate order r, z, n;
    ``_reverse`` suffix for the reverse direction; all U(-1/sqrt(hidden_size),
    1/sqrt(hidden_size)).
    """

    _family = "GRU"
    _torch_forward = nn.GRU.forward

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device=None,
        dtype=None,
        *,
        init_state: str = "zeros",
        kernel: str | None = None,
        **torch_kwargs,
    ) -> None:
        with user_errors():
            _refuse_proj_size(torch_kwargs)
            super().__init__(
                "GRU",
                input_size,
                hidden_size,
                num_layers,
                bias=bias,
                batch_first=batch_first,
                dropout=dropout,
                bidirectional=bidirectional,
                device=device,
                dtype=dtype,
                **torch_kwargs,  # torch.nn's own rejection of unknown arguments
            )
        self._setup_extras(init_state, kernel)

    def _state_sizes(self) -> tuple[int]:
        return (self.hidden_size,)

    def _mixed_dtypes(self, mixed, packed: bool):
        """Output and h_n: h_t = (1 - z) n + z h_{t-1} carries the state's dtype, as in
        torch.nn's GRU under autocast (float32 for a float32 input)."""
        return mixed.carried(), (mixed.carried(),)

    def _run_layer(
        self, x, layer, suffix, state, batch_sizes, mixed
    ) -> tuple[Tensor, tuple[Tensor]]:
        w_ih, w_hh, b_ih, b_hh = self._weights(
            layer, suffix, mixed, "weight_ih", "weight_hh", "bias_ih", "bias_hh"
        )
        y, h = gru_layer(
            x,
            w_ih,
            w_hh,
            b_ih,
            b_hh,
            state[0],
            reverse=bool(suffix),
            batch_sizes=batch_sizes,
            kernel=self.kernel,
        )
        return y, (h,)
