"""``bench/reliability_sweep.py``: its quick mode end to end (a few readers and commands, the
table, the per-section times, ``--doc``), the clock behind its progress and estimate, and the
one argument parser it reuses for every in-process command."""

from __future__ import annotations

import argparse
import importlib.util
import io
import json
import sys
from pathlib import Path

import pytest

from rnnkit.cli import main as cli


@pytest.fixture
def bench(monkeypatch):
    """The sweep as a fresh module; rnnkit's ``build_parser`` put back afterwards (the sweep
    replaces it with one that returns the same parser)."""
    monkeypatch.setattr(cli, "build_parser", cli.build_parser)
    path = Path(__file__).resolve().parents[1] / "bench" / "reliability_sweep.py"
    spec = importlib.util.spec_from_file_location("reliability_sweep", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    return module


def on_the_descriptors(monkeypatch) -> None:
    """``sys.stdout`` and ``sys.stderr`` writing to descriptors 1 and 2, as outside pytest (the
    sweep catches a case's output there); called in the test, after pytest set its own."""
    for fd, name in ((1, "stdout"), (2, "stderr")):
        stream = open(fd, "w", buffering=1, closefd=False)  # noqa: SIM115
        monkeypatch.setattr(sys, name, stream)


def test_quick_sweep_counts_times_each_section_and_writes_the_doc(
    bench, tmp_path, capfd, monkeypatch
):
    on_the_descriptors(monkeypatch)
    doc = tmp_path / "doc.md"
    doc.write_text("before\n<!-- reliability_sweep: begin -->\nold\n"
                   "<!-- reliability_sweep: end -->\nafter\n")  # fmt: skip
    only = ["text corpus", "ABC file", "memory-task", "predict music TEXT"]
    code = bench.main(["--cases", "3", "--commands", "2", "--only", *only, "--no-progress",
                       "--doc", str(doc)])  # fmt: skip
    out = capfd.readouterr().out
    assert code == 0
    for name, n in [("text corpus", 3), ("ABC file", 3), ("memory-task --out", 2),
                    ("predict music TEXT", 2)]:  # fmt: skip
        row = next(line for line in out.splitlines() if line.startswith(f"| {name} |"))
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[1] == str(n) and cells[4:] == ["0", "0", "0"], row  # no traceback, hang
        assert int(cells[2]) + int(cells[3]) == n, row  # each read/ran or one clean line
        timing = next(line for line in out.splitlines() if line.startswith(name[:44] + " "))
        assert timing.split()[len(name.split())] == str(n), timing  # the cases it timed
    assert "training the runs" in out  # the music run, trained once as set-up
    assert "train classify" not in out  # no section that was not asked for
    assert "cases per reader and command would take about" in out
    text = doc.read_text()
    assert text.startswith("before\n") and text.endswith("after\n") and "old" not in text
    assert "| predict music TEXT | 2 |" in text and "--only text corpus" in text


def test_only_the_runs_a_section_uses_are_trained(bench, tmp_path):
    runs = bench.Runs(tmp_path)
    assert sorted(runs) == sorted(runs.cases) and runs.trained == {}
    path = runs["music"]
    assert (path / "results.json").is_file() and list(runs.trained) == ["music"]
    assert runs["music"] == path  # trained once
    assert bench.CLOCK.setup["training the runs"] > 0


def test_clock_gives_each_sections_pace_what_is_left_and_the_projection(bench):
    stream = io.StringIO()
    clock = bench.Clock(total=6, stream=stream)
    for name, n in [("text corpus", 2), ("train lm", 2), ("train tag", 2)]:
        clock.plan(name, n)
    clock.tick("text corpus", 1.0)
    clock.tick("text corpus", 3.0)
    clock.section_done("text corpus")
    clock.tick("train lm", 10.0)
    clock.tick("train lm", 20.0)
    line = clock.section_done("train lm")
    clock.close()
    assert line.startswith("train lm: 2 cases in 30 s (15.00 s a case)")
    assert clock.left() == pytest.approx(30.0)  # train tag's 2 cases at the commands' 15 s
    assert "about 0 min left" in line  # half a minute, rounded
    assert "text corpus: 2 cases in 4 s (2.00 s a case)" in stream.getvalue()
    clock.setup["training the runs"] = 60.0
    assert clock.projected(300) == pytest.approx((2.0 + 15.0) * 300 + 60.0)
    rows = clock.table(300).splitlines()
    assert rows[1].split() == ["train", "lm", "2", "30.0", "15.00", "75.0"]  # slowest first
    assert rows[2].split() == ["text", "corpus", "2", "4.0", "2.00", "10.0"]
    assert rows[3].split() == ["training", "the", "runs", "once", "60.0"]


ARGVS = [
    ["translate", "RUN", "hello", "--attention", "a.png"],
    ["train", "classify", "--data", "x.csv", "--max-steps", "2", "--out", "o"],
    ["train", "music", "--data", "t.abc", "--no-music21-check", "--eval-tunes", "2"],
    ["predict", "RUN", "--input", "i.txt", "--output", "o.jsonl", "--force"],
    ["bench", "--quick", "--cells", "rnn", "--plot", "p.png"],
    ["compose", "RUN", "--n", "2", "--no-png", "--out", "d"],
]


def comparable(ns) -> dict:
    """A namespace's values, functions by name and the parser's actions by their flags (each
    parser build makes its own)."""

    def plain(v):
        if isinstance(v, argparse.Action):
            return (type(v).__name__, tuple(v.option_strings), v.dest)
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        return getattr(v, "__qualname__", v) if callable(v) else v

    return {k: plain(v) for k, v in vars(ns).items()}


def test_the_reused_parser_parses_like_a_fresh_one_and_shares_no_mutable_default(bench):
    fresh = cli.build_parser
    bench.reuse_parser()
    assert cli.build_parser is not fresh and cli.build_parser() is cli.build_parser()
    reused = cli.build_parser()
    with pytest.raises(SystemExit):  # a refused parse first: it must leave nothing behind
        reused.parse_args(["train", "classify", "--max-steps", "x"])
    for argv in ARGVS:
        a, b = reused.parse_args(argv), fresh().parse_args(argv)
        assert comparable(a) == comparable(b), argv
    first = reused.parse_args(ARGVS[3])
    first.outputs.clear()  # a command changing its own copy
    first.parser_defaults = None
    again = reused.parse_args(ARGVS[3])
    assert again.outputs == fresh().parse_args(ARGVS[3]).outputs != {}
    bench.reuse_parser()  # a second call keeps the same parser
    assert cli.build_parser() is reused


def test_a_case_through_main_with_the_reused_parser_is_counted_as_before(
    bench, tmp_path, monkeypatch
):
    on_the_descriptors(monkeypatch)
    bench.reuse_parser()
    o = bench.run_in_process(["translate", str(tmp_path / "missing"), "hi"], None, 30)
    assert bench.classify(o) == "clean error" and "not found" in o.stderr
    o = bench.run_in_process(["translate", "x", "foo\udcffbar"], None, 30)
    assert bench.classify(o) == "clean error"


def test_demo_in_the_sweep_trains_a_tiny_model_into_its_out(bench, tmp_path, monkeypatch):
    from rnnkit.runs import lm

    monkeypatch.setattr(lm, "train_lm", lm.train_lm)
    on_the_descriptors(monkeypatch)
    bench.reuse_parser()
    bench.tiny_demo()
    wrapped = lm.train_lm
    bench.tiny_demo()  # a second call wraps nothing twice
    assert lm.train_lm is wrapped and wrapped.tiny
    out = tmp_path / "demo"
    o = bench.run_in_process(["demo", "--minutes", "0.001", "--out", str(out)], None, 120)
    assert bench.classify(o) == "ran", o.stderr
    config = json.loads((out / "config.json").read_text())
    assert config["model"]["hidden_size"] == 8 and config["model"]["num_layers"] == 1
    o = bench.run_in_process(["demo", "--minutes", "0.001", "--out", str(out)], None, 120)
    assert bench.classify(o) == "clean error"  # the same folder again: refused, as untouched


def test_the_decompression_bomb_is_made_once_and_declares_its_size(bench):
    from PIL import Image

    data = bench.bomb_png()
    assert bench.bomb_png() is data and len(data) < 100_000
    with Image.open(io.BytesIO(data)) as img:  # the header only: nothing decompressed
        assert img.size == (12000, 12000)


def test_bench_in_the_sweep_measures_the_matmul_peak_once(bench, monkeypatch):
    from rnnkit import bench as rnnkit_bench

    calls = []

    def peak(size: int = 2048, repeats: int = 10, dtype=None) -> float:
        calls.append(size)
        return 100.0 + len(calls)

    monkeypatch.setattr(rnnkit_bench, "matmul_peak", peak)
    bench.one_matmul_peak()
    bench.one_matmul_peak()  # not cached twice over
    assert rnnkit_bench.matmul_peak(64, 1) == rnnkit_bench.matmul_peak(64, 1) == 101.0
    assert calls == [64]
