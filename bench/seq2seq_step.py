"""Training throughput of the text-writing models, three decoder paths in one process, their
steps alternating, at the defaults of translate, summarize, chat and caption:

- *before*: rnnkit before 2026-12: input feeding (one layer call per target token), the copy
  mixture over the whole vocabulary (``dense_copy_output`` below, the code as it was) and
  cross-entropy's log_softmax over its log-probabilities;
- *fed*: today's decoder with ``input_feed`` on (the copy mixture in log space, no second
  log_softmax);
- *whole*: today's default, the recurrence over the whole target in one layer call and Luong et
  al. 2015's attention after it for every step at once.

One step is what the Trainer does: the teacher-forced loss, its backward and an Adam update.
Batches are random token ids of a fixed shape per task (stated in the table); the models of a
row have the same settings and weights' shapes but these. Also printed: the share of a *whole*
step the output layer and its loss take (the softmax over the vocabulary, forward and
backward), the CPU, its bfloat16 units and its measured float32 matrix-multiply peak.

    .venv/bin/python bench/seq2seq_step.py               # every task, 2 threads
    .venv/bin/python bench/seq2seq_step.py --tasks translate --repeats 20

``--padded`` times instead, on each text task's own training batches (its default data set,
cut and padded as the trainer does), the whole-target step with the output layer over every
target position, padding included, then the padding ignored by the loss (*all*, rnnkit before
2026-12-07: ``every_position_loss`` below) against today's over the real positions only
(*real*). The two models start from the same weights; repeat r steps both on the r-th of a
seeded draw of batches, and the table gives the share of real target positions.

    .venv/bin/python bench/seq2seq_step.py --padded --tasks chat --repeats 40
"""

from __future__ import annotations

import argparse
import statistics
import types
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from rnnkit.bench import alternate, cpu_name, matmul_peak, paired_speedup
from rnnkit.models.captioner import Captioner
from rnnkit.models.seq2seq import BOS, EOS, PAD, Seq2Seq, teacher_forced_loss
from rnnkit.runs.driver import make_task
from rnnkit.train.precision import cpu_bf16_flags


@dataclass(frozen=True)
class Shape:
    batch: int  # rows a step
    source: int  # source tokens (caption: ignored, the image is the source)
    target: int  # target tokens before the end token
    vocab: int  # output (and source) vocabulary


# the task defaults' batch size; lengths near each default data set's typical pair
SHAPES = {
    "translate": Shape(64, 32, 32, 4000),  # bible-en-es: median 24 words, BPE 4000
    "summarize": Shape(64, 48, 12, 4000),  # source cut at 48 tokens; one-line synopses
    "chat": Shape(64, 24, 24, 4000),  # adjacent speeches of the plays
    "caption": Shape(64, 0, 8, 1200),  # emoji names: a few words, small vocabulary
}


def dense_copy_output(self, feed, weights, gate_input, copy_ids, positions=None):  # noqa: ANN001, ANN201
    """``AttentionDecoder.output`` before 2026-12: the copy mixture built over the whole
    vocabulary, then its log (the reference the *before* column times, whose loss asks for
    every position: ``positions`` is always None here)."""
    assert positions is None
    logits = self.out(self.drop(feed))  # (..., V)
    if self.gate is None:
        return logits
    g = torch.sigmoid(self.gate(gate_input))  # (..., 1)
    ids = copy_ids if weights.dim() == 2 else copy_ids[:, None, :].expand_as(weights)
    copied = torch.zeros_like(logits).scatter_add(-1, ids, weights)  # (..., V)
    return (g * logits.softmax(-1) + (1 - g) * copied).clamp_min(1e-12).log()


def every_position(model, src, src_len, tgt, tgt_len):  # noqa: ANN001, ANN201
    """Logits (B, T+1, V) at every target position, padding included, and the gold (B, T+1)."""
    B = tgt.shape[0]
    bos = torch.full((B, 1), BOS)
    tgt_out = torch.cat([tgt, torch.full_like(bos, PAD)], 1)  # (B, T+1)
    tgt_out[torch.arange(B), tgt_len] = EOS
    return model(src, src_len, torch.cat([bos, tgt], 1)), tgt_out


