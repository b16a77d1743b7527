"""``rnnkit.RNN``: torch.nn.RNN's interface on rnnkit's Elman cell."""

from __future__ import annotations

from torch import Tensor, nn

from rnnkit.cells.elman import elman_layer
from rnnkit.nn.base import StackedRecurrent, _refuse_proj_size
from rnnkit.nn.checks import user_errors


class RNN(StackedRecurrent, nn.RNNBase):
    r"""A multi-layer Elman RNN with tanh or ReLU, a drop-in replacement for ``torch.nn.RNN``.

    For each element of the input sequence each layer computes

    .. math::
        h_t = \tanh(x_t W_{ih}^T + b_{ih} + h_{t-1} W_{hh}^T + b_{hh})

    where :math:`h_t` is the hidden state at time t, :math:`x_t` the input at time t (the
    previous layer's output for layers after the first) and :math:`h_0` the initial state.
    With ``nonlinearity='relu'`` ReLU replaces tanh. With ``dropout > 0`` the output of every
    layer but the last is multiplied by a Bernoulli(1 - dropout) mask / (1 - dropout) during
    training. The time loop runs in rnnkit's kernels with the hand-derived backward pass.

    .. code-block:: python

        # Equivalent to the following with bidirectional=False
        def forward(x, hx=None):
            if batch_first:
                x = x.transpose(0, 1)
            seq_len, batch_size, _ = x.size()
            if hx is None:
                hx = torch.zeros(num_layers, batch_size, hidden_size)
            h_t_minus_1 = hx
            h_t = hx
            output = []
            for t in range(seq_len):
                for layer in range(num_layers):
                    h_t[layer] = torch.tanh(
                        x[t] @ weight_ih[layer].T + bias_ih[layer]
                        + h_t_minus_1[layer] @ weight_hh[layer].T + bias_hh[layer]
                    )
                output.append(h_t[-1])
                h_t_minus_1 = h_t
            output = torch.stack(output)
            if batch_first:
                output = output.transpose(0, 1)
            return output, h_t

    Args:
        input_size, hidden_size, num_layers, nonlinearity, bias, batch_first, dropout,
        bidirectional, device, dtype: exactly as ``torch.nn.RNN``.
        init_state: keyword-only. ``'zeros'`` (default, torch.nn's behaviour) or ``'learned'``:
            a trainable initial state ``h0_l{k}`` (and ``h0_l{k}_reverse``) of shape
            (H_out,) per layer and direction, broadcast over the batch and used when no ``hx``
            is passed.
        kernel: keyword-only. ``None`` (the fastest available, or ``$RNNKIT_KERNEL``),
            ``'reference'`` or ``'cpu'``.

    Inputs: input, hx
        * input: (L, H_in) unbatched, (L, N, H_in) or (N, L, H_in) with ``batch_first``, or a
          ``PackedSequence``.
        * hx: (D * num_layers, H_out) unbatched or (D * num_layers, N, H_out); defaults to
          the initial state chosen by ``init_state``.

    Outputs: output, h_n
        * output: (L, D * H_out), (L, N, D * H_out) or (N, L, D * H_out) with ``batch_first``,
          or a ``PackedSequence`` when the input was one.
        * h_n: (D * num_layers, H_out) or (D * num_layers, N, H_out), the final state of
          every layer and direction (for packed input, at each sequence's own end).

    where N = batch size, L = sequence length, D = 2 if bidirectional else 1,
    H_in = input_size, H_out = hidden_size.

    Attributes: ``weight_ih_l{k}`` (H_out, H_in) for k = 0 else (H_out, D * H_out);
    ``weight_hh_l{k}`` (H_out, H_out); ``bias_ih_l{k}``, ``bias_hh_l{k}`` (H_out,); the
    reverse direction's carry the suffix ``_reverse``. All start as
    U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)), like torch.nn.
    """

    _family = "RNN"
    _torch_forward = nn.RNN.forward

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
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
            if nonlinearity not in ("tanh", "relu"):
                raise ValueError(
                    f"Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or 'relu'."
                )
            super().__init__(
                "RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU",
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
        self.nonlinearity = nonlinearity
        self._setup_extras(init_state, kernel)

    def _state_sizes(self) -> tuple[int]:
        return (self.hidden_size,)

    def _mixed_dtypes(self, mixed, packed: bool):
        """Output and h_n: the product dtype (h_t is an activation of products)."""
        return mixed.low, (mixed.low,)

    def _run_layer(
        self, x, layer, suffix, state, batch_sizes, mixed
    ) -> tuple[Tensor, tuple[Tensor]]:
        w_ih, w_hh, b_ih, b_hh = self._weights(
            layer, suffix, mixed, "weight_ih", "weight_hh", "bias_ih", "bias_hh"
        )
        y, h = elman_layer(
            x,
            w_ih,
            w_hh,
            b_ih,
            b_hh,
            state[0],
            relu=self.nonlinearity == "relu",
            reverse=bool(suffix),
            batch_sizes=batch_sizes,
            kernel=self.kernel,
        )
        return y, (h,)
