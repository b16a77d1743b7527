"""``rnnkit evaluate RUN``: a trained run's figures on its test split or on a new labelled file."""

from __future__ import annotations

import argparse
from typing import Any

from rnnkit.cli.flags import add_flag, emit, section_values


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "evaluate",
        help="score a trained model on its test split or on a labelled file",
        description="Score the best checkpoint of any run on --data FILE (in the format the task "
        "trains on), or by default on the run's own held-out split.",
    )
    p.add_argument("dir", metavar="RUN", help="run folder written by `rnnkit train TASK`")
    p.add_argument("--data", metavar="FILE", help="labelled data in the task's format")
    add_input_settings(p)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def add_input_settings(p: argparse.ArgumentParser) -> None:
    """The data settings a task lets a new file override (which column holds what), spelled
    and parsed (type, range) as ``rnnkit train`` does; not given: the run's own."""
    from rnnkit.tasks.base import get_task, task_names

    group = p.add_argument_group("columns of a new file (default: the run's own)")
    seen: set[str] = set()
    for name in task_names():
        task = get_task(name)
        for setting in task.input_settings:
            if setting in seen:
                continue
            seen.add(setting)
            help_text = task.Data.__dataclass_fields__[setting].metadata["help"]
            add_flag(group, task.Data, setting, f"input.{setting}", None, help_text)


def run_with_inputs(args: argparse.Namespace):
    """``load_run(args.dir)`` with the column flags given applied to the run's data settings."""
    from rnnkit.runs.driver import load_run

    run = load_run(args.dir)
    given = {k: v for k, v in section_values(args, "input").items() if v is not None}
    allowed = {k: v for k, v in given.items() if k in run.task.input_settings}
    if allowed:
        run.task.data = run.task.data.replace(**allowed)
    return run


def run(args: argparse.Namespace) -> int:
    run_ = run_with_inputs(args)
    r = run_.evaluate(args.data)
    emit(r, args.json, f"{r['data']}: {run_.task.format_scores(r)}")
    return 0
