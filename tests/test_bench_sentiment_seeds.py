"""``bench/sentiment_seeds.py``: the row over seeds against statistics by hand, the table read
from run folders already there (``--report``), and ``--doc`` replacing only its own block."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest


def load_bench():
    path = Path(__file__).resolve().parents[1] / "bench" / "sentiment_seeds.py"
    spec = importlib.util.spec_from_file_location("sentiment_seeds", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def results(test: float, val: float, seconds: float, pretrain: float | None = None) -> dict:
    r = {
        "test": {"accuracy": test},
        "baseline": {"accuracy": 0.80},
        "training": {"elapsed_s": seconds, "best_value": val - 0.01,
                     "averaged": {"val_accuracy": val}},
    }  # fmt: skip
    if pretrain is not None:
        r["pretraining"] = {"steps": 10, "seconds": pretrain}
    return r


def test_row_gives_mean_sample_sd_points_and_slowest_seed():
    bench = load_bench()
    runs = {s: bench.figures(results(t, 0.9, 10.0 * (s + 1), 2.0))
            for s, t in enumerate((0.80, 0.82, 0.84))}  # fmt: skip
    r = bench.row("tweets", "char", runs)
    assert r["test"] == pytest.approx(0.82) and r["test_sd"] == pytest.approx(0.02)
    assert r["points"] == pytest.approx(2.0) and r["met"]
    assert r["val"] == pytest.approx(0.9)  # the averaged weights' validation accuracy
    assert r["train_s"] == pytest.approx(32.0) and r["pretrain_s"] == 2.0
    line = bench.table([r]).splitlines()[-1]
    assert "0.8200 ± 0.0200 (0.8000 / 0.8200 / 0.8400)" in line and "+2.00 | yes" in line


def test_report_reads_run_folders_and_doc_block_is_replaced(tmp_path, capsys):
    bench = load_bench()
    for seed, acc in ((0, 0.805), (1, 0.815)):
        folder = bench.run_dir(tmp_path, "amazon", "word", seed)
        folder.mkdir(parents=True)
        (folder / "results.json").write_text(json.dumps(results(acc, 0.8, 5.0)))
    doc = tmp_path / "doc.md"
    doc.write_text(f"before\n{bench.MARKER[0]}\nold\n{bench.MARKER[1]}\nafter\n")
    argv = ["--sets", "amazon", "--levels", "word", "--seeds", "0", "1", "--out",
            str(tmp_path), "--report", "--doc", str(doc)]  # fmt: skip
    assert bench.main(argv) == 0
    out = capsys.readouterr().out
    assert "| sentiment-amazon | word | 2 | 0.8100 ± 0.0071" in out and "+1.00 | yes" in out
    text = doc.read_text()
    assert text.startswith("before\n") and text.endswith("after\n") and "old" not in text
    assert "0.8100 ± 0.0071" in text


def test_an_average_left_out_shows_the_best_checkpoints_validation():
    bench = load_bench()
    r = results(0.8, 0.85, 10.0)
    r["training"]["averaged"]["kept"] = False  # worse than the best checkpoint: not used
    assert bench.figures(r)["val"] == pytest.approx(0.84)  # the best checkpoint's
