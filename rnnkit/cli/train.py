"""``rnnkit train TASK``: one sub-command per registered task, its flags derived from the task's
data and model settings and the Trainer's (``rnnkit.cli.flags``)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rnnkit.cli.flags import add_settings, emit, number, section_values
from rnnkit.errors import RnnkitError
from rnnkit.runs.driver import RESUME_CHANGES, STOP_RULES

DEFAULT_STOP_HELP = " (default when no stop rule is given: {})"


def register(subparsers: Any) -> None:
    from rnnkit.data import named
    from rnnkit.tasks.base import get_task, task_names
    from rnnkit.train.trainer import TrainConfig

    p = subparsers.add_parser(
        "train",
        help="train a model (rnnkit train TASK --help)",
        description="Train a model. Pick a task; each has its own --help.",
    )
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])
    tasks = p.add_subparsers(dest="train_task", metavar="TASK")
    for name in task_names():
        task = get_task(name)
        t = tasks.add_parser(name, help=task.help, description=task.description)
        datasets = named.names(name)
        extra = {"dataset": f": {', '.join(datasets)}"} if datasets else {}
        add_settings(t.add_argument_group("data"), task.Data, "data",
                     task.defaults.get("data"), extra)  # fmt: skip
        add_settings(t.add_argument_group("model"), task.Model, "model", task.defaults.get("model"))
        train_defaults = dict(task.defaults.get("train", {}))
        stops = {k: train_defaults.pop(k) for k in STOP_RULES if k in train_defaults}
        stop_help = {k: DEFAULT_STOP_HELP.format(v) for k, v in stops.items()}
        add_settings(t.add_argument_group("training"), TrainConfig, "train", train_defaults,
                     stop_help)  # fmt: skip
        r = t.add_argument_group("run")
        r.add_argument("--out", metavar="DIR", default=f"runs/{name}",
                       help="run folder, new or empty (default: %(default)s)")  # fmt: skip
        resume_help = "continue the run in --out (stop rules, test bounds and --nproc may change)"
        r.add_argument("--resume", action="store_true", help=resume_help)
        r.add_argument("--nproc", type=number(int, 1, 256), default=1,
                       help="data-parallel processes (default: 1)")  # fmt: skip
        r.add_argument("--quiet", action="store_true", help="no progress bar")
        r.add_argument("--json", action="store_true", help="print the results as JSON")
        defaults = {a.dest: a.default for a in t._actions if "." in a.dest}
        t.set_defaults(func=run, task=name, parser_defaults=defaults)


def run(args: argparse.Namespace) -> int:
    from rnnkit.runs.driver import fit
    from rnnkit.tasks.base import get_task

    train = {**section_values(args, "train"), "progress": not args.quiet}
    if args.resume:
        changed = changed_settings(args)
        if changed:
            raise RnnkitError(
                f"--resume continues the run with its own settings; drop {', '.join(changed)} "
                "(only --max-steps, --max-time, --epochs, --test-time, --test-limit and --nproc "
                "may change)"
            )
        keep = RESUME_CHANGES
        sections = {"train": {k: train[k] for k in keep if train[k] is not None}}
    else:
        sections = {s: section_values(args, s) for s in ("data", "model")}
        sections["train"] = train
    results = fit(args.task, **sections, out=args.out, resume=args.resume, nproc=args.nproc,
                  started=getattr(args, "started", None))  # fmt: skip
    if not results:
        return 0  # a rank other than 0 under torchrun: rank 0 reports
    text = describe_training(results, args.out) + "\n" + get_task(args.task).format_results(results)
    emit(results, args.json, text)
    return 0


def changed_settings(args: argparse.Namespace) -> list[str]:
    """The setting flags given a value that is neither the default nor the run's own (so the
    command that started a run, with --resume added, continues it), stop rules aside."""
    from rnnkit.runs.driver import read_config

    try:
        saved = read_config(Path(args.out))
    except RnnkitError:
        return []  # no readable run: fit says what is wrong
    changed = []
    for dest, default in args.parser_defaults.items():
        section, name = dest.split(".", 1)
        value = getattr(args, dest)
        if name not in RESUME_CHANGES and value != default and value != saved[section].get(name):
            changed.append("--" + name.replace("_", "-"))
    return changed


def describe_training(results: dict[str, Any], out: str) -> str:
    s = results["training"]
    reason = s["stop_reason"]
    why = "" if reason is None else f" ({stop_text(reason)})"
    warnings = "".join(f"\nwarning: {w}" for w in results.get("warnings", []))
    return (
        f"Trained {s['steps']} steps in {s['elapsed_s']:.0f} s{why}. Run folder: {out} "
        f"(results.json, metrics.jsonl, loss.png){warnings}"
    )


def stop_text(reason: dict[str, Any]) -> str:
    """A stop reason (``StopReason`` as a dict) in the command line's words."""
    rule, limit = reason["rule"], reason.get("limit")
    if rule == "patience":
        return f"early stop: no better validation figure in {limit:g} evaluations"
    if rule == "peer":
        return "another process stopped"
    return f"reached --{rule.replace('_', '-')} {limit:g}"
