"""``rnnkit predict DIR TEXT...``: label texts with a classifier or tag them with a tagger.

The run directory's config says which task trained it, so one command serves both.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from rnnkit.cli.classify import emit
from rnnkit.cli.train import one_line_errors
from rnnkit.errors import RnnkitError


def register(subparsers: Any) -> None:
    p = one_line_errors(
        subparsers.add_parser(
            "predict",
            help="label or tag texts with a trained classifier or tagger",
            description="Print the predicted label and its probability per text (classifier) "
            "or each token with its tag (tagger). With no TEXT, reads one text per line from "
            "standard input.",
        )
    )
    p.add_argument("model", metavar="DIR", help="run directory of rnnkit train classify/tag")
    # REMAINDER: texts may begin with '-' and --json may come before or after them
    p.add_argument("texts", metavar="TEXT", nargs=argparse.REMAINDER, help="texts to label")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rnnkit.train import checkpoint as ckpt

    if "--json" in args.texts:
        args.json = True
        args.texts = [t for t in args.texts if t != "--json"]
    texts = args.texts or [line.rstrip("\n") for line in sys.stdin if line.strip()]
    if not texts:
        raise RnnkitError("no text to predict: pass TEXT arguments or lines on stdin")
    task = ckpt.read_json(Path(args.model) / "config.json", "model config").get("task")
    if task == "classify":
        from rnnkit.tasks.classify import LoadedClassifier

        results = LoadedClassifier(args.model).predict(texts)
        text = "\n".join(f"{r['label']}\t{r['probability']:.3f}\t{r['text']}" for r in results)
    elif task == "tag":
        from rnnkit.tasks.tag import LoadedTagger

        results = LoadedTagger(args.model).predict(texts)
        text = "\n".join(" ".join(f"{w}/{t}" for w, t in r["tokens"]) for r in results)
    else:
        raise RnnkitError(f"{args.model} holds a {task!r} model; predict serves classify and tag")
    emit(results, args.json, text)
    return 0
