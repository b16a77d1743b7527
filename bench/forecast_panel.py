"""The forecasting panel judged as M4 judged: every series of rnnkit's panel (18 real series,
``rnnkit.data.named.panel``), M4's horizon for its frequency, M4's holdout (the last H values),
sMAPE, MASE and OWA relative to Naive2 for rnnkit's panel forecaster (the ES-RNN trained across
each frequency's series, combined with ETS, Theta and ARIMA by a rule chosen, and its interval
calibrated, on three rolling validation origins: ``rnnkit/tasks/panel_combine.py``), for the
ES-RNN alone and for each of M4's benchmarks, per series, per frequency and over the panel,
with rnnkit's 95% interval coverage and MSIS and each frequency's time:

    .venv/bin/python bench/forecast_panel.py                           # everything (defaults)
    .venv/bin/python bench/forecast_panel.py --doc docs/tasks.md       # + rewrite its table
    .venv/bin/python bench/forecast_panel.py --only monthly --results R  # one frequency into R
    .venv/bin/python bench/forecast_panel.py --results R --table-only  # the table of R's runs
    .venv/bin/python bench/forecast_panel.py --baselines-only          # the benchmarks alone

rnnkit trains through ``rnnkit.fit`` exactly as ``rnnkit train forecast --dataset panel-FREQ
--horizon H`` does; its run folders stay under ``--out``. With ``--results DIR`` each
frequency's figures are kept in DIR/FREQ.json and the table covers every frequency found there,
so the panel can be run one frequency at a time.
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
from rnnkit.errors import RnnkitError  # noqa: E402
from rnnkit.files import replace_marked_block  # noqa: E402
from rnnkit.scoring.m4 import M4_HORIZONS, owa_of_set  # noqa: E402
from rnnkit.tasks import forecast_panel as fp  # noqa: E402

MARKER = ("<!-- forecast_panel: begin -->", "<!-- forecast_panel: end -->")
BASELINES = ("naive2", "snaive", "ets", "theta", "arima", "comb")
LABELS = {"rnnkit": "rnnkit", "esrnn": "ES-RNN alone", "median": "median of 4",
          "naive2": "Naive2", "snaive": "sNaive", "ets": "ETS", "theta": "Theta",
          "arima": "ARIMA", "comb": "Comb"}  # fmt: skip


def run_group(frequency: str, args: argparse.Namespace) -> dict:
    series = named.get(f"panel-{frequency}").load()
    h, m = M4_HORIZONS[frequency], series[0].period or 1
    values = [s.values for s in series]
    names = [s.name for s in series]
    seconds = {}
    if args.baselines_only:
        t0 = time.perf_counter()
        forecasts = fp.baseline_forecasts(values, h, m, args.history or fp.default_history(h))
        seconds["baselines"] = time.perf_counter() - t0
        table = fp.m4_table(values, names, h, m, forecasts)
    else:
        import rnnkit

        model = {k: v for k, v in (("members", args.members), ("hidden_size", args.hidden),
                                   ("history", args.history)) if v}  # fmt: skip
        if args.level_penalty is not None:
            model["level_penalty"] = args.level_penalty
        train = {k: v for k, v in (("epochs", args.epochs), ("max_time", args.max_time),
                                   ("seed", args.seed), ("patience", args.patience))
                 if v is not None}  # fmt: skip
        t0 = time.perf_counter()
        r = rnnkit.fit("forecast", data={"dataset": f"panel-{frequency}", "horizon": h},
                       model=model, train=train, out=Path(args.out) / frequency)  # fmt: skip
        seconds["all"] = time.perf_counter() - t0
        seconds["training"] = r["training"]["elapsed_s"]
        if "refit" in r["test"]:  # the network trained again to the test origin
            seconds["refit"] = r["test"]["refit"]["train_s"]
        table = r["test"]
    return {"frequency": frequency, "horizon": h, "period": m, "names": names,
            "sources": [s.source for s in series], "table": table, "seconds": seconds}  # fmt: skip


def methods_of(groups: list[dict]) -> list[str]:
    return [m for m in ("rnnkit", "esrnn", "median", *BASELINES)
            if all(m in g["table"]["overall"] for g in groups)]  # fmt: skip


def print_group(g: dict) -> None:
    t = g["table"]
    methods = methods_of([g])
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


def close_to_best(row: dict, method: str = "rnnkit") -> bool:
    """``method`` best or within 2% of the best baseline's OWA on this series."""
    return row[method]["owa"] <= 1.02 * min(row[b]["owa"] for b in BASELINES)


