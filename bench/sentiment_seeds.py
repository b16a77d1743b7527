"""Sentiment against TF-IDF + logistic regression, over seeds, at word and character level
(issue 31's bar: at least 1 point above TF-IDF on movies, tweets, amazon and nyt, both levels).

Each run is the ``rnnkit`` command at its defaults, as a user would type it::

    rnnkit train classify --dataset sentiment-SET --level LEVEL --seed S --out OUT/SET-LEVEL-sS

and its results.json gives the test accuracy beside TF-IDF + LR fitted on the same training
part (word 1-2-grams at word level, char 2-5-grams at char level; the split does not depend on
``--seed``, which changes only the initialisation and the batch order). The table gives the
mean and sample standard deviation over the seeds, each seed's figure, the mean validation
accuracy (what the defaults were chosen on), the difference to TF-IDF in points and the slowest
seed's training seconds (pretraining included when it is on)::

    python bench/sentiment_seeds.py                              # 4 sets x 2 levels x 3 seeds
    python bench/sentiment_seeds.py --sets tweets amazon --levels char --seeds 0 1
    python bench/sentiment_seeds.py --args="--pretrain-steps 300" --out runs/pt   # a variant
    python bench/sentiment_seeds.py --report                     # tabulate what OUT holds
    python bench/sentiment_seeds.py --doc docs/tasks.md          # rewrite the doc's table

A run whose folder already holds results.json is read, not run again, so the grid can be split
over several invocations (or machines sharing OUT) and the table made at the end; a folder
without results.json (a run cut off) is continued with ``--resume``.
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

from rnnkit.errors import RnnkitError
from rnnkit.files import replace_marked_block

SETS = ("movies", "tweets", "amazon", "nyt")
LEVELS = ("word", "char")
MARKER = ("<!-- sentiment_seeds: begin -->", "<!-- sentiment_seeds: end -->")


def run_dir(out: Path, name: str, level: str, seed: int) -> Path:
    return out / f"{name}-{level}-s{seed}"


def train(out: Path, name: str, level: str, seed: int, extra: list[str]) -> dict | str:
    """The run's results.json (trained now unless it is there), or the error's last line."""
    folder = run_dir(out, name, level, seed)
    if (folder / "results.json").is_file():
        return json.loads((folder / "results.json").read_text())
    if (folder / "config.json").is_file():  # cut off: the run continues with its settings
        argv = ["--resume"]
    else:
        argv = ["--dataset", f"sentiment-{name}", "--level", level, "--seed", str(seed), *extra]
    cmd = [sys.executable, "-m", "rnnkit.cli.main", "train", "classify", *argv,
           "--out", str(folder), "--quiet", "--json"]  # fmt: skip
    print("$ " + shlex.join(cmd[1:]), file=sys.stderr, flush=True)
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        return (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1]
    return json.loads(proc.stdout)


def figures(results: dict) -> dict:
    """What the table shows of one run."""
    t = results["training"]
    averaged = t.get("averaged", {})
    kept = averaged.get("kept", True)  # runs from before the check kept every average
    val = averaged.get("val_accuracy", t.get("best_value")) if kept else t.get("best_value")
    seconds = float(t.get("elapsed_s", 0.0)) + float(results.get("pretraining", {}).get(
        "seconds", 0.0))  # fmt: skip
    return {
        "test": float(results["test"]["accuracy"]),
        "baseline": float(results["baseline"]["accuracy"]),
        "val": None if val is None else float(val),
        "train_s": seconds,
        "pretrain_s": float(results.get("pretraining", {}).get("seconds", 0.0)),
    }


def sd(xs: list[float]) -> float:
    return statistics.stdev(xs) if len(xs) > 1 else 0.0


def row(name: str, level: str, runs: dict[int, dict]) -> dict:
    """One set at one level over its seeds."""
    tests = [r["test"] for r in runs.values()]
    vals = [r["val"] for r in runs.values() if r["val"] is not None]
    base = statistics.fmean(r["baseline"] for r in runs.values())
    mean = statistics.fmean(tests)
    return {
        "set": name, "level": level, "seeds": sorted(runs), "tests": tests,
        "test": mean, "test_sd": sd(tests),
        "val": statistics.fmean(vals) if vals else None, "val_sd": sd(vals),
        "baseline": base, "points": 100 * (mean - base),
        "met": 100 * (mean - base) >= 1.0,
        "train_s": max(r["train_s"] for r in runs.values()),
        "pretrain_s": max(r["pretrain_s"] for r in runs.values()),
    }  # fmt: skip


def table(rows: list[dict]) -> str:
    lines = [
        "| set | level | seeds | test accuracy, mean ± sd (each seed) | validation, mean ± sd "
        "| TF-IDF + LR | test - TF-IDF (points) | >= +1 | train s (slowest; pretraining) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        each = " / ".join(f"{x:.4f}" for x in r["tests"])
        val = "-" if r["val"] is None else f"{r['val']:.4f} ± {r['val_sd']:.4f}"
        pre = f"; {r['pretrain_s']:.0f}" if r["pretrain_s"] else ""
        lines.append(
            f"| sentiment-{r['set']} | {r['level']} | {len(r['seeds'])} | "
            f"{r['test']:.4f} ± {r['test_sd']:.4f} ({each}) | {val} | {r['baseline']:.4f} | "
            f"{r['points']:+.2f} | {'yes' if r['met'] else 'no'} | {r['train_s']:.0f}{pre} |"
        )
    return "\n".join(lines)


def write_doc(doc: Path, text: str, command: str) -> None:
    """Replace the table between the bench's markers in ``doc`` (with the command that made it)."""
    try:
        replace_marked_block(doc, MARKER, f"`{command}`:\n\n{text}")
    except RnnkitError as exc:
        raise SystemExit(str(exc)) from None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--sets", nargs="+", choices=SETS, default=list(SETS))
    p.add_argument("--levels", nargs="+", choices=LEVELS, default=list(LEVELS))
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--out", type=Path, default=Path("runs/sentiment_seeds"),
                   help="where the run folders go (and are read from)")  # fmt: skip
    p.add_argument("--args", default="", help="extra flags for every new run, one string")
    p.add_argument("--report", action="store_true", help="train nothing: tabulate OUT")
    p.add_argument("--json", action="store_true", help="print the rows as JSON lines")
    p.add_argument("--doc", type=Path, help="rewrite the bench's table in this Markdown file")
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    extra = shlex.split(args.args)
    t0 = time.time()
    rows, failed = [], []
    for name in args.sets:
        for level in args.levels:
            runs = {}
            for seed in args.seeds:
                folder = run_dir(args.out, name, level, seed)
                if args.report:
                    if (folder / "results.json").is_file():
                        runs[seed] = figures(json.loads((folder / "results.json").read_text()))
                    continue
                result = train(args.out, name, level, seed, extra)
                if isinstance(result, str):
                    failed.append(f"{folder}: {result}")
                else:
                    runs[seed] = figures(result)
            if runs:
                rows.append(row(name, level, runs))
    if args.json:
        for r in rows:
            print(json.dumps(r))
    else:
        print(table(rows))
    for line in failed:
        print("failed: " + line, file=sys.stderr)
    print(f"({time.time() - t0:.0f} s)", file=sys.stderr)
    if args.doc and rows:
        command = "python bench/" + Path(__file__).name + " " + " ".join(sys.argv[1:])
        write_doc(args.doc, table(rows), command.strip())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