def cross_entropy_loss(model, src, src_len, tgt, tgt_len):  # noqa: ANN001, ANN201
    """The teacher-forced loss before 2026-12: cross_entropy even over log-probabilities."""
    logits, tgt_out = every_position(model, src, src_len, tgt, tgt_len)
    eps = model.config.label_smoothing
    return F.cross_entropy(logits.flatten(0, 1), tgt_out.flatten(), ignore_index=PAD,
                           label_smoothing=eps)  # fmt: skip


def build(task: str, shape: Shape, path: str) -> torch.nn.Module:
    t = make_task(task, {}, {"input_feed": path != "whole"})
    if task == "caption":
        model = Captioner(t.model.replace(vocab_size=shape.vocab))
    else:
        model = Seq2Seq(t.model.replace(src_vocab_size=shape.vocab, tgt_vocab_size=shape.vocab))
    if path == "before":
        model.decoder.output = types.MethodType(dense_copy_output, model.decoder)
    return model


def batch(task: str, shape: Shape, model: torch.nn.Module) -> tuple:
    g = torch.Generator().manual_seed(0)
    B, T, V = shape.batch, shape.target, shape.vocab
    tgt = torch.randint(4, V, (B, T), generator=g)  # (B, T): no special ids
    tgt_len = torch.full((B,), T)  # (B,)
    if task == "caption":
        c = model.config
        src = torch.randn(B, c.channels, c.image_size, c.image_size, generator=g)  # (B, C, S, S)
        return src, torch.ones(B, dtype=torch.long), tgt, tgt_len
    src = torch.randint(4, V, (B, shape.source), generator=g)  # (B, S)
    return src, torch.full((B,), shape.source), tgt, tgt_len


def every_position_loss(model, src, src_len, tgt, tgt_len):  # noqa: ANN001, ANN201
    """The teacher-forced loss before 2026-12-07: logits at every target position, padding
    included, the padding then ignored by the loss (copy: no second log_softmax)."""
    logits, tgt_out = every_position(model, src, src_len, tgt, tgt_len)
    eps = model.config.label_smoothing
    if not model.config.copy:
        return F.cross_entropy(logits.flatten(0, 1), tgt_out.flatten(), ignore_index=PAD,
                               label_smoothing=eps)  # fmt: skip
    logp, gold = logits.flatten(0, 1), tgt_out.flatten()  # (N, V), (N,)
    nll = -logp.gather(1, gold[:, None])[:, 0]  # (N,)
    return ((1 - eps) * nll + eps * -logp.mean(-1))[gold != PAD].mean()


def training_step(model: torch.nn.Module, data: tuple, loss: Callable) -> Callable[[], None]:
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        loss(model, *data).backward()
        opt.step()

    return step


def softmax_step(model: torch.nn.Module, shape: Shape) -> Callable[[], None]:
    """The output layer and cross-entropy alone, forward and backward, for one step's tokens."""
    out = model.decoder.out
    n = shape.batch * (shape.target + 1)
    feats = torch.randn(n, out.in_features, requires_grad=True)  # (B*(T+1), A)
    gold = torch.randint(0, shape.vocab, (n,))  # (B*(T+1),)

    def step() -> None:
        F.cross_entropy(out(feats), gold, label_smoothing=0.1).backward()

    return step


def batches_step(model: torch.nn.Module, batches: list, loss: Callable) -> Callable[[], None]:
    """A training step on the next of ``batches`` each call."""
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    upcoming = iter(batches)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        loss(model, *next(upcoming)).backward()
        opt.step()

    return step


