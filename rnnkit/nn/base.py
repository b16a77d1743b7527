"""What RNN, LSTM and GRU share: input forms, stacking, directions, dropout and the extras.

The layers subclass torch.nn's own classes, so the constructor, its argument checks, the
parameters (names, shapes, initialisation) and ``state_dict`` are torch's. Only ``forward``
is replaced: it accepts the same inputs in the same order of checks, then runs every layer
and direction through ``rnnkit.cells.*_layer`` instead of torch's fused ATen kernels.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence

from rnnkit.kernels import KERNEL_NAMES
from rnnkit.nn import precision
from rnnkit.nn.checks import LayerValueError, NotScriptable, user_errors
from rnnkit.nn.packing import active_mask, pack_sorted, unpack_sorted

INIT_STATES = ("zeros", "learned")

State = tuple[Tensor, ...]  # (h,) for RNN and GRU, (h, c) for LSTM; each (L*D, B, ·)


def check_extras(init_state: str, kernel: str | None) -> None:
    """Reject values of the keyword-only extras with a message that lists what is allowed."""
    if init_state not in INIT_STATES:
        raise LayerValueError(f"init_state must be one of {INIT_STATES}, got {init_state!r}")
    if kernel is not None and kernel not in KERNEL_NAMES:
        raise LayerValueError(f"kernel must be None or one of {KERNEL_NAMES}, got {kernel!r}")


class StackedRecurrent(NotScriptable):
    """Mixin for a ``torch.nn.RNNBase`` subclass; the subclass defines the per-layer step.

    Subclass contract: ``_family`` (the name in torch's messages), ``_state_sizes()`` (the
    feature size of each state tensor), ``_run_layer(x, layer, suffix, state, batch_sizes,
    mixed) -> (y, final_state)``, state being a tuple of (B, ·) tensors, with the parameters
    read through ``_weights(layer, suffix, mixed, ...)``, and ``_mixed_dtypes(mixed, packed)``
    (the output dtypes in mixed precision, ``rnnkit.nn.precision``).
    """

    _family: str

    def _setup_extras(self, init_state: str, kernel: str | None) -> None:
        """Validate and store the extras; add a learned initial state per layer and direction."""
        check_extras(init_state, kernel)
        self.init_state = init_state
        self.kernel = kernel
        if init_state != "learned":
            return
        p = self.weight_hh_l0
        for name, size in self._initial_state_names():
            self.register_parameter(
                name, nn.Parameter(torch.zeros(size, device=p.device, dtype=p.dtype))
            )

    def _initial_state_names(self) -> list[tuple[str, int]]:
        """[(parameter name, size)] of the learned initial states, e.g. ('h0_l1_reverse', H)."""
        names = []
        for layer in range(self.num_layers):
            for suffix in self._suffixes():
                for prefix, size in zip(("h0", "c0"), self._state_sizes(), strict=False):
                    names.append((f"{prefix}_l{layer}{suffix}", size))
        return names

    def _suffixes(self) -> tuple[str, ...]:
        return ("", "_reverse") if self.bidirectional else ("",)

    def reset_parameters(self) -> None:
        """torch.nn's U(-1/sqrt(H), 1/sqrt(H)) for the weights; learned initial states at zero."""
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        torch_names = set(self._flat_weights_names)
        for name, param in self.named_parameters():
            if name in torch_names:
                nn.init.uniform_(param, -stdv, stdv)
            else:
                nn.init.zeros_(param)

    def extra_repr(self) -> str:
        s = super().extra_repr()
        if getattr(self, "init_state", "zeros") != "zeros":
            s += f", init_state={self.init_state!r}"
        if getattr(self, "kernel", None) is not None:
            s += f", kernel={self.kernel!r}"
        return s

    # --- forward: torch.nn's input handling, then the stack -----------------------------

    def forward(self, input, hx=None):
        """Run the stack; see the class docstring for the forms of ``input`` and ``hx``."""
        self._update_flat_weights()  # torch.nn's checks read _flat_weights (functional_call)
        if self._use_torch_fused(input, hx):
            return super().forward(input, hx)
        with user_errors():
            x, state, batch_sizes, sorted_idx, unsorted_idx, unbatched = self._prepare(input, hx)
        mask = None
        if batch_sizes is not None:
            mask = active_mask(batch_sizes, x.device)  # (T, B)
            x = unpack_sorted(x, mask)  # (T, B, I)
        elif self.batch_first:
            x = x.transpose(0, 1)  # (T, B, I)
        mixed = precision.plan(x, self.weight_hh_l0, state)
        if mixed is None:
            y, final = self._run_stack(x, state, batch_sizes, None)
        else:
            y, final = self._run_mixed(x, state, batch_sizes, mixed)
        if sorted_idx is not None:
            final = tuple(s.index_select(1, unsorted_idx) for s in final)
        if batch_sizes is not None:
            y = PackedSequence(pack_sorted(y, mask), batch_sizes, sorted_idx, unsorted_idx)
        else:
            if self.batch_first:
                y = y.transpose(0, 1)
            if unbatched:
                y = y.squeeze(0 if self.batch_first else 1)
                final = tuple(s.squeeze(1) for s in final)
        return y, (final if len(final) > 1 else final[0])

    def _use_torch_fused(self, input, hx) -> bool:
        """On CUDA, with no kernel asked for and torch.nn's options (no learned initial state
        unless a state is passed), run torch.nn's own fused path (cuDNN): rnnkit's kernels are
        CPU kernels, and the reference kernels on a GPU are far slower. Not verified on a GPU
        in this project's CI (no GPU there)."""
        data = input.data if isinstance(input, PackedSequence) else input
        return (
            data.is_cuda
            and self.kernel is None
            and (self.init_state == "zeros" or hx is not None)
            and not torch._C._are_functorch_transforms_active()
        )

    def _prepare(self, input, hx):
        """torch.nn's checks, in its order -> (x, state, batch_sizes, sorted, unsorted, unbatched).

        x is packed data (N, I) or a 3-D batch in the module's layout; state is a tuple of
        (L*D, B, ·) tensors, permuted into sorted order for packed input.
        """
        hx = None if hx is None else (tuple(hx) if self._family == "LSTM" else (hx,))
        unbatched = False
        sorted_idx = unsorted_idx = None
        if isinstance(input, PackedSequence):
            x, batch_sizes, sorted_idx, unsorted_idx = input
        else:
            x, batch_sizes = input, None
            if x.dim() not in (2, 3):
                raise ValueError(
                    f"{self._family}: Expected input to be 2D or 3D, got {x.dim()}D instead"
                )
            unbatched = x.dim() == 2
            if unbatched:
                x = x.unsqueeze(0 if self.batch_first else 1)
            if hx is not None:
                self._check_state_rank(hx, 2 if unbatched else 3)
                if unbatched:
                    hx = tuple(h.unsqueeze(1) for h in hx)
        state = hx if hx is not None else self._default_state(x, batch_sizes)
        self.check_forward_args(x, state if self._family == "LSTM" else state[0], batch_sizes)
        autocast = precision.plan(x, self.weight_hh_l0)
        for h in state:
            if h.dtype != x.dtype and not (autocast and autocast.autocast):
                raise RuntimeError(
                    f"{self._family}: initial state dtype ({h.dtype}) does not match "
                    f"input dtype ({x.dtype})"
                )
        if batch_sizes is None and x.size(1 if self.batch_first else 0) == 0:
            raise RuntimeError("Expected sequence length to be larger than 0 in RNN")
        if hx is not None and sorted_idx is not None:
            state = tuple(h.index_select(1, sorted_idx) for h in state)
        return x, state, batch_sizes, sorted_idx, unsorted_idx, unbatched

    def _check_state_rank(self, hx: State, rank: int) -> None:
        if all(h.dim() == rank for h in hx):
            return
        form = "unbatched 2-D" if rank == 2 else "batched 3-D"
        if self._family == "LSTM":
            dims = ", ".join(f"{h.dim()}-D" for h in hx)
            msg = f"For {form} input, hx and cx should also be {rank}-D but got ({dims}) tensors"
        else:
            msg = f"For {form} input, hx should also be {rank}-D but got {hx[0].dim()}-D tensor"
        raise RuntimeError(msg)

    def _default_state(self, x: Tensor, batch_sizes: Tensor | None) -> State:
        """Zeros, or the learned initial states broadcast over the batch: each (L*D, B, ·)."""
        if batch_sizes is not None:
            batch = int(batch_sizes[0])
        else:
            batch = x.size(0) if self.batch_first else x.size(1)
        n = self.num_layers * len(self._suffixes())
        if self.init_state == "zeros":
            return tuple(
                torch.zeros(n, batch, size, dtype=x.dtype, device=x.device)
                for size in self._state_sizes()
            )
        names = [name for name, _ in self._initial_state_names()]
        k = len(self._state_sizes())
        return tuple(
            torch.stack([getattr(self, name) for name in names[j::k]])  # (L*D, ·)
            .unsqueeze(1)
            .expand(n, batch, size)
            for j, size in enumerate(self._state_sizes())
        )

    def _run_mixed(self, x: Tensor, state: State, batch_sizes: Tensor | None, mixed):
        """``_run_stack`` in mixed precision: float32 compute on low-precision operands, the
        outputs cast to the dtypes torch.nn returns (``rnnkit.nn.precision``)."""
        with precision.mixed_compute(x.device.type, mixed):
            y, final = self._run_stack(
                x, tuple(precision.state(s) for s in state), batch_sizes, mixed
            )
        y_dtype, state_dtypes = self._mixed_dtypes(mixed, batch_sizes is not None)
        final = tuple(f.to(d) for f, d in zip(final, state_dtypes, strict=True))
        return y.to(y_dtype), final

    def _run_stack(
        self, x: Tensor, state: State, batch_sizes: Tensor | None, mixed: precision.Mixed | None
    ):
        """x (T, B, I) sorted and time-major -> (y (T, B, D*H_out), final state (L*D, B, ·)).

        With ``mixed``, x and state are float32 and each layer's input is rounded to the
        product dtype (the layers below read their weights rounded the same way).
        """
        finals: list[list[Tensor]] = [[] for _ in state]
        suffixes = self._suffixes()
        for layer in range(self.num_layers):
            outs = []
            for d, suffix in enumerate(suffixes):
                idx = layer * len(suffixes) + d
                inp = x if mixed is None else precision.operand(x, mixed)
                y, final = self._run_layer(
                    inp, layer, suffix, tuple(s[idx] for s in state), batch_sizes, mixed
                )
                outs.append(y)
                for k, f in enumerate(final):
                    finals[k].append(f)
            x = outs[0] if len(outs) == 1 else torch.cat(outs, 2)  # (T, B, D*H_out)
            if self.dropout > 0 and self.training and layer < self.num_layers - 1:
                x = F.dropout(x, self.dropout, training=True)
        return x, tuple(torch.stack(f) for f in finals)

    def _weights(
        self, layer: int, suffix: str, mixed: precision.Mixed | None, *kinds: str
    ) -> list[Tensor | None]:
        """This layer's parameters by kind ('weight_ih', 'bias_hh', ...); None when absent.

        In mixed precision: as float32 product operands holding low-precision values.
        """
        params = [getattr(self, f"{kind}_l{layer}{suffix}", None) for kind in kinds]
        if mixed is None:
            return params
        return [precision.weight_operand(p, mixed) for p in params]
