"""A classifier's encoder read as a language model, to pretrain it before it classifies
(ULMFiT, Howard & Ruder 2018; for a bidirectional layer both directions, as ELMo, Peters et al.
2018, trains them).

The model is a whole ``SequenceClassifier`` (its ``encoder``, so that the pretrained weights
carry the classifier's own names) and one softmax layer over the first ``outputs`` token ids.
Over each text's own steps (no text reads another; padding is never computed):

    h_t = [h_t^fwd ; h_t^bwd] = encoder(x_{1..L})_t
    p(x_{t+1} | x_{<=t}) = softmax(W h_t^fwd + b)        t = 1 .. L-1
    p(x_{t-1} | x_{>=t}) = softmax(W h_t^bwd + b)        t = 2 .. L   (bidirectional only)

One ``W`` serves both directions (ELMo ties them too). Only a single layer can be read both
ways: in a stack, the second layer's forward direction reads the first layer's backward
states, which have already seen the token it is to predict.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from rnnkit.errors import RnnkitError
from rnnkit.models.classifier import ClassifierConfig, SequenceClassifier
from rnnkit.models.recurrent import TaskModel, step_mask

IGNORE = -100  # a target the loss skips (cross_entropy's ignore_index): an id past `outputs`


class EncoderLM(TaskModel):
    """(logits (N, outputs), targets (N,)) for every next (and previous) token of a batch."""

    def __init__(self, config: ClassifierConfig, outputs: int):
        super().__init__()
        c = self.config = config.validate()
        if not c.vocab_size:
            raise RnnkitError("a language model needs token ids, not feature vectors")
        if c.bidirectional and c.num_layers > 1:
            raise RnnkitError(
                "pretraining a bidirectional encoder as a language model needs num_layers 1 (a "
                "second layer's forward direction reads states that have seen its targets)"
            )
        if not 1 <= outputs <= c.vocab_size:
            raise RnnkitError(f"outputs must be in [1, {c.vocab_size}], got {outputs}")
        self.outputs = outputs
        self.encoder = SequenceClassifier(c)
        self.next_token = nn.Linear(c.hidden_size, outputs)

    def forward(
        self, x: Tensor, lengths: Tensor, ngrams: tuple[Tensor, Tensor] | None = None
    ) -> tuple[Tensor, Tensor]:
        """x (B, T) ids, lengths (B,), ngrams as the classifier takes them -> logits (N, O)
        and targets (N,) int64 (IGNORE where the id is past ``outputs``), N = the number of
        predictions: sum(L - 1) per direction."""
        out, _ = self.encoder.encode(x, lengths, ngrams)  # (B, T, D*H)
        H, T = self.config.hidden_size, out.shape[1]
        pair = step_mask(lengths.to(out.device) - 1, T - 1)  # (B, T-1): a step with a next one
        hidden = [out[:, :-1, :H][pair]]  # (n, H): forward state at t predicts t+1
        targets = [x[:, 1:T][pair]]  # (n,)
        if self.config.bidirectional:
            hidden.append(out[:, 1:, H:][pair])  # backward state at t+1 predicts t
            targets.append(x[:, : T - 1][pair])
        h = self.encoder.drop(torch.cat(hidden))  # (N, H)
        y = torch.cat(targets)  # (N,)
        return self.next_token(h), y.masked_fill(y >= self.outputs, IGNORE)  # (N, O), (N,)