def padded_table(tasks: list[str], repeats: int) -> None:
    """Target tokens/s of the *all* and *real* paths on each text task's training batches."""
    print(f"{'task':10s} {'data set':>18s} {'real':>6s} {'all':>9s} {'real':>9s} {'speed-up':>9s}")
    for task in tasks:
        if task == "caption":  # one image a row and no padding worth the name: not timed
            continue
        t = make_task(task, {}, {})
        train, _ = t.make_batches(t.prepare().train, t.data.batch_size, t.data.batch_tokens)
        draw = torch.Generator().manual_seed(0)
        picks = torch.randint(len(train), (repeats + 2,), generator=draw).tolist()
        models = []
        for _ in range(2):
            torch.manual_seed(0)
            models.append(t.build_model())
        ends = sum(b[3].shape[0] for b in train)  # an end token a row
        real = sum(int(b[3].sum()) for b in train) + ends
        share = real / sum(b[2].shape[0] * (b[2].shape[1] + 1) for b in train)
        picked = [train[i] for i in picks]  # the same batch for both paths each repeat
        steps = [batches_step(models[0], picked, every_position_loss),
                 batches_step(models[1], picked, teacher_forced_loss)]  # fmt: skip
        t_all, t_real = alternate(steps, repeats)
        tokens = statistics.mean(int(train[i][3].sum()) + train[i][3].shape[0] for i in picks[2:])
        rates = (tokens / statistics.mean(ts) for ts in (t_all, t_real))
        print(f"{task:10s} {t.data.dataset or t.default_dataset:>18s} {share:6.0%} "
              + " ".join(f"{r:9.0f}" for r in rates)
              + f" {paired_speedup(t_real, t_all):8.2f}x")  # fmt: skip
    print("real: the share of target positions that are not padding; target tokens/s over the "
          "timed batches; speed-up: median over repeats of the two steps' time ratio")  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tasks", nargs="+", default=list(SHAPES), choices=list(SHAPES))
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--padded", action="store_true",
                   help="time the loss over every target position against the real ones only, "
                   "on the tasks' own training batches")  # fmt: skip
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    peak = matmul_peak()
    bf16 = ", ".join(cpu_bf16_flags()) or "none"
    print(f"CPU {cpu_name()}, bfloat16 units: {bf16}; "
          f"{args.threads} threads; float32 matmul peak {peak:.0f} GFLOP/s")  # fmt: skip
    if args.padded:
        padded_table(args.tasks, args.repeats)
        return
    print(f"{'':27s} {'target tokens/s':^29s} {'speed-up of whole':^19s}")
    print(f"{'task':10s} {'B,S,T,V':>16s} {'before':>9s} {'fed':>9s} {'whole':>9s} "
          f"{'/before':>9s} {'/fed':>9s} {'softmax':>8s}")  # fmt: skip
    for task in args.tasks:
        shape = SHAPES[task]
        torch.manual_seed(0)
        models = [build(task, shape, path) for path in ("before", "fed", "whole")]
        data = batch(task, shape, models[0])
        losses = (cross_entropy_loss, teacher_forced_loss, teacher_forced_loss)
        steps = [training_step(m, data, f) for m, f in zip(models, losses, strict=True)]
        t_before, t_fed, t_whole, t_soft = alternate(
            [*steps, softmax_step(models[2], shape)], args.repeats
        )
        tokens = shape.batch * (shape.target + 1)  # target tokens a step, end tokens included
        rates = (tokens / statistics.median(t) for t in (t_before, t_fed, t_whole))
        dims = f"{shape.batch},{shape.source},{shape.target},{shape.vocab}"
        print(f"{task:10s} {dims:>16s} " + " ".join(f"{r:9.0f}" for r in rates)
              + f" {paired_speedup(t_whole, t_before):8.2f}x {paired_speedup(t_whole, t_fed):8.2f}x"
              f" {statistics.median(t_soft) / statistics.median(t_whole):7.0%}")  # fmt: skip
    print(
        "speed-up: median over repeats of the two steps' time ratio, each pair timed back to "
        "back; softmax: the output layer and its loss as a share of a whole step"
    )


if __name__ == "__main__":
    main()
