"""The one driver: ``fit`` trains any registered task into a run folder, ``load_run`` brings any
run back.

``fit`` owns everything a task does not: checking every setting before a file is written, the
run folder (``config.json`` with the data, model and training settings; the task's artefacts;
both inside every checkpoint's checksum manifest), the device, data-parallel processes, the
Trainer, reloading the best checkpoint, the companion models a task declares (trained by
``rnnkit.runs.companions`` or loaded here), the test and ``results.json``::

    results = rnnkit.fit("classify", data={"dataset": "sentiment-movies"},
                         model={"hidden_size": 64}, train={"epochs": 5}, out="runs/movies")
    run = rnnkit.load_run("runs/movies")
    run.predict(["A gorgeous, witty, seductive movie."])
    run.evaluate("more-reviews.csv")
"""

from __future__ import annotations

import functools
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from rnnkit.errors import RnnkitError
from rnnkit.runs.companions import companion_steps, load_refit, train_companion, train_refit
from rnnkit.runs.pretrain import pretrain, pretrained_summary
from rnnkit.tasks.base import (
    LoadedCompanion,
    LoadedModel,
    Refit,
    Splits,
    Task,
    TrainedModel,
    get_task,
)
from rnnkit.tasks.phase import TestPhase
from rnnkit.train import checkpoint as ckpt
from rnnkit.train.distributed import launch, rank_world, under_torchrun
from rnnkit.train.metrics import MetricsLog
from rnnkit.train.trainer import TrainConfig, Trainer

MAX_PARAMS = 500_000_000
STOP_RULES = ("max_steps", "max_time", "epochs")
TEST_SETTINGS = ("test_time", "test_limit")  # the test phase's bounds: not the model's
RESUME_CHANGES = (*STOP_RULES, *TEST_SETTINGS, "progress")  # what a resumed run may change
# with --max-time T and no --test-time, the whole of `fit` ends within T + time_margin(T) (plus
# a few items' decodings) after `started`: the margin M is shared out, so that training stops
# by T + M * TRAIN_SHARE (a slow set-up takes from training, not from the end), validations
# (the last one comes after training) stop decoding by T + M * VAL_SHARE, the baselines and
# the test phase by T + M * (1 - END_SHARE), which leaves the rest for the test's pictures and
# results.json; the test phase always gets at least MIN_TEST_S (its first chunk of items runs
# whatever the time left: a larger floor pushed a slow machine's command past the bound, the
# last validation having run into the test's share)
TRAIN_SHARE = 1 / 3
VAL_SHARE = 2 / 3
END_SHARE = 0.1
MIN_TEST_S = 2.0
SECTIONS = ("data", "model", "train")


def pick_device(name: str) -> torch.device:
    """``auto``: CUDA (this process's LOCAL_RANK) when there is one, else the CPU."""
    if name == "cuda" and not torch.cuda.is_available():
        raise RnnkitError("device cuda was asked for, but torch sees no CUDA device")
    if name in ("auto", "cuda") and torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return torch.device("cpu")


def make_task(name: str, data: dict, model: dict, saved: bool = False) -> Task:
    """The task ``name`` with its settings: the task's defaults, then ``data`` and ``model``.

    ``saved``: the settings come from a run's config.json, where a setting the run predates
    means what the task's ``absent`` says (the behaviour before it), not today's default."""
    cls = get_task(name)
    old = cls.absent if saved else {}
    d = cls.Data.from_dict({**cls.defaults.get("data", {}), **old.get("data", {}), **data})
    m = cls.Model.from_dict({**cls.defaults.get("model", {}), **old.get("model", {}), **model})
    return cls(d, m)


def read_config(run_dir: Path) -> dict[str, Any]:
    config = ckpt.read_json(run_dir / "config.json", "run config")
    if not isinstance(config, dict) or not all(isinstance(config.get(s), dict) for s in SECTIONS):
        raise RnnkitError(f"run config is malformed (needs data, model, train): {run_dir}")
    return config


def read_artefacts(run_dir: Path, task: Task) -> None:
    names = ckpt.run_info(run_dir).get("artefacts", [])
    task.restore({n: ckpt.read_json(run_dir / n, f"artefact {n}") for n in names})


