"""The one Trainer every task uses: a model, batches, a loss function and a configuration.

Contract (everything a task supplies):

- ``model``: any ``torch.nn.Module``.
- ``train_data``: a *batch source*: ``len(src)`` batches per epoch and ``src.batch(epoch, i)``
  returning batch ``i`` of ``epoch`` (any object the loss function understands). Random access
  by (epoch, index) is what makes resume exact. ``src.stateful = True`` means consecutive
  batches continue each other (truncated BPTT): the state returned by the loss function for
  batch ``i`` is detached and handed to batch ``i + 1``; it restarts as ``None`` each epoch.
  ``ListBatches`` wraps a list of batches with a per-epoch shuffle.
- ``loss_fn(model, batch, state) -> StepOutput``: ``loss`` is the mean over ``count`` items
  (tokens, sequences, time steps), so that validation can weight batches by ``count``.
- optional ``val_data`` (a batch source) and ``metrics_fn(model, val_data) -> dict`` for extra
  validation figures (accuracy, F1...), logged as ``val_<name>``.
- optional ``on_step(trainer)``, called after every optimiser step (``trainer.step`` counts).
- ``unit`` names what ``count`` counts, for the throughput figure (``tokens/s``).

Per step: forward, backward, gradient clipping by total norm (``clip``, on by default),
optimiser step (Adam, AdamW or SGD), learning-rate schedule (linear warm-up, then cosine decay
to ``min_lr_ratio`` over ``max_steps`` or ``max_time``, or constant; with ``plateau_decay``
below 1, each validation that does not improve sends the model and optimiser back to the best
checkpoint and multiplies the rate by it, the "newbob" rule of speech and translation recipes:
a small data set that starts to over-fit goes back and on slower, a large one that keeps
improving keeps its rate). Every ``eval_every`` steps:
validation, early stopping on ``monitor``, a checkpoint (``best`` too on improvement), the loss
plot; a validation whose figures hold ``partial`` (a decoding cut short by a time budget) is
not compared with the others. With ``average`` k > 1, the k best checkpoints by ``monitor``
are kept, and when training ends their weights are averaged (checkpoint averaging, as in fairseq's
``average_checkpoints.py``) and validated; when the average scores at least as well as the best
checkpoint alone by ``monitor`` it is saved as checkpoint ``average``, which ``best`` then names
(the test and ``load_run`` use it), else ``best`` stays the single checkpoint (an average over
checkpoints from both sides of an over-fitting minimum can be worse than either). Metrics go
to ``metrics.jsonl``; a tqdm bar shows loss and items/s. Under ``torch.distributed`` the model
is wrapped in DDP, every rank evaluates the same validation data (so every rank takes the same
early-stopping decision) and only rank 0 writes files.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn
from tqdm import tqdm

from rnnkit.config import Settings, setting
from rnnkit.errors import RnnkitError
from rnnkit.plots.curves import plot_losses
from rnnkit.train import checkpoint as ckpt
from rnnkit.train import precision as amp
from rnnkit.train.distributed import rank_world
from rnnkit.train.metrics import MetricsLog
from rnnkit.train.steps import (
    LossFn,
    detach_state,
    evaluate,
    to_device,
)

PLOT_EVERY_S = 30.0


OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULES = ("cosine", "constant")
DEVICES = ("auto", "cpu", "cuda")


@dataclass(kw_only=True)
class TrainConfig(Settings):
    """Optimisation, stopping, evaluation and logging settings (all JSON-serialisable)."""

    optimizer: str = setting("adam", "optimiser", choices=OPTIMIZERS)
    lr: float = setting(2e-3, "peak learning rate", lo=0, hi=10, lo_open=True)
    weight_decay: float = setting(0.0, "weight decay", lo=0, hi=10)
    momentum: float = setting(0.9, "momentum (sgd only)", lo=0, hi=1)
    clip: float = setting(1.0, "max total gradient norm (0: no clipping)", lo=0, hi=1e9)
    schedule: str = setting("cosine", "learning-rate schedule after warm-up", choices=SCHEDULES)
    warmup_steps: int = setting(0, "steps of linear warm-up", lo=0, hi=10**9)
    min_lr_ratio: float = setting(0.1, "final lr / peak lr of the cosine", lo=0, hi=1)
    plateau_decay: float = setting(
        1.0, "after each validation that does not improve on the best, go back to the best "
        "checkpoint and multiply the learning rate by this (on top of the schedule; 1: never)",
        lo=0, hi=1, lo_open=True,
    )  # fmt: skip
    max_steps: int | None = setting(None, "stop after this many steps", lo=1, hi=10**9)
    max_time: float | None = setting(
        None, "stop after this many seconds of training (validations included); the whole "
        "command, set-up, last validation and test included, ends within SECONDS + max(30, "
        "SECONDS/4): a slow set-up shortens the training", lo=0, hi=1e8, lo_open=True,
        metavar="SECONDS",
    )  # fmt: skip
    epochs: int | None = setting(None, "stop after this many passes over the data", lo=1, hi=10**6)
    eval_every: int = setting(200, "steps between validations (and checkpoints)", lo=1, hi=10**9)
    # the test phase after training (rnnkit.tasks.phase); the Trainer itself does not read them
    test_time: float | None = setting(
        None, "seconds the test phase after training may take, plus one chunk of decodings "
        "(default: with --max-time T, what is left of T + max(30, T/4) seconds since the "
        "command started, at least 10; without --max-time, no limit)", lo=0, hi=1e8,
        lo_open=True, metavar="SECONDS",
    )  # fmt: skip
    val_limit: int = setting(
        0, "decode at most N items of the validation split at each validation (the same "
        "random sample every time, so the checkpoints compare; the validation loss covers "
        "all); 0: all", lo=0, hi=10**9,
    )  # fmt: skip
    test_limit: int = setting(
        0, "decode at most N items of each split the test phase decodes (a random sample of "
        "the test split, and of the validation split where the run chooses its decoding); "
        "0: all", lo=0, hi=10**9,
    )  # fmt: skip
    average: int = setting(
        0, "when training ends, average the weights of this many best validation checkpoints "
        "and use the average if it validates at least as well as the best one (0 or 1: the "
        "best checkpoint alone)", lo=0, hi=100,
    )  # fmt: skip
    patience: int | None = setting(
        5, "validations without improvement before stopping", lo=1, hi=10**6
    )
    monitor: str = setting("val_loss", "validation figure that picks the best", cli=False)
    mode: str = setting("min", "min or max: which way monitor improves", choices=("min", "max"),
                        cli=False)  # fmt: skip
    log_every: int = setting(10, "steps between logged training losses", lo=1, hi=10**6, cli=False)
    progress: bool = setting(True, "show a progress bar", cli=False)
    seed: int = setting(0, "random seed (initialisation, shuffling, splits)", lo=0, hi=2**63 - 1)
    device: str = setting(
        "auto", "where to train: auto (CUDA when present), cpu or cuda", choices=DEVICES
    )
    precision: str = setting(
        "fp32",
        "fp32, bf16 (autocast forward; weights, gradients, loss and optimiser stay fp32) or "
        "auto (bf16 where the CPU has AMX or AVX-512 BF16, or the GPU bfloat16)",
        choices=amp.PRECISIONS,
    )

    def check(self) -> None:
        if self.max_steps is None and self.max_time is None and self.epochs is None:
            raise RnnkitError("give at least one of max_steps, max_time, epochs")


@dataclass(frozen=True)
class StopReason:
    """Why training stopped: ``rule`` is max_steps, epochs, max_time, patience or peer (another
    data-parallel process stopped), ``limit`` the value of that rule's setting."""

    rule: str
    limit: float | None = None

    def __str__(self) -> str:
        if self.rule == "patience":
            return f"early stop: no better validation figure in {self.limit:g} evaluations"
        if self.rule == "peer":
            return "another process stopped"
        return f"reached {self.rule} = {self.limit:g}"


