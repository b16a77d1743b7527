"""Kill storm: each task's training is killed with SIGKILL again and again and resumed each time
with ``--resume``; the run must end at the right step with every checkpoint matching its
manifest, and its final weights must be ``torch.equal`` to an uninterrupted run's.

Kills land at random moments (set-up, before the first checkpoint, inside checkpoint writes,
during the test), or with ``--moments`` at the moments named in turn: ``checkpoint`` (as soon
as a new checkpoint is named), ``test`` (after training, while the test phase runs: the
attempt's own ``summary.json`` is there and ``results.json`` is not); a round whose run ends
before its moment counts no kill, and the next round takes the next moment. Every task of
``tests/test_task_contract.py``'s ``CASES`` (the eleven built-in tasks) with tiny models::

    .venv/bin/python bench/kill_storm.py                     # 11 tasks x 20 kills (an hour or so)
    .venv/bin/python bench/kill_storm.py --tasks chat speech --kills 5

It prints one line per task as it goes (kills, rounds, seconds, corrupt checkpoints, weights
equal), with the time the task's storm should take (its uninterrupted run times 2 + kills / 2:
a kill lands at a random moment of a run, and a resume does the rest), then a summary table,
and exits 1 if any task fails. ``--doc docs/reliability.md`` writes that table between the
file's ``kill_storm`` markers. ``tests/test_kill_storm.py`` runs a two-kill version in the
suite.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # the task cases live in the test suite
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from rnnkit.errors import RnnkitError  # noqa: E402
from rnnkit.files import replace_marked_block  # noqa: E402
from rnnkit.train import checkpoint as ckpt  # noqa: E402

STEPS = 60
KILLS = 20
MOMENTS = ("checkpoint", "test")
MOMENT_LIMIT = 300  # s: a run that has not reached its named moment by then is killed anyway
MARKER = ("<!-- kill_storm: begin -->", "<!-- kill_storm: end -->")


def without_stop_rules(flags: list) -> list:
    out, skip = [], False
    for f in flags:
        if skip:
            skip = False
        elif f in ("--epochs", "--max-steps"):
            skip = True
        else:
            out.append(f)
    return out


def command(task: str, flags: list, out: Path, resume: bool, steps: int = STEPS) -> list[str]:
    flags = without_stop_rules(flags)
    tiny = ["--hidden-size", "12", "--num-layers", "1", "--eval-every", "4", "--patience", "1000"]
    argv = ["train", task, *flags, *tiny, "--max-steps", str(steps), "--out", out, "--quiet"]
    return [sys.executable, "-m", "rnnkit.cli.main", *map(str, argv), *(["--resume"] * resume)]


def latest(out: Path) -> Path | None:
    try:
        return ckpt.latest_checkpoint(out)
    except Exception:  # noqa: BLE001  (a folder being set up: none yet)
        return None


def reached(out: Path, moment: str, before: Path | None, since: float) -> bool:
    """Whether the run started at ``since`` (wall clock) has reached ``moment`` (see the
    module docstring): a checkpoint other than ``before``, or a summary of its own training."""
    if moment == "checkpoint":
        return latest(out) not in (None, before)
    try:
        own = (out / "summary.json").stat().st_mtime >= since
    except FileNotFoundError:
        return False
    return own and not (out / "results.json").is_file()


def kill_at(proc: subprocess.Popen, out: Path, moment: str, limit: float, before: Path | None,
            since: float) -> bool:  # fmt: skip
    """SIGKILL ``proc`` once the run reaches ``moment``; False if it ended first."""
    deadline = time.monotonic() + limit
    while proc.poll() is None and time.monotonic() < deadline:
        if reached(out, moment, before, since):
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return True
        time.sleep(0.005)
    if proc.poll() is None:  # never got there: kill it wherever it is
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        return True
    return False


@dataclass
class Storm:
    task: str
    kills: int
    rounds: int
    seconds: float
    steps: int
    corrupt: list[str]
    unequal: list[str]

    @property
    def ok(self) -> bool:
        return not self.corrupt and not self.unequal

    def line(self) -> str:
        equal = "yes" if not self.unequal else "NO: " + ", ".join(self.unequal)
        return (f"{self.task:10s} kills {self.kills:3d}  rounds {self.rounds:3d}  "
                f"{self.seconds:6.0f} s  steps {self.steps}  corrupt {len(self.corrupt)}  "
                f"weights equal {equal}")  # fmt: skip


def storm(task: str, flags: list, tmp: Path, kills: int = KILLS, moments: tuple[str, ...] = (),
          steps: int = STEPS, seed: int | None = None) -> Storm:  # fmt: skip
    """Train ``task`` once uninterrupted into ``tmp/reference``, then into ``tmp/storm`` with
    ``kills`` SIGKILLs and resumes (at random moments, or at ``moments`` in turn), and compare."""
    started = time.perf_counter()
    reference = tmp / "reference"
    ref_argv = command(task, flags, reference, False, steps)
    if moments:
        # Kills at named moments need no run time to draw from: the uninterrupted run goes on
        # beside the storm (a tiny model's run is mostly single-threaded start-up and Python,
        # so two share the 2 cores well, and the thread count, which the weights depend on,
        # is the same), and a run that never reaches its moment is killed after LIMIT s.
        whole, ref_proc = None, subprocess.Popen(ref_argv, stdout=subprocess.DEVNULL,
                                                 stderr=subprocess.PIPE)  # fmt: skip
    else:
        t0 = time.perf_counter()
        subprocess.run(ref_argv, check=True, capture_output=True)
        whole, ref_proc = time.perf_counter() - t0, None  # one run, start-up included
        print(f"{task}: one run takes {whole:.0f} s; the storm about "
              f"{whole * (2 + kills / 2) / 60:.1f} min", flush=True)  # fmt: skip
    out, rng, done, rounds = tmp / "storm", random.Random(task if seed is None else seed), 0, 0
    while done < kills:
        rounds += 1
        if rounds > 10 * kills:
            raise RuntimeError(f"{task}: the runs keep finishing before the kill")
        resume = (out / ckpt.RUN_FILE).is_file()
        before, since = latest(out), time.time()
        proc = subprocess.Popen(command(task, flags, out, resume, steps), stderr=subprocess.PIPE)
        if moments:
            moment = moments[(rounds - 1) % len(moments)]  # a finished run moves on too
            killed = kill_at(proc, out, moment, MOMENT_LIMIT, before, since)
        else:
            try:
                proc.wait(timeout=rng.uniform(0.2, whole))
                killed = False
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                killed = True
        if killed:
            done += 1
            continue
        err = proc.stderr.read().decode()
        if proc.returncode != 0:
            raise RuntimeError(f"{task}: a run between kills failed:\n{err}")
    resume = (out / ckpt.RUN_FILE).is_file()
    final = subprocess.run(command(task, flags, out, resume, steps), capture_output=True,
                           text=True)  # fmt: skip
    if final.returncode != 0:
        raise RuntimeError(f"{task}: the last resume failed:\n{final.stderr}")
    if ref_proc is not None:
        _, err = ref_proc.communicate()
        if ref_proc.returncode != 0:
            raise RuntimeError(f"{task}: the uninterrupted run failed:\n{err.decode()}")
    results = json.loads((out / "results.json").read_text())
    corrupt = []
    for checkpoint in (out / ckpt.CKPT_DIR).iterdir():
        if not checkpoint.name.startswith("."):
            try:
                ckpt.verify_checkpoint(checkpoint)
            except Exception as exc:  # noqa: BLE001  (what the storm counts)
                corrupt.append(f"{checkpoint.name}: {exc}")
    mine = ckpt.load_weights(ckpt.latest_checkpoint(out))
    theirs = ckpt.load_weights(ckpt.latest_checkpoint(reference))
    unequal = sorted(set(mine) ^ set(theirs))
    unequal += [k for k in mine.keys() & theirs.keys() if not torch.equal(mine[k], theirs[k])]
    return Storm(task, done, rounds, time.perf_counter() - started,
                 results["training"]["steps"], corrupt, unequal)  # fmt: skip


def table(storms: list[Storm], argv: str, seconds: float) -> str:
    """The summary as Markdown: the command, then one row per task."""
    rows = [f"`{argv}` ({seconds / 60:.0f} min, {time.strftime('%Y-%m-%d')}):", "",
            "| task | kills | rounds | steps | corrupt checkpoint folders | final weights equal |",
            "|---|---:|---:|---:|---:|---|"]  # fmt: skip
    for s in storms:
        equal = "yes" if not s.unequal else f"no ({len(s.unequal)} tensors)"
        rows.append(f"| {s.task} | {s.kills} | {s.rounds} | {s.steps} | {len(s.corrupt)} | "
                    f"{equal} |")  # fmt: skip
    return "\n".join(rows)


def write_doc(path: Path, text: str) -> None:
    """Replace what lies between the file's ``kill_storm`` markers with ``text``."""
    try:
        replace_marked_block(path, MARKER, text)
    except RnnkitError as exc:
        raise SystemExit(str(exc)) from None


