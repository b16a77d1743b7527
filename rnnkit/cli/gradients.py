"""``rnnkit gradients``: how far back the last step's loss reaches, per cell or for a run."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from rnnkit.analysis.gradients import clipping_demo, measure_gradients
from rnnkit.analysis.probe import CELLS
from rnnkit.cli.flags import number
from rnnkit.errors import RnnkitError
from rnnkit.files import new_output


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "gradients",
        help="measure gradient flow through time (dL_T/ds_t, step Jacobians, spectral radius)",
        description="For a trained run (DIR) or freshly initialised cells, on real text: the "
        "norm of dL_T/ds_t for every step t, the spectral norms of the step Jacobians "
        "ds_t/ds_{t-1} and of their running products, and the spectral radius of the "
        "recurrent weights. Writes gradients.json and gradients.png under --out.",
    )
    p.add_argument("dir", nargs="?", default=None, help="a language-model run directory")
    p.add_argument(
        "--cell",
        action="append",
        choices=CELLS,
        help="a fresh cell to measure (repeat to overlay; default: all)",
    )
    p.add_argument(
        "--length", type=number(int, 1, 100_000), default=100, help="steps T (default 100)"
    )
    p.add_argument(
        "--batch-size", type=number(int, 1, 65536), default=32, help="text windows (default 32)"
    )
    p.add_argument(
        "--hidden", type=number(int, 1, 16384), default=128, help="fresh models' hidden size"
    )
    p.add_argument("--layers", type=number(int, 1, 64), default=1, help="fresh models' layers")
    p.add_argument(
        "--forget-bias",
        type=number(float, -100, 100),
        default=1.0,
        help="fresh LSTM forget-gate bias (default 1)",
    )
    p.add_argument(
        "--samples",
        type=number(int, 1, 10_000),
        default=4,
        help="sequences whose Jacobians are computed",
    )
    p.add_argument("--seed", type=number(int, 0, 2**63 - 1), default=0, help="random seed")
    p.add_argument("--clip", action="store_true", help="also run the clipping demo")
    p.add_argument(
        "--radius",
        type=number(float, 0, 1000, lo_open=True),
        default=2.0,
        help="clipping demo: W_hh spectral radius",
    )
    p.add_argument(
        "--clip-steps", type=number(int, 1, 10**7), default=150, help="clipping demo: SGD steps"
    )
    p.add_argument("--out", default="gradients", help="output directory (default ./gradients)")
    p.add_argument("--force", action="store_true", help="replace the files of an earlier run")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise RnnkitError(f"--out {out} is a file; give a folder")
    for name in ("gradients.json", "gradients.png", "clipping.json", "clipping.png"):
        new_output(out / name, args.force, "--out file")
    if not (math.isfinite(args.radius) and args.radius > 0):
        raise RnnkitError(f"--radius must be a positive number, got {args.radius}")
    results = measure_gradients(
        args.dir,
        cells=args.cell,
        length=args.length,
        batch_size=args.batch_size,
        hidden=args.hidden,
        layers=args.layers,
        forget_bias=args.forget_bias,
        samples=args.samples,
        seed=args.seed,
        out=args.out,
    )
    T = args.length
    print(f"{'model':28s} {'loss':>6s} {'|dL/ds_T|':>10s} {'|dL/ds_0|':>10s} {'orders':>7s}")
    for name, r in results.items():
        g = r["grad_norm"]
        orders = "underflow" if r["decay_orders"] is None else f"{r['decay_orders']:.2f}"
        print(f"{name:28s} {r['loss']:6.3f} {g[T]:10.3g} {g[0]:10.3g} {orders:>9s}")
    if args.clip:
        clipping_demo(
            radius=args.radius, steps=args.clip_steps, length=T, seed=args.seed, out=args.out
        )
    print(
        f"wrote {args.out}/gradients.json and gradients.png"
        + (" and clipping.png" if args.clip else "")
    )
    return 0