def _flatten_state(state: Any) -> list[Tensor] | None:
    if state is None:
        return None
    return [state] if isinstance(state, Tensor) else [t for t in state]


def _unflatten_state(flat: list[Tensor] | None, like_tuple: bool) -> Any:
    if flat is None:
        return None
    return tuple(flat) if like_tuple else flat[0]


class Trainer:
    """Fit ``model`` on ``train_data`` with ``loss_fn``; see the module docstring."""

    def __init__(
        self,
        model: nn.Module,
        loss_fn: LossFn,
        train_data: Any,
        val_data: Any = None,
        *,
        config: TrainConfig | None = None,
        out_dir: str | Path | None = None,
        metrics_fn: Callable[[nn.Module, Any], dict] | None = None,
        resume: bool = False,
        unit: str = "items",
        on_step: Callable[[Trainer], None] | None = None,
        stop_at: float | None = None,
    ):
        self.config = config or TrainConfig()
        # a time.monotonic() by which training stops whatever max_time says (the driver's share
        # of a --max-time command, whose set-up counts), after one step at least: reported as
        # max_time
        self.stop_at = stop_at
        self.config.validate()
        if len(train_data) < 1:
            raise RnnkitError("the training data holds no batch")
        self.model = model
        self.loss_fn = loss_fn
        self.train_data = train_data
        self.val_data = val_data
        self.metrics_fn = metrics_fn
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.unit = unit
        self.on_step = on_step
        self.rank, self.world = rank_world()
        self.main = self.rank == 0
        self.device = next(model.parameters()).device
        self.param_dtype = next(model.parameters()).dtype
        self.autocast_dtype, precision_text = amp.resolve(self.config.precision, self.device)
        if self.main and self.config.precision != "fp32":
            amp.announce(precision_text)
        self.train_model: nn.Module = model
        if self.world > 1:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.train_model = nn.parallel.DistributedDataParallel(model, device_ids=ids)
        self.step = 0
        self.elapsed = 0.0
        self.lr_scale = 1.0  # times plateau_decay for each validation that did not improve
        self.optimizer = self._make_optimizer()
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, self._lr_factor)
        self.best_value: float | None = None
        self.best_step: int | None = None
        self.bad_evals = 0
        self.ranked: list[tuple[float, int]] = []  # (monitor value, step) of the `average` best
        self.carry: Any = None
        self.stop_reason: StopReason | None = None
        self.log = None
        self.resumed_from: int | None = None
        self._plotted = -math.inf
        if resume:
            if self.out_dir is None:
                raise RnnkitError("resume needs an output directory")
            self._restore()
        if self.out_dir is not None and self.main:
            self.log = MetricsLog(self.out_dir / "metrics.jsonl", resume_step=self.resumed_from)

    # -- optimisation ------------------------------------------------------------------------

    def _make_optimizer(self) -> torch.optim.Optimizer:
        c, params = self.config, self.model.parameters()
        if c.optimizer == "adam":
            return torch.optim.Adam(params, lr=c.lr, weight_decay=c.weight_decay)
        if c.optimizer == "adamw":
            return torch.optim.AdamW(params, lr=c.lr, weight_decay=c.weight_decay)
        return torch.optim.SGD(params, lr=c.lr, momentum=c.momentum, weight_decay=c.weight_decay)

    def _progress(self, step: int) -> float:
        """Fraction of the run done: by steps, or by time when only a time budget is set."""
        c = self.config
        fractions = []
        if c.max_steps:
            fractions.append(step / c.max_steps)
        if c.epochs:
            fractions.append(step / (c.epochs * len(self.train_data)))
        if c.max_time:
            fractions.append(self.elapsed / c.max_time)
        return min(1.0, max(fractions)) if fractions else 0.0

    def _lr_factor(self, step: int) -> float:
        """lr(step) / lr: linear warm-up, then 1 (constant) or a cosine down to min_lr_ratio,
        times ``lr_scale`` (``plateau_decay`` for each validation that did not improve)."""
        c = self.config
        if c.warmup_steps and step < c.warmup_steps:
            return (step + 1) / c.warmup_steps * self.lr_scale
        if c.schedule == "constant":
            return self.lr_scale
        p = self._progress(step)
        cosine = c.min_lr_ratio + (1 - c.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * p))
        return cosine * self.lr_scale

    def _back_to_best(self) -> dict[str, Any]:
        """After a validation that did not improve: the rate times ``plateau_decay`` from the
        next step on, and the model and optimiser back to the best checkpoint's (the rule
        "newbob" of speech and translation recipes: reject what over-fitted, go on slower).
        Without a run folder the weights stay. Returns what the metrics log records."""
        self.lr_scale *= self.config.plateau_decay
        back = {"lr_scale": self.lr_scale}
        if self.out_dir is not None and self.best_step is not None:
            path = self.out_dir / ckpt.CKPT_DIR / ckpt.step_name(self.best_step)
            self.model.load_state_dict(ckpt.load_weights(path))
            self.optimizer.load_state_dict(ckpt.load_train_state(path)["optimizer"])
            back["back_to_step"] = self.best_step
        self._apply_lr()
        return back

    def _apply_lr(self) -> None:
        """Set the optimiser's rate from the schedule now (a changed ``lr_scale`` applies to the
        next step, not one later)."""
        step = self.scheduler.last_epoch
        for group, base in zip(self.optimizer.param_groups, self.scheduler.base_lrs, strict=True):
            group["lr"] = base * self._lr_factor(step)

    # -- evaluation --------------------------------------------------------------------------

    def evaluate(self, data: Any = None) -> dict[str, float]:
        """``evaluate`` on ``data`` (default: the validation data) with this Trainer's loss."""
        return evaluate(
            self.model,
            self.loss_fn,
            self.val_data if data is None else data,
            self.metrics_fn,
            self.autocast_dtype,
        )

    # -- checkpoints -------------------------------------------------------------------------

    def _gather(self, obj: Any) -> list[Any]:
        if self.world == 1:
            return [obj]
        out: list[Any] = [None] * self.world
        dist.all_gather_object(out, obj)
        return out

    def _save(self, best: bool) -> None:
        flat = _flatten_state(self.carry)
        per_rank = self._gather(
            {
                "carry": [t.cpu() for t in flat] if flat is not None else None,
                "rng_torch": torch.get_rng_state(),
                "rng_python": list(random.getstate()[1]),
            }
        )
        if not self.main or self.out_dir is None:
            return
        state = {
            "step": self.step,
            "elapsed": self.elapsed,
            "best_value": self.best_value,
            "best_step": self.best_step,
            "bad_evals": self.bad_evals,
            "lr_scale": self.lr_scale,
            "ranked": [list(r) for r in self.ranked],
            "world": self.world,
            "carry_is_tuple": isinstance(self.carry, tuple),
            "ranks": per_rank,
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
        }
        keep = [ckpt.step_name(step) for _, step in self.ranked]
        ckpt.save_checkpoint(self.out_dir, self.step, self.model.state_dict(), state, best, keep)

    def _restore(self) -> None:
        path = ckpt.latest_checkpoint(self.out_dir)
        if path is None:
            raise RnnkitError(f"resume: {self.out_dir} has no complete checkpoint yet")
        ckpt.verify_checkpoint(path)
        try:
            self.model.load_state_dict(ckpt.load_weights(path))
        except RuntimeError:
            raise RnnkitError(f"the weights in {path} do not fit this run's model") from None
        state = ckpt.load_train_state(path)
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.step = int(state["step"])
        self.elapsed = float(state["elapsed"])
        self.best_value = state["best_value"]
        self.best_step = state["best_step"]
        self.bad_evals = int(state["bad_evals"])
        self.lr_scale = float(state.get("lr_scale", 1.0))  # runs from before plateau_decay
        self.ranked = [(float(v), int(s)) for v, s in state.get("ranked", [])]
        mine = state["ranks"][self.rank] if state["world"] == self.world else None
        if mine is not None:
            torch.set_rng_state(mine["rng_torch"])
            random.setstate((3, tuple(mine["rng_python"]), None))
            carry = mine["carry"]
            if carry is not None:
                carry = [t.to(self.device) for t in carry]
            self.carry = _unflatten_state(carry, state["carry_is_tuple"])
        self.resumed_from = self.step

    # -- the loop ----------------------------------------------------------------------------

    def _add_time(self, seconds: float) -> None:
        """Count training time; under DDP every rank takes the slowest rank's clock, so that a
        time-based schedule gives every rank the same learning rate."""
        self.elapsed += seconds
        if self.world > 1:
            t = torch.tensor([self.elapsed], dtype=torch.float64, device=self.device)
            dist.all_reduce(t, op=dist.ReduceOp.MAX)
            self.elapsed = float(t)

    def _should_stop(self) -> bool:
        c = self.config
        reason = None
        if c.max_steps and self.step >= c.max_steps:
            reason = StopReason("max_steps", c.max_steps)
        elif c.epochs and self.step >= c.epochs * len(self.train_data):
            reason = StopReason("epochs", c.epochs)
        elif c.max_time and (
            self.elapsed >= c.max_time
            or (self.stop_at is not None and time.monotonic() >= self.stop_at and self.step)
        ):
            reason = StopReason("max_time", c.max_time)
        elif c.patience and self.bad_evals >= c.patience:
            reason = StopReason("patience", c.patience)
        stop = torch.tensor([1.0 if reason else 0.0], device=self.device)
        if self.world > 1:  # every rank must leave the loop at the same step
            dist.all_reduce(stop, op=dist.ReduceOp.MAX)
        if stop.item() and reason is None:
            reason = StopReason("peer")
        self.stop_reason = reason
        return bool(stop.item())

    @property
    def _sign(self) -> int:
        """1 when ``monitor`` improves downwards (mode min), -1 upwards: sign * value ranks."""
        return 1 if self.config.mode == "min" else -1

    def _eval_and_save(self) -> dict[str, float]:
        metrics = self.evaluate() if self.val_data is not None else {}
        value = metrics.get(self.config.monitor)
        improved = False
        plateau: dict[str, Any] = {}
        # a validation cut short by a time budget covers fewer items than the others: it is
        # logged and checkpointed, but picks the best only when no validation has yet
        partial = bool(metrics.get("val_partial")) and self.best_value is not None
        if value is not None and not partial:
            sign = self._sign
            if self.best_value is None or sign * value < sign * self.best_value:
                self.best_value, self.best_step, self.bad_evals = value, self.step, 0
                improved = True
            else:
                self.bad_evals += 1
                if self.config.plateau_decay != 1:
                    plateau = self._back_to_best()
            self._rank(value)
        if self.log is not None and metrics:
            self.log.write(
                {"step": self.step, "elapsed": round(self.elapsed, 3), **metrics, **plateau}
            )
        self._save(best=improved)
        self._plot()
        return metrics

    def _rank(self, value: float) -> None:
        """Enter this step's ``value`` among the ``average`` best (the earlier step first on a
        tie, as for ``best``)."""
        k = self.config.average
        if k < 2 or self.out_dir is None:
            return
        sign = self._sign
        ranked = [r for r in self.ranked if r[1] != self.step] + [(value, self.step)]
        self.ranked = sorted(ranked, key=lambda r: (sign * r[0], r[1]))[:k]

    @torch.no_grad()
    def _average_best(self) -> dict[str, Any] | None:
        """Average the weights of the ranked checkpoints and validate the average; if it
        scores at least as well as the best checkpoint by ``monitor``, save it as checkpoint
        ``average`` (``best`` names it). The model keeps its own weights. Returns the steps
        averaged, whether the average was ``kept`` and its validation figures."""
        if len(self.ranked) < 2 or not self.main:
            return None
        root = self.out_dir / ckpt.CKPT_DIR
        weights = [ckpt.load_weights(root / ckpt.step_name(step)) for _, step in self.ranked]
        average = {
            name: torch.stack([w[name].float() for w in weights]).mean(0).to(first.dtype)
            if first.is_floating_point() else first
            for name, first in weights[0].items()
        }  # fmt: skip
        trained = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        self.model.load_state_dict(average)
        try:
            metrics = self.evaluate() if self.val_data is not None else {}
        finally:
            self.model.load_state_dict(trained)
        steps = [step for _, step in self.ranked]
        value = metrics.get(self.config.monitor)
        sign = self._sign
        comparable = value is not None and self.best_value is not None
        # a validation cut short by a time budget covers other items: kept, as before the check
        comparable = comparable and not metrics.get("val_partial")
        kept = not comparable or sign * value <= sign * self.best_value
        if self.log is not None:
            self.log.write({"step": self.step, "averaged_steps": steps, "kept": kept, **metrics})
        if kept:
            state = ckpt.load_train_state(ckpt.latest_checkpoint(self.out_dir))
            ckpt.save_average(self.out_dir, self.step, average, state, self.best_step)
        return {"steps": steps, "kept": kept, **metrics}

    def _plot(self, final: bool = False) -> None:
        """Redraw loss.png: at the end, and during the run at most every PLOT_EVERY_S seconds
        (drawing costs about as much as many small training steps)."""
        now = time.monotonic()
        if self.main and self.log is not None and (final or now - self._plotted >= PLOT_EVERY_S):
            plot_losses(self.log.read(), self.out_dir / "loss.png")
            self._plotted = now

    def fit(self) -> dict[str, Any]:
        """Train until a stopping rule fires; return a summary (steps, losses, paths, reason)."""
        c, data = self.config, self.train_data
        n = len(data)
        self.model.train()
        total = c.max_steps or (c.epochs * n if c.epochs else None)
        bar = tqdm(
            total=total,
            initial=self.step,
            disable=not (c.progress and self.main),
            unit="step",
            dynamic_ncols=True,
            mininterval=0.5,
        )
        window_loss, window_items, window_time = 0.0, 0, 0.0
        last_val: dict[str, float] = {}
        evaluated_at = self.resumed_from
        while not self._should_stop():
            epoch, index = divmod(self.step, n)
            if index == 0:
                self.carry = None
            t0 = time.perf_counter()
            batch = to_device(data.batch(epoch, index), self.device)
            with amp.autocast(self.device, self.autocast_dtype):
                out = self.loss_fn(self.train_model, batch, self.carry)
            self.optimizer.zero_grad(set_to_none=True)
            out.loss.float().backward()  # outside autocast; a float32 loss
            if c.clip > 0:
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), c.clip)
            self.optimizer.step()
            self.step += 1
            self.carry = None
            if getattr(data, "stateful", False):
                self.carry = detach_state(
                    out.state, self.param_dtype if self.autocast_dtype else None
                )
            loss = float(out.loss.detach())
            if not math.isfinite(loss):
                raise RnnkitError(f"the loss became {loss} at step {self.step}: lower lr or clip")
            dt = time.perf_counter() - t0
            self._add_time(dt)
            self.scheduler.step()
            window_loss += loss
            window_items += out.count * self.world
            window_time += dt
            if self.step % c.log_every == 0:
                record = {
                    "step": self.step,
                    "epoch": round(self.step / n, 4),
                    "loss": window_loss / c.log_every,
                    "lr": self.optimizer.param_groups[0]["lr"],
                    f"{self.unit}_per_s": round(window_items / max(window_time, 1e-9), 1),
                    "elapsed": round(self.elapsed, 3),
                }
                if self.log is not None:
                    self.log.write(record)
                bar.set_postfix(
                    loss=f"{record['loss']:.3f}",
                    **{f"{self.unit}/s": f"{record[f'{self.unit}_per_s']:.0f}"},
                    **({"val": f"{last_val['val_loss']:.3f}"} if last_val else {}),
                )
                window_loss, window_items, window_time = 0.0, 0, 0.0
            bar.update(1)
            if self.on_step is not None:
                self.on_step(self)
            if self.step % c.eval_every == 0:
                t1 = time.perf_counter()
                last_val = self._eval_and_save()
                self._add_time(time.perf_counter() - t1)
                evaluated_at = self.step
        if evaluated_at != self.step:
            last_val = self._eval_and_save()
        averaged = self._average_best()
        self._plot(final=True)
        bar.close()
        if self.val_data is not None and not last_val:
            last_val = self.evaluate()
        return {
            "steps": self.step,
            "elapsed_s": round(self.elapsed, 2),
            "stop_reason": asdict(self.stop_reason) if self.stop_reason else None,
            "best_step": self.best_step,
            "best_value": self.best_value,
            **({"averaged": averaged} if averaged else {}),
            **last_val,
            "out_dir": str(self.out_dir) if self.out_dir else None,
            "config": asdict(c),
        }
