"""``rnnkit bench``: rnnkit's layers against torch.nn's, same process, medians."""

from __future__ import annotations

import argparse
import json

from rnnkit.cli.flags import add_output, number
from rnnkit.errors import RnnkitError

QUICK_CONFIGS = ((20, 8, 32, 64),)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "bench",
        help="time rnnkit's RNN/LSTM/GRU against torch.nn (training, inference, generation)",
        description="Time rnnkit's layers against torch.nn's with identical weights, "
        "alternating runs after warm-up; print medians, tokens/s, GFLOP/s, the share of this "
        "machine's float32 matmul peak (measured in the same run) and the speed-up.",
    )
    p.add_argument("--cells", default="rnn,lstm,gru", help="comma-separated: rnn, lstm, gru")
    p.add_argument(
        "--repeats", type=number(int, 1, 1000), default=7, help="timed runs per case (median)"
    )
    p.add_argument(
        "--threads", type=number(int, 1, 1024), default=None, help="torch threads (default: all)"
    )
    p.add_argument(
        "--precision",
        choices=("fp32", "bf16", "auto"),
        default="fp32",
        help="fp32, or bf16: both libraries under torch.autocast(bfloat16); auto: bf16 where "
        "the CPU has bfloat16 units (AMX, AVX-512 BF16), said in one line at start "
        "(default: fp32)",
    )
    p.add_argument(
        "--products",
        choices=("auto", "lowp", "rounded"),
        default=None,
        help="how rnnkit's bfloat16 products run: lowp (bfloat16 GEMMs on ATen/oneDNN), "
        "rounded (float32 GEMMs on rounded values) or auto (by the CPU's capability; the "
        "default, or $RNNKIT_PRODUCTS)",
    )
    p.add_argument(
        "--compile",
        action="store_true",
        help="also time rnnkit's layers under torch.compile (inductor), in the same repeats: "
        "columns 'compiled ms', 'vs eager' (eager / compiled) and its 95%% interval, and a last "
        "line naming the rows slower compiled (compiling takes seconds per case)",
    )
    p.add_argument("--quick", action="store_true", help="one tiny configuration: a smoke test")
    p.add_argument("--no-generation", action="store_true", help="skip the batch-1 generation case")
    p.add_argument("--json", action="store_true", help="print machine-readable JSON instead")
    add_output(p, "--plot", (".png",), "also save a chart of the speed-ups")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rnnkit import bench

    cells = tuple(c.strip() for c in args.cells.split(",") if c.strip())
    unknown = [c for c in cells if c not in bench.CELLS]
    if unknown or not cells:
        raise RnnkitError(f"unknown cell(s) {unknown or args.cells!r}; choose from rnn, lstm, gru")
    if args.repeats < 1:
        raise RnnkitError("--repeats must be at least 1")
    import torch

    precision = args.precision
    if precision == "auto":
        from rnnkit.train import precision as amp

        dtype, text = amp.resolve("auto", torch.device("cpu"))
        precision = "bf16" if dtype is not None else "fp32"
        amp.announce(text)
    try:
        from rnnkit.kernels import products

        products.set_path(args.products)
        products.path(torch.bfloat16)  # reads $RNNKIT_PRODUCTS: a bad value fails here
    except ValueError as exc:  # a bad $RNNKIT_PRODUCTS
        raise RnnkitError(str(exc)) from None
    peak, results = bench.run_bench(
        cells=cells,
        configs=QUICK_CONFIGS if args.quick else bench.CONFIGS,
        repeats=min(args.repeats, 3) if args.quick else args.repeats,
        generation=not args.no_generation,
        generation_tokens=20 if args.quick else None,
        threads=args.threads,
        precision=precision,
        compiled=args.compile,
    )
    if args.json:
        print(json.dumps(bench.to_json(peak, results), indent=2))
    else:
        print(bench.format_table(peak, results))
    if args.plot:
        bench.plot(results, args.plot)
    return 0
