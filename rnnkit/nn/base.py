"""What RNN, LSTM and GRU share: input forms, stacking, directions, dropout and the extras.

The layers subclass ``torch.nn.RNNBase``, the class torch.nn's RNN, LSTM and GRU are built on,
so the constructor, its argument checks, the parameters (names, shapes, initialisation) and
``state_dict`` are torch's. Only ``forward`` is replaced: it accepts the same inputs in the
same order of checks, then runs every layer and direction through ``rnnkit.cells.*_layer``
instead of torch's fused ATen kernels.

Why RNNBase and not ``torch.nn.LSTM`` itself: Dynamo (``torch.compile``, strict
``torch.export``) refuses to trace any instance of ``torch.nn.RNN``, ``GRU`` or ``LSTM``
("Attempted to wrap RNN, GRU, or LSTM") unless ``torch._dynamo.config.allow_rnn`` is set for
the whole process, and that setting makes torch.nn's own layers fail to compile on CPU
(measured with torch 2.13: aot_eager and inductor both raise). Not being a torch.nn.LSTM
lets Dynamo trace rnnkit's layers like any module and leaves every other model alone; the
cost is that ``isinstance(layer, torch.nn.LSTM)`` is False (``torch.nn.RNNBase`` and
``layer.mode`` say what it is). The few torch.nn methods specific to one class (the LSTM's
cell-state check, torch.nn's own forward for the CUDA path) are borrowed by each layer.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from rnnkit.kernels import KERNEL_NAMES
from rnnkit.nn import precision
from rnnkit.nn.checks import LayerValueError, NotScriptable, refuse_jit_tracing, user_errors
from rnnkit.nn.packing import active_mask, batch_size, pack_sorted, unpack_sorted

INIT_STATES = ("zeros", "learned")

State = tuple[Tensor, ...]  # (h,) for RNN and GRU, (h, c) for LSTM; each (L*D, B, ·)


def _refuse_proj_size(kwargs: dict) -> None:
    """torch.nn.RNN's and GRU's own check (their constructors run it before RNNBase's)."""
    if "proj_size" in kwargs:
        raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")


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
    _torch_forward: Callable  # torch.nn's forward of the same class, for the CUDA path

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
        refuse_jit_tracing()
        self._refresh_flat_weights()
        if self._use_torch_fused(input, hx):
            return self._torch_forward(input, hx)
        with user_errors():
            x, state, batch_sizes, sorted_idx, unsorted_idx, unbatched = self._prepare(input, hx)
        mask = None
        if batch_sizes is not None:
            rows = x.shape[0]  # N, the packed rows
            mask = active_mask(batch_sizes, state[0].shape[1], x.device)  # (T, B)
            x = unpack_sorted(x, batch_sizes, mask)  # (T, B, I)
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
            packed = pack_sorted(y, batch_sizes, rows)  # (N, D*H_out)
            y = PackedSequence(packed, batch_sizes, sorted_idx, unsorted_idx)
        else:
            if self.batch_first:
                y = y.transpose(0, 1)
            if unbatched:
                y = y.squeeze(0 if self.batch_first else 1)
                final = tuple(s.squeeze(1) for s in final)
        return y, (final if len(final) > 1 else final[0])

    def forward_lengths(self, input: Tensor, lengths: Tensor):
        """``forward`` over a padded batch whose row b has ``lengths[b]`` steps.

        The same as ``pack_padded_sequence(input, lengths, batch_first, enforce_sorted=False)``,
        ``forward`` and ``pad_packed_sequence(total_length=T)``: outputs zero past each row's
        end, final states taken there. The packed data is never built: the rows run sorted by
        length with a per-step count of active rows, sizes that do not depend on the lengths'
        values, so ``torch.compile`` and ``torch.export`` take it whole. A row of length 0
        keeps its initial state (``pack_padded_sequence`` refuses it).
        """
        if self._use_torch_fused(input, None):
            batch_first = self.batch_first
            packed = pack_padded_sequence(input, lengths.cpu(), batch_first, enforce_sorted=False)
            y, state = self(packed)
            return pad_packed_sequence(y, batch_first, total_length=input.shape[int(batch_first)])[
                0
            ], state
        refuse_jit_tracing()
        self._refresh_flat_weights()
        x = input.transpose(0, 1) if self.batch_first else input  # (T, B, I)
        T, B = x.shape[0], x.shape[1]
        lengths = lengths.to("cpu", torch.int64)
        sorted_lengths, order = torch.sort(lengths, descending=True)  # as pack_padded_sequence
        batch_sizes = (sorted_lengths[None, :] > torch.arange(T)[:, None]).sum(1)  # (T,)
        state = self._default_state(x, B)
        with user_errors():
            self._check_forward_args(x, state, None, B)
        mask = active_mask(batch_sizes, B, x.device)  # (T, B)
        x = torch.where(mask[..., None], x.index_select(1, order.to(x.device)), 0)  # sorted
        mixed = precision.plan(x, self.weight_hh_l0, state)
        if mixed is None:
            y, final = self._run_stack(x, state, batch_sizes, None)
        else:
            y, final = self._run_mixed(x, state, batch_sizes, mixed)
        unsort = torch.argsort(order).to(x.device)  # (B,)
        y = y.index_select(1, unsort)  # (T, B, D*H_out)
        final = tuple(s.index_select(1, unsort) for s in final)
        y = y.transpose(0, 1) if self.batch_first else y
        return y, (final if len(final) > 1 else final[0])

    def _refresh_flat_weights(self) -> None:
        """torch.nn's checks read ``_flat_weights``, which ``functional_call`` leaves stale;
        not while a compiler traces, where the swapped-in weights must not be stored on the
        module (the checks read only their dtype, which the module's own share)."""
        if not torch.compiler.is_compiling():
            self._update_flat_weights()

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
            batch = batch_size(batch_sizes, sorted_idx, None if hx is None else hx[0])
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
            batch = x.size(0 if self.batch_first else 1)
        state = hx if hx is not None else self._default_state(x, batch)
        self._check_forward_args(x, state, batch_sizes, batch)
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

    def _check_forward_args(
        self, x: Tensor, state: State, batch_sizes: Tensor | None, batch: int
    ) -> None:
        """torch.nn's ``check_forward_args`` (its checks and messages) with the batch size B
        given: torch.nn reads it from ``batch_sizes[0]``, a value a compiler cannot see."""
        self.check_input(x, batch_sizes)
        L = self.num_layers * len(self._suffixes())
        if self._family == "LSTM":
            msgs = ("Expected hidden[0] size {}, got {}", "Expected hidden[1] size {}, got {}")
        else:
            msgs = ("Expected hidden size {}, got {}",)
        for h, size, msg in zip(state, self._state_sizes(), msgs, strict=True):
            self.check_hidden_size(h, (L, batch, size), msg)

    def _default_state(self, x: Tensor, batch: int) -> State:
        """Zeros, or the learned initial states broadcast over the batch: each (L*D, B, ·)."""
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