def count_parameters(task: Task) -> int:
    """The model's size, built on the meta device (no memory, no initialisation cost)."""
    with torch.device("meta"):
        return task.build_model().num_parameters()


def build_kernels(task: Task, config: TrainConfig) -> None:
    """Compile rnnkit's C++ kernels now (once per source version and machine, then cached),
    so that the first training step, and a time budget, do not pay for it."""
    if (
        getattr(task.model, "backend", "rnnkit") == "rnnkit"
        and pick_device(config.device).type == "cpu"
    ):
        from rnnkit.kernels import get_kernel

        get_kernel(device_type="cpu")


def fit(
    task: str,
    *,
    data: dict[str, Any] | None = None,
    model: dict[str, Any] | None = None,
    train: dict[str, Any] | None = None,
    out: str | Path,
    resume: bool = False,
    nproc: int = 1,
    started: float | None = None,
) -> dict[str, Any]:
    """Train task ``task`` into run folder ``out`` and test it; return the results.

    ``data``, ``model`` and ``train`` are settings by name (see ``rnnkit train TASK --help``, or
    the task's ``Data`` and ``Model`` classes and ``TrainConfig``); missing ones take the task's
    defaults. With ``resume``, the run in ``out`` continues with its own settings: only the
    stopping rules (max_steps, max_time, epochs) and ``nproc`` may change. Returns what
    results.json holds (an empty dict on ranks other than 0 under torchrun). ``started``: the
    ``time.monotonic()`` a ``max_time`` budget counts from (default: now; the command line
    gives its process's start, so that importing and reading count too).
    """
    started = time.monotonic() if started is None else started
    data, model = dict(data or {}), dict(model or {})
    # an unset stop rule is absent, so that the task's default rule applies
    train = {k: v for k, v in (train or {}).items() if not (k in STOP_RULES and v is None)}
    if not 1 <= nproc <= 256:
        raise RnnkitError(f"nproc must be in [1, 256], got {nproc}")
    out = Path(out)
    if resume:
        ckpt.prepare_run_dir(out, task, resume=True)  # only checks there is a run to resume
        other = sorted(set(data) | set(model) | (set(train) - set(RESUME_CHANGES)))
        if other:
            raise RnnkitError(
                f"resume keeps the run's settings; only {', '.join(RESUME_CHANGES)} and nproc "
                f"may change (got {', '.join(other)})"
            )
        saved = read_config(out)
        the_task = make_task(task, saved["data"], saved["model"], saved=True)
        read_artefacts(out, the_task)
        changes = {k: train[k] for k in ("progress", *TEST_SETTINGS) if k in train}
        if any(k in train for k in STOP_RULES):  # new stop rules replace the old ones
            changes.update({k: train.get(k) for k in STOP_RULES})
        train_cfg = TrainConfig.from_dict({**saved["train"], **changes})
    else:
        the_task = make_task(task, data, model)
        defaults = type(the_task).defaults.get("train", {})
        if any(train.get(k) is not None for k in STOP_RULES):  # the user's rules replace ours
            defaults = {k: v for k, v in defaults.items() if k not in STOP_RULES}
        train_cfg = TrainConfig.from_dict({**defaults, **train})
    splits = the_task.prepare()  # reads and splits the data, fits artefacts unless restored
    _check_loaded_companions(the_task)
    train_cfg.monitor, train_cfg.mode = the_task.monitor
    the_task.model.validate()
    size = count_parameters(the_task)
    if size > MAX_PARAMS:
        raise RnnkitError(
            f"the model would have {size:,} parameters (limit {MAX_PARAMS:,}): lower "
            "hidden_size, num_layers or embed_dim"
        )
    world = int(os.environ["WORLD_SIZE"]) if under_torchrun() else nproc
    the_task.batch_sources(splits, 0, world, 0)  # data too small for the batches fails here
    build_kernels(the_task, train_cfg)
    # validation decodings show a passing bar (one process: no bars from every rank)
    the_task.phase = validation_phase(train_cfg, started, train_cfg.progress and world == 1)
    # a run killed before its first checkpoint starts again from step 0 with its settings
    from_checkpoint = resume and ckpt.latest_checkpoint(out) is not None
    args = (the_task, splits, train_cfg.to_dict(), str(out), from_checkpoint,
            training_deadline(train_cfg, started))  # fmt: skip
    if under_torchrun() and world > 1 and the_task.pretraining(splits) is not None:
        raise RnnkitError(
            "pretraining runs in the process that owns the run folder: use --nproc N, not "
            "torchrun, or turn pretraining off"
        )
    if under_torchrun() and int(os.environ["RANK"]) != 0:
        launch(_train_worker, nproc, *args)  # rank 0 owns the run folder and reports
        return {}
    ckpt.check_run_dir(out, task, resume)  # before the lock file, so a refusal leaves no trace
    with ckpt.run_lock(out):
        return _fit_locked(the_task, splits, train_cfg, out, resume, from_checkpoint, nproc,
                           started, args[-1])  # fmt: skip


