"""Quality of the tasks on their named datasets, each beside its baseline.

Runs each task through the ``rnnkit`` command with its default settings, as a user would, and
prints the test figure next to the baseline's on the same split, with the wall time:

    .venv/bin/python bench/tasks_quality.py                  # every task (tens of minutes)
    .venv/bin/python bench/tasks_quality.py --only sunspots  # one task
    .venv/bin/python bench/tasks_quality.py --json           # machine-readable
    .venv/bin/python bench/tasks_quality.py --seeds 3 --only sentiment-movies  # mean, spread

With ``--seeds N`` each task runs with ``--seed 0..N-1`` (the split stays the same: only the
initialisation and the batch order change) and the line gives the mean and the sample standard
deviation over the seeds (``--json`` also lists each seed's figure).

Each run's directory (checkpoint, results.json, plots) is kept under ``--out``.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

# a baseline path of this name is the lowest MASE of naive, seasonal-naive and ETS
BEST_OF_THREE = ("baselines", "best of naive, seasonal-naive, ETS", "mase")

# name -> (rnnkit arguments, figure key path, baseline key path, bar)
TASKS = {
    "sentiment-movies": (
        ["train", "classify", "--dataset", "sentiment-movies"],
        ("test", "accuracy"), ("baseline", "accuracy"), "accuracy >= baseline + 0.01",
    ),
    "sentiment-tweets": (
        ["train", "classify", "--dataset", "sentiment-tweets"],
        ("test", "accuracy"), ("baseline", "accuracy"), "accuracy >= baseline + 0.01",
    ),
    "sentiment-amazon": (
        ["train", "classify", "--dataset", "sentiment-amazon"],
        ("test", "accuracy"), ("baseline", "accuracy"), "accuracy >= baseline + 0.01",
    ),
    "sentiment-nyt": (
        ["train", "classify", "--dataset", "sentiment-nyt"],
        ("test", "accuracy"), ("baseline", "accuracy"), "accuracy >= baseline + 0.01",
    ),
    "digits-rows": (
        ["train", "classify", "--dataset", "digits-rows"],
        ("test", "accuracy"), ("baseline", "accuracy"), "accuracy >= 0.95",
    ),
    "ner-wnut16": (
        ["train", "tag", "--dataset", "ner-wnut16"],
        ("test", "f1"), ("baseline", "f1"), "entity F1 > baseline",
    ),
    "sunspots": (
        ["train", "forecast", "--dataset", "sunspots", "--horizon", "1"],
        ("test", "mase"), ("baselines", "naive", "mase"), "MASE < 1",
    ),
    "co2": (
        ["train", "forecast", "--dataset", "co2", "--horizon", "1"],
        ("test", "mase"), ("baselines", "naive", "mase"), "MASE < 1",
    ),
    # issue 15's forecasting bar: at horizon 12, below naive, seasonal-naive and ETS, and below 1
    **{
        f"{series}-h12": (
            ["train", "forecast", "--dataset", series, "--horizon", "12"],
            ("test", "mase"), BEST_OF_THREE, "MASE < best of three, < 1",
        )
        for series in ("elnino", "sunspots", "co2", "stock-ibm")
    },
}  # fmt: skip


def dig(d: dict, path: tuple) -> float:
    if path == BEST_OF_THREE:
        rivals = [k for k in d["baselines"] if k in ("naive", "ets") or k.startswith("seasonal")]
        return min(float(d["baselines"][k]["mase"]) for k in rivals)
    for k in path:
        d = d[k]
    return float(d)


def run(name: str, out: Path, seed: int | None = None) -> dict:
    argv, fig, base, bar = TASKS[name]
    if seed is not None:
        argv = [*argv, "--seed", str(seed)]
    run_dir = out / (name if seed is None else f"{name}-seed{seed}")
    if run_dir.exists():
        raise SystemExit(f"{run_dir} exists: choose another --out")
    cmd = [sys.executable, "-m", "rnnkit.cli.main", *argv, "--out", str(run_dir), "--quiet"]
    start, cpu0 = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run([*cmd, "--json"], capture_output=True, text=True)
    wall = time.perf_counter() - start
    cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime
    if proc.returncode != 0:
        return {"task": name, "error": proc.stderr.strip().splitlines()[-1:], "wall_s": wall}
    results = json.loads(proc.stdout)
    return {
        "task": name,
        "command": "rnnkit " + " ".join(argv + ["--out", str(run_dir)]),
        "figure": dig(results, fig),
        "figure_name": ".".join(fig),
        "baseline": dig(results, base),
        "baseline_name": ".".join(base),
        "bar": bar,
        "wall_s": round(wall, 1),
        "cpu_s": round(cpu, 1),
        "results": results,
    }


def summary(runs: list[dict]) -> dict:
    """One task over several seeds: mean and sample standard deviation of the figure, each
    seed's figure, and the baseline's mean (it does not depend on the seed)."""
    figures = [r["figure"] for r in runs]
    return {
        **{k: runs[0][k] for k in ("task", "figure_name", "baseline_name", "bar")},
        "seeds": len(runs),
        "figures": figures,
        "figure": statistics.fmean(figures),
        "figure_sd": statistics.stdev(figures) if len(figures) > 1 else 0.0,
        "baseline": statistics.fmean(r["baseline"] for r in runs),
        "wall_s": max(r["wall_s"] for r in runs),
        "cpu_s": max(r["cpu_s"] for r in runs),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--only", choices=list(TASKS), action="append", help="run only these tasks")
    p.add_argument("--out", default="runs/tasks_quality", help="where the runs go")
    p.add_argument("--json", action="store_true", help="print JSON lines")
    p.add_argument("--seeds", type=int, default=0,
                   help="run each task with --seed 0..N-1 and give mean and spread")  # fmt: skip
    args = p.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    head = f"{'task':18s} {'figure':>22s} {'baseline':>24s} {'bar':>22s}"
    head += f" {'wall s':>7s} {'cpu s':>7s}"
    print(head, flush=True)
    for name in args.only or list(TASKS):
        if args.seeds > 0:
            runs = [run(name, out, s) for s in range(args.seeds)]
            failed = [r for r in runs if "error" in r]
            r = failed[0] if failed else summary(runs)
        else:
            r = run(name, out)
        if args.json:
            print(json.dumps(r), flush=True)
        elif "error" in r:
            print(f"{name:18s} failed: {r['error']}", flush=True)
        else:
            fig = f"{r['figure_name']} {r['figure']:.4f}"
            if "seeds" in r:
                fig += f" sd {r['figure_sd']:.4f}"
            base = f"{r['baseline_name']} {r['baseline']:.4f}"
            print(f"{name:18s} {fig:>22s} {base:>24s} {r['bar']:>22s} {r['wall_s']:7.0f} "
                  f"{r['cpu_s']:7.0f}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
