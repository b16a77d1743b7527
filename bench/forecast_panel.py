"""The forecasting panel judged as M4 judged: every series of rnnkit's panel (18 real series,
``rnnkit.data.named.panel``), M4's horizon for its frequency, M4's holdout (the last H values),
sMAPE, MASE and OWA relative to Naive2 for rnnkit's ES-RNN (trained across each frequency's
series) and for each of M4's benchmarks, per series, per frequency and over the panel:

    .venv/bin/python bench/forecast_panel.py --baselines-only          # the benchmarks (minutes)
    .venv/bin/python bench/forecast_panel.py                           # + rnnkit at its defaults
    .venv/bin/python bench/forecast_panel.py --only monthly --epochs 5 # one frequency, short
    .venv/bin/python bench/forecast_panel.py --json panel.json         # every figure, to a file

rnnkit trains through ``rnnkit.fit`` exactly as ``rnnkit train forecast --dataset panel-FREQ
--horizon H`` does; its run folders stay under ``--out``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rnnkit.data import named  # noqa: E402
from rnnkit.data.named.panel import FREQUENCIES  # noqa: E402
from rnnkit.scoring.m4 import M4_HORIZONS, owa_of_set  # noqa: E402
from rnnkit.tasks import forecast_panel as fp  # noqa: E402


def run_group(frequency: str, args: argparse.Namespace) -> dict:
    series = named.get(f"panel-{frequency}").load()
    h, m = M4_HORIZONS[frequency], series[0].period or 1
    values = [s.values for s in series]
    names = [s.name for s in series]
    timings = {}
    t0 = time.perf_counter()
    forecasts = fp.baseline_forecasts(values, h, m, args.history or fp.default_history(h))
    timings["baselines"] = time.perf_counter() - t0
    extra = {}
    if not args.baselines_only:
        import rnnkit

        model = {k: v for k, v in (("members", args.members), ("hidden_size", args.hidden),
                                   ("history", args.history)) if v}  # fmt: skip
        train = {k: v for k, v in (("epochs", args.epochs), ("max_time", args.max_time)) if v}
        t0 = time.perf_counter()
        r = rnnkit.fit("forecast", data={"dataset": f"panel-{frequency}", "horizon": h},
                       model=model, train=train, out=Path(args.out) / frequency)  # fmt: skip
        timings["rnnkit"] = time.perf_counter() - t0
        rows = r["test"]["series"]
        forecasts = {"rnnkit": None, **forecasts}
        extra = {n: {k: rows[n]["rnnkit"][k] for k in ("msis", "coverage")} for n in names}
    table = fp.m4_table(values, names, h, m, {k: v for k, v in forecasts.items() if v is not None})
    if not args.baselines_only:
        for n in names:
            table["series"][n]["rnnkit"] = {**rows[n]["rnnkit"]}
        table["overall"]["rnnkit"] = r["test"]["overall"]["rnnkit"]
    return {"frequency": frequency, "horizon": h, "period": m, "names": names,
            "sources": [s.source for s in series], "table": table, "seconds": timings,
            "extra": extra}  # fmt: skip


def print_group(g: dict) -> None:
    t = g["table"]
    methods = list(t["overall"])
    took = ", ".join(f"{k} {v:.1f}s" for k, v in g["seconds"].items())
    print(f"\n== {g['frequency']}: {len(g['names'])} series, horizon {g['horizon']}, "
          f"season {g['period']}  ({took})")  # fmt: skip
    print(f"{'series':18s}" + "".join(f"{m:>16s}" for m in methods))
    print(f"{'':18s}" + "".join(f"{'sMAPE MASE OWA':>16s}" for _ in methods))
    for n in g["names"]:
        cells = [t["series"][n][m] for m in methods]
        print(f"{n[:18]:18s}" + "".join(
            f"{c['smape']:6.2f}{c['mase']:5.2f}{c['owa']:5.2f}" for c in cells))  # fmt: skip
    o = t["overall"]
    print(f"{'mean':18s}" + "".join(
        f"{o[m]['smape']:6.2f}{o[m]['mase']:5.2f}{o[m]['owa']:5.2f}" for m in methods))  # fmt: skip


def summary(groups: list[dict]) -> dict:
    methods = list(groups[0]["table"]["overall"])
    rows = {n: g["table"]["series"][n] for g in groups for n in g["names"]}
    out = {}
    for m in methods:
        out[m] = {
            "owa_m4": owa_of_set([r[m]["smape"] for r in rows.values()],
                                 [r[m]["mase"] for r in rows.values()],
                                 [r["naive2"]["smape"] for r in rows.values()],
                                 [r["naive2"]["mase"] for r in rows.values()]),
            "mean_owa": float(np.nanmean([r[m]["owa"] for r in rows.values()])),
        }  # fmt: skip
    if "rnnkit" in methods:
        others = [m for m in methods if m != "rnnkit"]
        close = sum(r["rnnkit"]["owa"] <= 1.02 * min(r[m]["owa"] for m in others)
                    for r in rows.values())  # fmt: skip
        out["rnnkit"]["best_or_within_2pct"] = f"{close} of {len(rows)}"
        cov = [g["extra"][n]["coverage"] for g in groups for n in g["names"]]
        out["rnnkit"]["coverage_95"] = float(np.mean(cov))
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", nargs="*", choices=FREQUENCIES, help="these frequencies only")
    p.add_argument("--baselines-only", action="store_true", help="skip training rnnkit")
    p.add_argument("--epochs", type=int, help="rnnkit's training steps (default: the task's)")
    p.add_argument("--max-time", type=float, help="rnnkit's time budget per frequency (s)")
    p.add_argument("--members", type=int, help="ES-RNN ensemble members (default: 3)")
    p.add_argument("--hidden", type=int, help="hidden units (default: the task's)")
    p.add_argument("--history", type=int, help="values each method sees (default: the task's)")
    p.add_argument("--out", default=None, help="folder for rnnkit's runs (default: a temp dir)")
    p.add_argument("--json", help="write every figure to this file")
    args = p.parse_args()
    if args.out is None:
        args.out = tempfile.mkdtemp(prefix="forecast-panel-")
    groups = [run_group(f, args) for f in (args.only or FREQUENCIES)]
    for g in groups:
        print_group(g)
    s = summary(groups)
    print("\n== the panel (OWA of the means, as M4; and the mean of per-series OWA)")
    for m, v in s.items():
        print(f"{m:8s} OWA {v['owa_m4']:.3f}  mean OWA {v['mean_owa']:.3f}"
              + "".join(f"  {k} {v[k]}" for k in ("best_or_within_2pct", "coverage_95")
                        if k in v))  # fmt: skip
    if args.json:
        Path(args.json).write_text(json.dumps({"groups": groups, "summary": s}, indent=1))


if __name__ == "__main__":
    main()