def time_margin(max_time: float) -> float:
    """What ``fit`` may take beyond ``max_time`` seconds of training: set-up, the last
    validation and the test phase together."""
    return max(30.0, max_time / 4)


def training_deadline(config: TrainConfig, started: float) -> float | None:
    """With ``max_time``: the ``time.monotonic()`` by which training stops, however little of
    ``max_time`` it has had (``TRAIN_SHARE`` of the margin after ``max_time``)."""
    if not config.max_time:
        return None
    return started + config.max_time + TRAIN_SHARE * time_margin(config.max_time)


def validation_phase(config: TrainConfig, started: float, progress: bool) -> TestPhase:
    """How validations decode during training: ``val_limit`` items (the same sample each
    time), and with ``max_time`` no later than ``VAL_SHARE`` of the margin after it (the last
    validation, after training, is the one this cuts short)."""
    seconds = None
    if config.max_time:
        seconds = config.max_time + VAL_SHARE * time_margin(config.max_time)
    return TestPhase(progress=progress, seconds=seconds, limit=config.val_limit, started=started)


def bounded_phase(config: TrainConfig, started: float) -> TestPhase:
    """The test phase's bounds: ``test_time`` seconds from now, or with ``max_time`` what is
    left of ``max_time + time_margin(max_time)`` since ``started``, less ``END_SHARE`` of the
    margin for what follows the phase (at least ``MIN_TEST_S``); otherwise none.
    ``test_limit`` items at most."""
    now = time.monotonic()
    seconds = config.test_time
    if seconds is None and config.max_time:
        end = started + config.max_time + (1 - END_SHARE) * time_margin(config.max_time)
        seconds = max(end - now, MIN_TEST_S)
    return TestPhase(progress=config.progress, seconds=seconds, limit=config.test_limit,
                     started=now)  # fmt: skip


def zero_figures(run_dir: Path) -> list[str]:
    """A warning for each validation figure that was 0 at every validation: it cannot pick a
    checkpoint (the best stays the first) nor stop training for a reason."""
    rows = [r for r in MetricsLog(run_dir / "metrics.jsonl").read()
            if any(k.startswith("val_") for k in r) and "averaged_steps" not in r]  # fmt: skip
    names = sorted({k for r in rows for k, v in r.items()
                    if k.startswith("val_") and isinstance(v, int | float)})  # fmt: skip
    return [f"{name} was 0 at every validation ({len(rows)}): it cannot tell the checkpoints "
            "apart, so the first one is kept as the best"
            for name in names if all(r.get(name) == 0 for r in rows)]  # fmt: skip


