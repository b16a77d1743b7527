"""``rnnkit compose``: folk tunes from a trained ``music`` run, as .abc, .mid and .png files."""

from __future__ import annotations

import argparse
from typing import Any

from rnnkit.cli.flags import emit, nonneg_float, nonneg_int, positive_int


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "compose",
        help="write new folk tunes with a trained music model",
        description="Sample N tunes (meter and mode as asked, or sampled too), move them from C "
        "to --key and write tune-01.abc, tune-01.mid and tune-01.png ... into --out. Existing "
        "files are never replaced without --force.",
    )
    p.add_argument("dir", metavar="RUN", help="run folder written by `rnnkit train music`")
    p.add_argument("--n", type=positive_int, default=10, help="how many tunes")
    p.add_argument("--meter", help="meter, e.g. 6/8, 4/4, 3/4 (default: sampled)")
    p.add_argument("--key", help="key with mode, e.g. Dmaj, Emin, Ador, Gmix (needs --meter)")
    p.add_argument("--out", help="folder to write the tunes into")
    p.add_argument("--temperature", type=nonneg_float, default=1.0,
                   help="softmax temperature (0: greedy)")  # fmt: skip
    p.add_argument("--seed", type=nonneg_int, help="random seed for repeatable tunes")
    p.add_argument("--no-midi", action="store_true", help="no .mid files")
    p.add_argument("--no-png", action="store_true", help="no piano-roll .png files")
    p.add_argument("--force", action="store_true", help="replace existing tune files")
    p.add_argument("--check", action="store_true",
                   help="write nothing: print the shares of N drawn tunes that finish, parse "
                   "with music21, have well-formed bars and end on the tonic")  # fmt: skip
    p.add_argument("--ngram", action="store_true",
                   help="with --check: the same shares for the Kneser-Ney baseline, refitted on "
                   "the run's training split")  # fmt: skip
    p.add_argument("--free", action="store_true",
                   help="draw every token from the model as it is; by default a token after "
                   "which the tune can no longer be well formed (a bar longer than the "
                   "meter, a length with no note) is drawn again from the rest "
                   "(docs/music.md)")  # fmt: skip
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run_compose)


def run_compose(args: argparse.Namespace) -> int:
    from rnnkit.errors import RnnkitError
    from rnnkit.runs.music import check_samples, compose
    from rnnkit.scoring.tunes import format_checks

    if args.ngram and not args.check:  # it would be ignored: compose writes the RNN's tunes
        raise RnnkitError("--ngram goes with --check (the n-gram baseline's shares beside the "
                          "RNN's); compose writes the RNN's tunes only")  # fmt: skip
    if args.check:
        r = check_samples(args.dir, args.n, args.meter, args.key, args.temperature,
                          args.seed or 0, ngram=args.ngram, rules=not args.free)  # fmt: skip
        how = "drawn freely" if args.free else "with the bar rules"
        lines = [f"{args.n} tunes at temperature {args.temperature}, seed {r['seed']}, {how}"]
        for who, shares in (("rnn", r), ("ngram", r.get("ngram"))):
            if shares:
                lines.append(f"{who:>6}: {format_checks(shares)}")
        if r["faults"]:
            lines.append("  rnn tunes failing, by the first check they fail: " + ", ".join(
                f"{k} {v}" for k, v in r["faults"].items()))  # fmt: skip
        emit(r, args.json, "\n".join(lines))
        return 0
    if args.out is None:
        raise RnnkitError("give --out FOLDER (or --check to write nothing)")
    r = compose(args.dir, args.n, args.meter, args.key, args.out, args.temperature, args.seed,
                args.force, not args.no_midi, not args.no_png, not args.free)  # fmt: skip
    lines = ["  ".join(group) for group in r["files"]]
    if r["redrawn"]:
        lines.append(f"{r['redrawn']} drawn tunes did not read as ABC and were drawn again")
    if r["unfinished"]:
        lines.append(f"{r['unfinished']} tunes reached the length limit before their end")
    emit(r, args.json, "\n".join(lines))
    return 0