def summary(groups: list[dict]) -> dict:
    methods = methods_of(groups)
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
    for m in ("rnnkit", "esrnn"):
        if m in methods:
            close = sum(close_to_best(r, m) for r in rows.values())
            out[m]["best_or_within_2pct"] = f"{close} of {len(rows)}"
            out[m]["coverage_95"] = float(np.mean([r[m]["coverage"] for r in rows.values()]))
            out[m]["msis"] = float(np.mean([r[m]["msis"] for r in rows.values()]))
    return out


def markdown(groups: list[dict], s: dict) -> str:
    """The per-series and per-frequency tables docs/tasks.md shows."""
    methods = methods_of(groups)
    trained = "rnnkit" in methods
    head = "| series | freq | " + " | ".join(LABELS[m] for m in methods)
    extra = " | rnnkit sMAPE | rnnkit MASE | 95% coverage | MSIS | best or within 2% |"
    lines = ["OWA per series (relative to Naive2; lower is better; **bold**: the best):", "",
             head + (extra if trained else " |"),
             "|---|---|" + "---:|" * (len(methods) + (5 if trained else 0))]  # fmt: skip
    for g in groups:
        for n in g["names"]:
            row = g["table"]["series"][n]
            best = min(row[m]["owa"] for m in methods)
            cells = [f"**{row[m]['owa']:.3f}**" if row[m]["owa"] == best else
                     f"{row[m]['owa']:.3f}" for m in methods]  # fmt: skip
            line = f"| {n} | {g['frequency']} | " + " | ".join(cells) + " |"
            if trained:
                r = row["rnnkit"]
                near = "yes" if close_to_best(row) else "no"
                line += (f" {r['smape']:.2f} | {r['mase']:.3f} | {r['coverage']:.0%} | "
                         f"{r['msis']:.2f} | {near} |")  # fmt: skip
            lines.append(line)
    lines += ["", "Per frequency (OWA of the frequency's means, as M4) and over the panel:", "",
              "| frequency | series | H | " + " | ".join(LABELS[m] for m in methods)
              + (" | rnnkit's choice | 95% coverage | time (train + test) |" if trained
                 else " | time |"),
              "|---|---:|---:|" + "---:|" * (len(methods) + (3 if trained else 1))]  # fmt: skip
    for g in groups:
        o = g["table"]["overall"]
        cells = " | ".join(f"{o[m]['owa']:.3f}" for m in methods)
        took = g["seconds"].get("all", g["seconds"].get("baselines", 0.0))
        cov = ""
        if trained:
            fitted = g["table"]["combination"]
            choice = LABELS.get(fitted["rule"], "median of 4")
            choice += f"; {fitted.get('interval', 'quantiles')} interval"
            cov = f" {choice} | {o['rnnkit']['coverage']:.1%} |"
        lines.append(f"| {g['frequency']} | {len(g['names'])} | {g['horizon']} | {cells} |"
                     f"{cov} {took:.0f} s |")  # fmt: skip
    n = sum(len(g["names"]) for g in groups)
    best = min(s[m]["owa_m4"] for m in methods)
    cells = " | ".join(f"**{s[m]['owa_m4']:.3f}**" if s[m]["owa_m4"] == best else
                       f"{s[m]['owa_m4']:.3f}" for m in methods)  # fmt: skip
    cov = f" | {s['rnnkit']['coverage_95']:.1%} |" if trained else ""
    total = sum(g["seconds"].get("all", g["seconds"].get("baselines", 0.0)) for g in groups)
    lines.append(f"| the panel | {n} | | {cells} |{cov} {total:.0f} s |")
    if trained:
        mean = s["rnnkit"]
        lines += ["", f"rnnkit best or within 2% of the best benchmark on "
                  f"{mean['best_or_within_2pct']} series (the ES-RNN alone: "
                  f"{s['esrnn']['best_or_within_2pct']}); mean OWA per series rnnkit "
                  f"{mean['mean_owa']:.3f}, ES-RNN {s['esrnn']['mean_owa']:.3f}, ARIMA "
                  f"{s['arima']['mean_owa']:.3f}; rnnkit's 95% interval covered "
                  f"{mean['coverage_95']:.1%} of the test values (ES-RNN's own, uncalibrated: "
                  f"{s['esrnn']['coverage_95']:.1%}), mean MSIS {mean['msis']:.2f}."]  # fmt: skip
        kinds = interval_kinds(groups)
        if kinds:
            lines += ["", "Each calibrated interval on the test, whichever validation kept "
                      "(coverage, mean MSIS over the series): " + "; ".join(
                          f"{k} {v['coverage']:.1%}, {v['msis']:.2f}" for k, v in kinds.items())
                      + "."]  # fmt: skip
    return "\n".join(lines)


