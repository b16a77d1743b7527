"""Tiny trained runs of the newer tasks, for tests that need a run folder and not a good model:
each trains for two steps with the smallest sizes through the driver, so the whole set takes
seconds. ``tiny_run(kind, folder)`` writes its data and run under ``folder`` and returns the run."""

from __future__ import annotations

import json
from pathlib import Path

from rnnkit.runs.driver import fit
from tests.caption_data import write_caption_folder
from tests.music_data import write_tunes
from tests.speech_data import write_tone_corpus
from tests.test_translate import write_pairs

QUICK = {"max_steps": 2, "eval_every": 2, "progress": False}
SMALL = {"hidden_size": 8, "num_layers": 1, "embed_dim": 8}


def _translate(d: Path) -> dict:
    return {"data": {"data": str(write_pairs(d / "pairs.tsv", 40)), "tokens": "word",
                     "val": 0.1, "test": 0.1}}  # fmt: skip


def _chat(d: Path) -> dict:
    rows = [{"line": f"hello number {i}", "reply": f"greetings to number {i}"} for i in range(40)]
    (d / "turns.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return {"data": {"data": str(d / "turns.jsonl"), "src_col": "line", "tgt_col": "reply",
                     "tokens": "word", "val": 0.1, "test": 0.1}}  # fmt: skip


def _summarize(d: Path) -> dict:
    rows = [{"document": f"the report number {i} says the cat sat on the mat today",
             "summary": f"report {i}: cat sat"} for i in range(40)]  # fmt: skip
    (d / "docs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return {"data": {"data": str(d / "docs.jsonl"), "tokens": "word", "val": 0.1, "test": 0.1}}


def _reorder(d: Path) -> dict:
    from rnnkit.data.text import read_text

    (d / "text.txt").write_text(read_text(None)[:6000])
    return {"data": {"data": str(d / "text.txt"), "lm_order": 2}}


def _caption(d: Path) -> dict:
    write_caption_folder(d / "images", n=24)
    return {"data": {"data": str(d / "images"), "batch_size": 8},
            "model": {"width": 4, "stages": 2, "image_size": 16}}  # fmt: skip


def _speech(d: Path) -> dict:
    write_tone_corpus(d / "audio", n=30)
    return {"data": {"data": str(d / "audio"), "batch_size": 8, "baseline_steps": 2},
            "model": {"hidden_size": 8, "num_layers": 1}}  # fmt: skip


def _music(d: Path) -> dict:
    write_tunes(d / "tunes.abc", 40)
    data = {"data": str(d / "tunes.abc"), "batch_size": 8, "eval_tunes": 2, "ngram_order": 3,
            "music21_check": False, "val": 0.1, "test": 0.1}  # fmt: skip
    return {"data": data}


def _lm(d: Path) -> dict:
    (d / "lm.txt").write_text("ab ca bc ab\n" * 200)
    return {"data": {"data": str(d / "lm.txt"), "batch_size": 4, "seq_len": 16}}


RECIPES = {"translate": _translate, "chat": _chat, "summarize": _summarize, "reorder": _reorder,
           "caption": _caption, "speech": _speech, "music": _music, "lm": _lm}  # fmt: skip


def tiny_run(kind: str, folder: Path) -> Path:
    """A run of task ``kind`` trained for two steps into ``folder/run``."""
    folder.mkdir(parents=True, exist_ok=True)
    recipe = RECIPES[kind](folder)
    model = recipe.get("model", SMALL)
    out = folder / "run"
    fit(kind, data=recipe["data"], model=model, train=QUICK, out=out)
    return out