def _fit_locked(
    the_task: Task, splits: Splits, train_cfg: TrainConfig, out: Path, resume: bool,
    from_checkpoint: bool, nproc: int, started: float, stop_at: float | None,
) -> dict[str, Any]:  # fmt: skip
    """``fit`` past the checks, holding the run folder's lock."""
    task = the_task.name
    config = {
        "task": task,
        "data": the_task.data.to_dict(),
        "model": the_task.model.to_dict(),
        "train": train_cfg.to_dict(),
    }
    files = {"config.json": config, **the_task.artefacts()}
    run_dir = ckpt.prepare_run_dir(out, task, resume, files)
    if resume and not from_checkpoint:
        for stale in ("metrics.jsonl", "loss.png"):  # of steps that are about to be redone
            (run_dir / stale).unlink(missing_ok=True)
    summary_path = run_dir / "summary.json"
    summary_path.unlink(missing_ok=True)
    # the model starts from the pretrained weights, unless it resumes from a checkpoint
    spec = the_task.pretraining(splits)
    pretrained = None
    if spec is not None and from_checkpoint:  # pretrained before it was cut off
        pretrained = pretrained_summary(run_dir, spec.name)
    elif spec is not None:
        pretrained = pretrain(spec, train_cfg.to_dict(), run_dir, pick_device(train_cfg.device))
    init = None if from_checkpoint or not pretrained else pretrained["checkpoint"]
    launch(_train_worker, nproc, the_task, splits, train_cfg.to_dict(), str(out), from_checkpoint,
           stop_at, init)  # fmt: skip
    summary = ckpt.read_json(summary_path, "training summary")
    best = the_task.build_model()
    best.load_state_dict(ckpt.load_weights(ckpt.resolve_checkpoint(run_dir)))
    best.eval()
    device = next(best.parameters()).device  # companions train where the test runs
    the_task.use_companions(_test_companions(the_task, splits, run_dir, device))
    the_task.phase = bounded_phase(train_cfg, started)
    warnings = zero_figures(run_dir)
    results = {
        "task": task,
        **splits.info,
        **the_task.test(best, splits, run_dir),
        "training": {
            k: summary[k]
            for k in ("steps", "elapsed_s", "stop_reason", "best_step", "best_value", "averaged")
            if k in summary
        },
        **({"warnings": warnings} if warnings else {}),
    }
    if pretrained:
        results["pretraining"] = {k: v for k, v in pretrained.items() if k != "checkpoint"}
    ckpt.atomic_write_json(run_dir / "results.json", results)
    return results


def _train_worker(
    task: Task, splits: Splits, train_cfg: dict, run_dir: str, resume: bool,
    stop_at: float | None = None, init: str | None = None,
) -> None:  # fmt: skip
    """One training process (rank): its model (started from the pretrained checkpoint ``init``
    when there is one), its share of the batches, the Trainer (which stops by ``stop_at``, a
    ``time.monotonic()``, when given)."""
    rank, world = rank_world()
    config = TrainConfig.from_dict(train_cfg)
    device = pick_device(config.device)
    torch.manual_seed(config.seed)
    model = task.build_model()
    if init is not None:
        task.start_from(model, ckpt.load_weights(Path(init)))
    model = model.to(device)
    train, val = task.batch_sources(splits, rank, world, config.seed)
    metrics_fn = (
        None if task.metrics is None else functools.partial(task.metrics, examples=splits.val)
    )
    trainer = Trainer(
        model, task.loss, train, val, config=config, out_dir=run_dir, resume=resume,
        unit=task.unit, metrics_fn=metrics_fn, stop_at=stop_at,
    )  # fmt: skip
    summary = trainer.fit()
    if rank == 0:
        ckpt.atomic_write_json(Path(run_dir) / "summary.json", summary)


def _test_companions(
    task: Task, splits: Splits, run_dir: Path, device: torch.device
) -> dict[str, TrainedModel | LoadedModel]:
    """What the task's test needs besides its model, by name: companions and the refit trained
    now (companions for as many steps as they ask, none when that is 0) and companion runs
    loaded."""
    given: dict[str, TrainedModel | LoadedModel] = {}
    for companion in task.companions("test"):
        if isinstance(companion, LoadedCompanion):
            given[companion.name] = load_companion(companion)
            continue
        if isinstance(companion, Refit):
            train = read_config(run_dir)["train"]
            given[companion.name] = train_refit(task, companion, train, run_dir, device)
            continue
        steps = companion_steps(companion, run_dir)
        if steps:
            train = read_config(run_dir)["train"]
            given[companion.name] = train_companion(
                task, companion, splits, train, run_dir, steps, device
            )
    return given


def _check_loaded_companions(task: Task) -> None:
    """The runs the task's test will load (speech's ``--lm``), loaded and handed to it now, so
    that a run of the wrong task or one that does not fit is refused before training, not
    after it (where a resume would meet the same refusal every time)."""
    loaded = {c.name: load_companion(c) for c in task.companions("test")
              if isinstance(c, LoadedCompanion)}  # fmt: skip
    if loaded:
        task.use_companions(loaded)