def interval_kinds(groups: list[dict]) -> dict[str, dict[str, float]]:
    """The panel's coverage and MSIS (means over its series) of each calibrated interval kind,
    from the frequencies that report both."""
    have = [g for g in groups if "intervals" in g["table"]]
    if not have:
        return {}
    n = sum(len(g["names"]) for g in have)
    return {kind: {key: sum(g["table"]["intervals"][kind][key] * len(g["names"]) for g in have) / n
                   for key in ("coverage", "msis")}
            for kind in have[0]["table"]["intervals"]}  # fmt: skip


def write_doc(doc: Path, text: str, command: str) -> None:
    """Replace the table between the bench's markers in ``doc`` (with the command that made it)."""
    try:
        replace_marked_block(doc, MARKER, f"`{command}`:\n\n{text}")
    except RnnkitError as exc:
        raise SystemExit(str(exc)) from None


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", nargs="*", choices=FREQUENCIES, help="these frequencies only")
    p.add_argument("--baselines-only", action="store_true", help="skip training rnnkit")
    p.add_argument("--epochs", type=int, help="rnnkit's training epochs (default: the task's)")
    p.add_argument("--max-time", type=float, help="rnnkit's time budget per frequency (s)")
    p.add_argument("--seed", type=int, help="rnnkit's training seed (default: the task's)")
    p.add_argument(
        "--patience",
        type=int,
        help="rnnkit's early-stopping patience in validations (default: the task's)",
    )
    p.add_argument("--members", type=int, help="ES-RNN ensemble members (default: the task's)")
    p.add_argument("--hidden", type=int, help="hidden units (default: the task's)")
    p.add_argument("--history", type=int, help="values each method sees (default: the task's)")
    p.add_argument("--level-penalty", type=float,
                   help="the ES-RNN's level variability penalty (default: the task's)")  # fmt: skip
    p.add_argument("--out", default=None, help="folder for rnnkit's runs (default: a temp dir)")
    p.add_argument("--results", type=Path, help="keep each frequency's figures in DIR/FREQ.json "
                   "and tabulate every frequency found there")  # fmt: skip
    p.add_argument("--table-only", action="store_true", help="only tabulate --results' runs")
    p.add_argument("--json", help="write every figure to this file")
    p.add_argument("--doc", type=Path, help="rewrite the panel's table in this Markdown file")
    args = p.parse_args()
    if args.out is None:
        args.out = tempfile.mkdtemp(prefix="forecast-panel-")
    if args.table_only and not args.results:
        p.error("--table-only needs --results DIR")
    groups = {}
    for f in [] if args.table_only else (args.only or FREQUENCIES):
        groups[f] = run_group(f, args)
        if args.results:
            args.results.mkdir(parents=True, exist_ok=True)
            tmp = args.results / f"{f}.json.tmp"
            tmp.write_text(json.dumps(groups[f], indent=1))
            tmp.replace(args.results / f"{f}.json")
    if args.results:
        for f in FREQUENCIES:
            if f not in groups and (args.results / f"{f}.json").is_file():
                groups[f] = json.loads((args.results / f"{f}.json").read_text())
    groups = [groups[f] for f in FREQUENCIES if f in groups]
    if not groups:
        raise SystemExit("no frequency's figures to tabulate")
    for g in groups:
        print_group(g)
    s = summary(groups)
    print("\n== the panel (OWA of the means, as M4; and the mean of per-series OWA)")
    for m, v in s.items():
        print(f"{m:8s} OWA {v['owa_m4']:.3f}  mean OWA {v['mean_owa']:.3f}"
              + "".join(f"  {k} {v[k]:.3f}" if isinstance(v.get(k), float) else
                        f"  {k} {v[k]}" for k in ("best_or_within_2pct", "coverage_95", "msis")
                        if k in v))  # fmt: skip
    text = markdown(groups, s)
    print("\n" + text)
    if args.json:
        Path(args.json).write_text(json.dumps({"groups": groups, "summary": s}, indent=1))
    if args.doc:
        command = "python bench/" + Path(__file__).name + " " + " ".join(sys.argv[1:])
        write_doc(args.doc, text, command.strip())


if __name__ == "__main__":
    main()
