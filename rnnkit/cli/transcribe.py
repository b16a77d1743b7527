"""``rnnkit transcribe RUN FILE.wav... | FOLDER``: text of audio files from a speech run, one
line per file (path, tab, text), with the decoding settable per call."""

from __future__ import annotations

import argparse
from typing import Any

from rnnkit.cli.flags import emit


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "transcribe",
        help="turn audio files into text with a trained speech run",
        description="Print the transcript of each FILE (WAV, FLAC, OGG...; any rate, mono or "
        "stereo; files over 20 s are cut at pauses and decoded piece by piece) or of every "
        "audio file in a FOLDER, with a `rnnkit train speech` run.",
    )
    p.add_argument("dir", metavar="RUN", help="run folder of `rnnkit train speech`")
    p.add_argument("files", metavar="FILE", nargs="+", help="audio files or folders of them")
    p.add_argument("--beam", type=int, metavar="N", help="beam width (1: greedy; default: run's)")
    p.add_argument("--lm", metavar="RUN", help="character LM run fused into the beam")
    p.add_argument("--lm-weight", type=float, metavar="W", help="weight of the LM (default 0.3)")
    p.add_argument("--length-bonus", type=float, metavar="B", help="score per output character")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from rnnkit.runs.driver import load_run

    loaded = load_run(args.dir, task="speech")
    task = loaded.task
    changes = {k: v for k, v in (("beam", args.beam), ("lm", args.lm),
               ("lm_weight", args.lm_weight), ("length_bonus", args.length_bonus))
               if v is not None}  # fmt: skip
    if changes:
        task.data = task.data.replace(**changes)  # validated: a bad value is one line
    inputs: list[str] = []
    for f in args.files:
        inputs += task.read_inputs(f) if Path(f).is_dir() else [task.parse_input(f)]
    rows = loaded.predict(inputs)
    emit(rows, args.json, "\n".join(task.format_prediction(r) for r in rows))
    return 0