def load_companion(companion: LoadedCompanion) -> LoadedModel:
    """The companion's run, refused unless it is a run of the task it names."""
    run = load_run(companion.run, task=companion.task)
    return LoadedModel(run.model, run.task)


@dataclass
class LoadedRun:
    """A trained run: its task (settings and artefacts restored), model, config and folder."""

    task: Task
    model: nn.Module
    config: dict[str, Any]
    run_dir: Path
    # companion runs loaded so far, by (folder, task): loaded once however often they are used
    loaded: dict[tuple[str, str], LoadedModel] = field(default_factory=dict, repr=False)
    refits: dict[str, TrainedModel] = field(default_factory=dict, repr=False)  # by name, loaded

    def evaluate(self, data: str | Path | None = None) -> dict[str, Any]:
        """Figures on labelled ``data`` (a file in the task's format), or by default on the
        run's own test split, re-read and re-split as in training."""
        self.use_companions("score")  # a wrong --lm is refused before the data is read
        if data is None:
            examples, source = self.task.prepare().test, "the run's test split"
        else:
            examples, source = self.task.read_examples(str(data)), str(data)
        with torch.no_grad():
            return {"data": source, **self.task.score(self.model, examples)}

    def predict(self, inputs: list[Any], **decoding: Any) -> list[dict[str, Any]]:
        """One JSON-ready row per input (texts, or what the task's ``parse_input`` makes);
        ``decoding``: the options the task's ``decoding`` names (``beam=1``, ...)."""
        self.use_companions("predict")
        with torch.no_grad():
            return self.task.predict(self.model, inputs, **decoding)

    def use_companions(self, purpose: str) -> None:
        """Hand the task the companion runs ``purpose`` needs, as its settings are now (a
        command may have changed them since the run was loaded)."""
        given: dict[str, TrainedModel | LoadedModel] = {}
        for companion in self.task.companions(purpose):
            if isinstance(companion, Refit):  # trained by the run's test, kept in its folder
                if companion.name not in self.refits:
                    self.refits[companion.name] = load_refit(companion, self.run_dir)
                given[companion.name] = self.refits[companion.name]
                continue
            if not isinstance(companion, LoadedCompanion):
                raise TypeError(f"{self.task.name}: a trained companion is for the test only")
            key = (str(Path(companion.run).resolve()), companion.task)
            if key not in self.loaded:
                self.loaded[key] = load_companion(companion)
            given[companion.name] = self.loaded[key]
        self.task.use_companions(given)


def load_run(run_dir: str | Path, which: str = "best", *, task: str | None = None) -> LoadedRun:
    """The ``best`` (or ``latest``) checkpoint of any run, verified against its manifest;
    with ``task``, a run of any other task is refused (RnnkitError) before its weights load."""
    run_dir = Path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise RnnkitError(f"{run_dir} is a file; give the run folder that training wrote")
    path = ckpt.resolve_checkpoint(run_dir, which)  # checks the folder and every checksum
    name = ckpt.run_info(run_dir)["task"]
    _check_task(run_dir, name, task)
    config = read_config(run_dir)
    task = make_task(name, config["data"], config["model"], saved=True)
    read_artefacts(run_dir, task)
    if (run_dir / "results.json").is_file():
        task.restore_results(ckpt.read_json(run_dir / "results.json", "results"))
    model = task.build_model()
    ckpt.load_into(model, path)
    model.eval()
    return LoadedRun(task, model, config, run_dir)


def as_run(run: str | Path | LoadedRun, task: str, which: str = "best") -> LoadedRun:
    """``run`` itself when it is already loaded, else ``load_run(run, which)``; either way a
    run of a task other than ``task`` is refused."""
    if isinstance(run, LoadedRun):
        _check_task(run.run_dir, run.task.name, task)
        return run
    return load_run(run, which, task=task)


def _check_task(run_dir: Path, name: str, task: str | None) -> None:
    """The one check that a run folder holds a run of the task a command needs."""
    if task is not None and name != task:
        raise RnnkitError(f"{run_dir} holds a {name!r} run, not a {task!r} run")
