"""``rnnkit export RUN --format onnx``: a trained run as files another runtime can run."""

from __future__ import annotations

import argparse
from typing import Any

from rnnkit.cli.flags import emit

FORMATS = ("onnx",)


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "export",
        help="write a trained model as ONNX graphs that onnxruntime runs",
        description="Export the best checkpoint of a run (lm, classify, tag, forecast, "
        "translate, summarize, chat, reorder) to --out: the ONNX graphs (model.onnx; "
        "encoder.onnx and decoder.onnx for the encoder-decoder tasks), export.json (inputs, "
        "outputs, vocabularies, labels) and the run's tokenizers. Each graph is checked with "
        "onnxruntime against PyTorch before it is written. Needs the extra: "
        "pip install 'rnnkit[onnx]'.",
    )
    p.add_argument("dir", metavar="RUN", help="run folder written by `rnnkit train TASK`")
    p.add_argument("--format", choices=FORMATS, default="onnx", help="file format (onnx)")
    p.add_argument("--out", metavar="DIR", help="folder to write (default: RUN/onnx)")
    p.add_argument("--force", action="store_true", help="replace files already in --out")
    p.add_argument("--json", action="store_true", help="print export.json")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rnnkit.runs.export import MANIFEST, export_onnx

    manifest = export_onnx(args.dir, args.out, force=args.force)
    out = args.out or f"{args.dir}/onnx"
    lines = []
    for g in manifest["graphs"].values():
        worst = max(g["max_abs_diff"].values())
        lines.append(f"wrote {out}/{g['file']} (max |onnxruntime - PyTorch| {worst:.2g})")
    emit(manifest, args.json, "\n".join([*lines, f"wrote {out}/{MANIFEST}"]))
    return 0