def main() -> int:
    from tests.test_task_contract import CASES

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tasks", nargs="+", choices=sorted(CASES), default=sorted(CASES))
    p.add_argument("--kills", type=int, default=KILLS, help="SIGKILLs per task (default 20)")
    p.add_argument("--steps", type=int, default=STEPS, help="training steps (default 60)")
    p.add_argument("--moments", nargs="+", choices=MOMENTS, default=(),
                   help="kill at these moments in turn (default: at random moments)")  # fmt: skip
    p.add_argument("--doc", type=Path, help="write the summary table into this Markdown file")
    args = p.parse_args()
    failed, storms, started = 0, [], time.perf_counter()
    for task in args.tasks:
        with tempfile.TemporaryDirectory() as d:
            flags, *_ = CASES[task](Path(d))
            s = storm(task, flags, Path(d), args.kills, tuple(args.moments), args.steps)
        storms.append(s)
        print(s.line(), flush=True)
        for c in s.corrupt:
            print(f"  corrupt: {c}")
        failed += not (s.ok and s.steps == args.steps)
    argv = " ".join(["python bench/kill_storm.py", *sys.argv[1:]])
    argv = re.sub(r" --doc \S+", "", argv)
    text = table(storms, argv, time.perf_counter() - started)
    print(text)
    if args.doc:
        write_doc(args.doc, text)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
