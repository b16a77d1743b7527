"""``rnnkit caption RUN IMAGE... | FOLDER``: a caption for each image from a caption run (beam
search), with a picture of the images and their captions, and of where it looked, on request."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import torch

from rnnkit.cli.flags import add_output, emit
from rnnkit.cli.predict import add_decoding_flags, decoding_options
from rnnkit.errors import RnnkitError


def register(subparsers: Any) -> None:
    from rnnkit.tasks.base import get_task

    p = subparsers.add_parser(
        "caption",
        help="caption images with a trained caption run",
        description="Print a caption for each IMAGE (any format Pillow reads), for every image "
        "in a FOLDER (files that are not images are skipped and counted) or in a captions "
        "file, with a `rnnkit train caption` run: beam search, --beam 1 for greedy decoding, "
        "--temperature to sample.",
    )
    p.add_argument("dir", metavar="RUN", help="run folder of `rnnkit train caption`")
    p.add_argument("images", metavar="IMAGE", nargs="+", help="image files or folders of them")
    add_decoding_flags(p, get_task("caption").decoding)
    add_output(p, "--plot", (".png",), "write a PNG grid of the images and captions")
    add_output(p, "--attention", (".png",), "write a PNG of where it looked per word (first image)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rnnkit.data.images import read_image
    from rnnkit.plots.captions import plot_attention_grid, plot_captions
    from rnnkit.runs.driver import load_run

    loaded = load_run(args.dir, task="caption")
    task = loaded.task
    decoding = decoding_options(args, task)
    inputs: list[str] = []
    skipped = 0
    for f in args.images:
        if Path(f).is_dir() or Path(f).suffix.lower() in (".tsv", ".csv", ".jsonl"):
            inputs += task.read_inputs(f)
            skipped += task.skipped_inputs
        else:
            inputs.append(task.parse_input(f))
    if skipped:
        print(f"rnnkit: skipped {skipped} files that are not readable images", file=sys.stderr)
    rows = loaded.predict(inputs, **decoding)
    size, channels = task.model.image_size, task.model.channels
    if args.plot:
        images = [read_image(r["image"], size, channels) for r in rows[:24]]
        plot_captions(images, [r["caption"] for r in rows[:24]], None, Path(args.plot))
    if args.attention:
        first = rows[0]
        if first["attention"] is None:
            raise RnnkitError("this run has no attention (trained with attention none)")
        plot_attention_grid(read_image(first["image"], size, channels), first["tokens"],
                            torch.tensor(first["attention"]), Path(args.attention))  # fmt: skip
    emit(rows, args.json, "\n".join(task.format_prediction(r) for r in rows))
    return 0
