"""Encoder-decoder with attention on rnnkit's recurrent layers (Bahdanau et al. 2015; Luong et
al. 2015): a text encoder in front of ``AttentionDecoder`` (``rnnkit.models.decoder``, which
states the decoder's equations, copy attention included).

Symbols: B batch, S source steps, T target steps, E embedding size, H hidden size, D encoder
directions (1 or 2), L layers, V target vocabulary.

Encoder (stacked, optionally bidirectional, over packed input: padding is never computed)::

    h_j = BiRNN(E_src x)_j                        keys: (B, S, D*H), zero past each row's length

The decoder's summary is the top encoder layer's final state, both directions
[h_fwd_final ; h_bwd_final] (B, D*H), which the bridge maps to its initial state.

Target ids follow ``PAD``, ``BOS``, ``EOS`` below (the task's vocabulary puts them there). With
copy attention, ``copy_map`` (a buffer saved with the weights) gives each source id the target
id of the same token (``UNK`` where the target vocabulary lacks it); ``set_copy_map`` fills it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.config import setting
from rnnkit.models.decoder import ATTENTIONS, AttentionDecoder, DecodeState
from rnnkit.models.recurrent import (
    PACKED_CELLS,
    RecurrentSettings,
    TaskModel,
    encode_packed,
    make_recurrent,
    step_mask,
)

UNK, PAD, BOS, EOS = 0, 1, 2, 3  # ids every seq2seq vocabulary starts with
SPECIALS = ("<unk>", "<pad>", "<s>", "</s>")


@dataclass(kw_only=True)
class Seq2SeqConfig(RecurrentSettings):
    """Everything needed to rebuild a Seq2Seq."""

    cell: str = setting("lstm", "recurrent cell", choices=PACKED_CELLS)
    src_vocab_size: int = setting(5, "source vocabulary (from the data)", lo=5, hi=10**7, cli=False)
    tgt_vocab_size: int = setting(5, "target vocabulary (from the data)", lo=5, hi=10**7, cli=False)
    embed_dim: int = setting(128, "word embedding size", lo=1, hi=16384, aliases=("--embed",))
    attention: str = setting("general", "attention over the source", choices=ATTENTIONS)
    input_feed: bool = setting(
        False, "feed the last attentional vector back into the decoder (Luong et al. 2015; "
        "slower: the decoder then goes step by step)",
    )  # fmt: skip
    copy: bool = setting(False, "copy attention: the decoder may copy the source tokens it "
                         "attends to (pointer-generator; needs attention)")  # fmt: skip
    bidirectional: bool = setting(True, "read the source both ways")
    tie_embeddings: bool = setting(False, "share the decoder's input and output embeddings")
    label_smoothing: float = setting(0.1, "label smoothing of the loss", lo=0, hi=0.99)


class Seq2Seq(TaskModel):
    """``forward(src, lengths, tgt_in) -> logits`` (teacher forcing); ``start`` and ``step``
    for the decoders in ``rnnkit.generate.search``."""

    def __init__(self, config: Seq2SeqConfig):
        super().__init__()
        c = self.config = config.validate()
        D = 2 if c.bidirectional else 1
        self.src_embed = nn.Embedding(c.src_vocab_size, c.embed_dim, padding_idx=PAD)
        self.encoder = make_recurrent(
            c.cell, c.embed_dim, c.hidden_size, c.num_layers, bidirectional=c.bidirectional,
            dropout=c.dropout, backend=c.backend,
        )  # fmt: skip
        self.decoder = AttentionDecoder(
            cell=c.cell, vocab_size=c.tgt_vocab_size, embed_dim=c.embed_dim,
            hidden_size=c.hidden_size, num_layers=c.num_layers, key_size=D * c.hidden_size,
            summary_size=D * c.hidden_size, attention=c.attention, input_feed=c.input_feed,
            tie_embeddings=c.tie_embeddings, copy=c.copy, dropout=c.dropout, backend=c.backend,
            padding_idx=PAD,
        )  # fmt: skip
        if c.copy:  # until set_copy_map: every source token stands for <unk>
            self.register_buffer("copy_map", torch.full((c.src_vocab_size,), UNK))
        self.drop = nn.Dropout(c.dropout)

    @torch.no_grad()
    def set_copy_map(self, copy_map: Tensor) -> None:
        """The target id (or ``UNK``) of every source id, (src_vocab_size,) long."""
        self.copy_map.copy_(copy_map)

    def start(self, src: Tensor, lengths: Tensor) -> DecodeState:
        """Encode src (B, S) with per-row lengths (B,) into the decoder's first state."""
        c = self.config
        B, L, H = src.shape[0], c.num_layers, c.hidden_size
        keys, h_n = encode_packed(self.encoder, self.drop(self.src_embed(src)), lengths)
        D = 2 if c.bidirectional else 1
        top = h_n.view(L, D, B, H)[-1].transpose(0, 1).reshape(B, D * H)  # (B, D*H)
        mask = step_mask(lengths.to(src.device), src.shape[1])  # (B, S)
        copy_ids = self.copy_map[src] if c.copy else None  # (B, S)
        return self.decoder.begin(top, keys, mask, copy_ids)

    def step(self, tokens: Tensor, st: DecodeState) -> tuple[Tensor, DecodeState, Tensor | None]:
        """One decoder step for previous tokens (B,): logits (B, V), the next state, and the
        attention weights (B, S) (None without attention)."""
        return self.decoder.step(tokens, st)

    def forward(
        self, src: Tensor, lengths: Tensor, tgt_in: Tensor, positions: Tensor | None = None
    ) -> Tensor:
        """Teacher forcing: logits (B, T, V) for target inputs tgt_in (B, T) (BOS, y_1, ...),
        or (N, V) at the N true ``positions`` (B, T) only (``AttentionDecoder.forward``)."""
        return self.decoder(self.start(src, lengths), tgt_in, positions)


def teacher_forced_loss(
    model: Seq2Seq, src: Tensor, src_lengths: Tensor, tgt: Tensor, tgt_lengths: Tensor
) -> Tensor:
    """Mean cross-entropy of the targets tgt (B, T) (``PAD`` past each row's tgt_lengths) and
    their end tokens, given the sources; label-smoothed by the model's setting while training."""
    B = tgt.shape[0]
    bos = torch.full((B, 1), BOS, device=tgt.device)
    tgt_in = torch.cat([bos, tgt], 1)  # (B, T+1): BOS y_1 ... y_T
    tgt_out = torch.cat([tgt, torch.full_like(bos, PAD)], 1)  # (B, T+1): y_1 ... y_T EOS
    tgt_out[torch.arange(B, device=tgt.device), tgt_lengths.to(tgt.device)] = EOS
    real = tgt_out != PAD  # (B, T+1): the output layer runs on these positions only
    logits = model(src, src_lengths, tgt_in, real)  # (N, V), N real target positions
    gold = tgt_out[real]  # (N,)
    config = getattr(model, "module", model).config  # under DDP the model is wrapped
    eps = config.label_smoothing if model.training else 0.0
    if not getattr(config, "copy", False):
        return F.cross_entropy(logits, gold, label_smoothing=eps)
    # copy attention gives log-probabilities already: cross_entropy's log_softmax would be
    # an identity costing two passes over (N, V); this is the same smoothed loss
    nll = -logits.gather(1, gold[:, None])[:, 0]  # (N,)
    uniform = -logits.mean(-1)  # (N,): cross-entropy against the uniform distribution
    return ((1 - eps) * nll + eps * uniform).mean()
