r"""A CTC acoustic model: log-mel frames in, per-frame character distributions out.

Symbols: B batch, T input frames (10 ms), T' model frames after reduction by R, F mel bands,
H hidden size, D = 2 directions, V output symbols (characters plus the blank, id 0).

Frame-rate reduction (``reduce``), then a bidirectional recurrence, then a linear softmax::

    stack:  z_t = [x_{Rt}; x_{Rt+1}; ...; x_{Rt+R-1}]        (B, T', R*F), T' = ceil(T / R)
    conv:   z_t = ReLU(W * x)_t, stride R, kernel 2R - 1    (B, T', H),  same T'
    h_t     = [LSTM_fwd(z)_t ; LSTM_bwd(z)_t]                (B, T', D*H), stacked num_layers deep
    p(k|t)  = softmax(W_o h_t + b_o)_k                       (B, T', V)

The baseline (``recurrent=False``) is the same class with the recurrence replaced by a per-frame
classifier of about the same number of weights: ``num_layers`` layers z -> ReLU(W z + b) of a
width chosen to match, so each frame's output sees only its own R input frames.

Connectionist temporal classification (Graves et al. 2006). An alignment pi is one symbol per
frame; B(pi) removes repeats, then blanks (``aa-b`` -> ``ab``). For a transcript y::

    p(y | x) = sum_{pi : B(pi) = y} prod_t p(pi_t | t)          loss = -log p(y | x)

computed by ``torch.nn.functional.ctc_loss`` (the forward-backward recursion over y with blanks
between and around its characters). ``ctc_loss`` here returns the sum over the batch divided by
the number of characters, so that a batch's loss is a mean per character.

Decoding (greedy, prefix beam search with a language model) is ``rnnkit.generate.ctc``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.config import setting
from rnnkit.models.recurrent import (
    PACKED_CELLS,
    RecurrentSettings,
    TaskModel,
    encode_packed,
    make_recurrent,
)

BLANK = 0
REDUCTIONS = ("none", "stack", "conv")


@dataclass(kw_only=True)
class AcousticConfig(RecurrentSettings):
    """Everything needed to rebuild an AcousticModel."""

    cell: str = setting("lstm", "recurrent cell", choices=PACKED_CELLS)
    hidden_size: int = setting(160, "hidden units per direction and layer", lo=1, hi=16384,
                               aliases=("--hidden",))  # fmt: skip
    num_layers: int = setting(3, "stacked recurrent layers", lo=1, hi=64, aliases=("--layers",))
    dropout: float = setting(0.15, "dropout between layers and before the output", lo=0, hi=0.99)
    bidirectional: bool = setting(True, "read the utterance both ways")
    reduce: str = setting("stack", "frame-rate reduction before the recurrence", choices=REDUCTIONS)
    reduce_factor: int = setting(3, "input frames per model frame (ignored by reduce none)", lo=1,
                                 hi=8)  # fmt: skip
    recurrent: bool = setting(
        True, "false: the baseline, a per-frame classifier of about the same size"
    )
    n_mels: int = setting(40, "mel bands in (from the data)", lo=1, hi=256, cli=False)
    vocab_size: int = setting(2, "characters + blank (from the data)", lo=2, hi=100_000, cli=False)
    frame_width: int = setting(
        0, "baseline's layer width (0: match the recurrent model's size)", lo=0, hi=65536, cli=False
    )


class AcousticModel(TaskModel):
    """``forward(x, lengths) -> (log_probs (B, T', V), out_lengths (B,))``."""

    def __init__(self, config: AcousticConfig):
        super().__init__()
        c = self.config = config.validate()
        R = c.reduce_factor if c.reduce != "none" else 1
        self.R = R
        if c.reduce == "conv":
            self.conv = nn.Conv1d(c.n_mels, c.hidden_size, 2 * R - 1, stride=R, padding=R - 1)
            z_size = c.hidden_size
        else:
            self.conv = None
            z_size = c.n_mels * R
        D = 2 if c.bidirectional else 1
        if c.recurrent:
            self.rnn = make_recurrent(
                c.cell, z_size, c.hidden_size, c.num_layers, c.dropout,
                backend=c.backend, bidirectional=c.bidirectional,
            )  # fmt: skip
            self.frames = None
            out_size = D * c.hidden_size
        else:
            width = c.frame_width or matching_width(c, z_size)
            layers: list[nn.Module] = []
            for i in range(c.num_layers):
                layers += [nn.Linear(z_size if i == 0 else width, width), nn.ReLU()]
                layers.append(nn.Dropout(c.dropout))
            self.rnn, self.frames = None, nn.Sequential(*layers)
            out_size = width
        self.drop = nn.Dropout(c.dropout)
        self.out = nn.Linear(out_size, c.vocab_size)

    def out_lengths(self, lengths: Tensor) -> Tensor:
        """Model frames for ``lengths`` input frames: ceil(T / R) for both reductions."""
        return torch.div(lengths + self.R - 1, self.R, rounding_mode="floor")

    def reduce(self, x: Tensor) -> Tensor:
        """(B, T, F) -> (B, T', Z), zero-padding T up to a multiple of R."""
        B, T, Fm = x.shape
        if self.conv is not None:
            return F.relu(self.conv(x.transpose(1, 2))).transpose(1, 2)  # (B, T', H)
        pad = (-T) % self.R
        x = F.pad(x, (0, 0, 0, pad))  # (B, T + pad, F)
        return x.reshape(B, (T + pad) // self.R, self.R * Fm)  # (B, T', R*F)

    def forward(self, x: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        """x (B, T, F) normalised log-mels, lengths (B,) -> log-probabilities (B, T', V) and
        each row's T' (B,). Padding frames are never read by the recurrence."""
        z = self.reduce(x)
        out_lengths = self.out_lengths(lengths).clamp(max=z.shape[1])
        if self.rnn is not None:
            h, _ = encode_packed(self.rnn, z, out_lengths)  # (B, T', D*H)
        else:
            h = self.frames(z)  # (B, T', W)
        return self.out(self.drop(h)).log_softmax(-1), out_lengths


def model_frames(frames: int, c: AcousticConfig) -> int:
    """Model frames T' for ``frames`` input frames: ceil(T / R) (``AcousticModel.out_lengths``)."""
    R = c.reduce_factor if c.reduce != "none" else 1
    return -(-frames // R)


def recurrent_weights(c: AcousticConfig, z_size: int) -> int:
    """Weights of the recurrence (torch.nn's layout: W_ih, W_hh, b_ih, b_hh per direction)."""
    gates = {"lstm": 4, "gru": 3, "rnn": 1}[c.cell]
    D, H = (2 if c.bidirectional else 1), c.hidden_size
    total = 0
    for layer in range(c.num_layers):
        i = z_size if layer == 0 else D * H
        total += D * gates * H * (i + H + 2)
    return total + (D * H + 1) * c.vocab_size


def matching_width(c: AcousticConfig, z_size: int) -> int:
    """The baseline width W whose layers + output have about ``recurrent_weights`` weights."""
    target = recurrent_weights(c, z_size)

    def size(w: int) -> int:
        return (z_size + 1) * w + (c.num_layers - 1) * (w + 1) * w + (w + 1) * c.vocab_size

    lo, hi = 1, 65536
    while lo < hi:  # smallest w with size(w) >= target (size grows with w)
        mid = (lo + hi) // 2
        lo, hi = (mid + 1, hi) if size(mid) < target else (lo, mid)
    return lo


# -- the loss ------------------------------------------------------------------------------------


def ctc_loss(
    log_probs: Tensor,
    out_lengths: Tensor,
    targets: Tensor,
    target_lengths: Tensor,
    reduction: str = "per_char",
) -> Tensor:
    """CTC loss of a padded batch, blank = 0.

    ``log_probs`` (B, T', V) batch first, ``out_lengths`` (B,), ``targets`` the rows'
    transcripts concatenated (sum of L,) without blanks, ``target_lengths`` (B,). ``reduction``:
    ``"sum"`` (over rows), ``"none"`` (B,), ``"mean"`` (torch's: each row's loss divided by its
    target length, then the batch mean) or ``"per_char"`` (the sum divided by the number of
    target characters). A row whose transcript cannot fit its frames (infinite loss) counts 0
    and gets no gradient, as with torch.nn.CTCLoss(zero_infinity=True).
    """
    losses = F.ctc_loss(
        log_probs.transpose(0, 1).float(),
        targets.to(log_probs.device),
        out_lengths.cpu(),
        target_lengths.cpu(),
        blank=BLANK,
        reduction="none",
        zero_infinity=True,
    )  # fmt: skip  (B,)
    lengths = target_lengths.to(losses.device, losses.dtype)
    if reduction == "none":
        return losses
    if reduction == "sum":
        return losses.sum()
    if reduction == "mean":
        return (losses / lengths.clamp(min=1)).mean()
    if reduction == "per_char":
        return losses.sum() / lengths.sum().clamp(min=1)
    raise ValueError(f"unknown reduction {reduction!r}")


def fits(ids: Sequence[int], frames: int) -> bool:
    """Whether a transcript can be aligned to ``frames`` CTC frames: each symbol takes a frame,
    and a blank must separate each pair of equal neighbours."""
    repeats = sum(a == b for a, b in zip(ids, ids[1:], strict=False))
    return len(ids) + repeats <= frames
