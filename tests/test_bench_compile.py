"""``rnnkit bench --compile``: rnnkit's layers under torch.compile beside eager and torch.nn.

Inductor's C++ compile of each case takes seconds to minutes on two cores, so these tests
hand the bench Dynamo's ``eager`` backend: the rotation, the compiling before the timed runs,
the columns and the JSON are the bench's own; inductor itself is tested in
``tests/test_compile.py``.
"""

from __future__ import annotations

import json

import pytest
import torch
from torch._dynamo.testing import CompileCounterWithBackend

from rnnkit import bench
from rnnkit.cli.main import main


@pytest.fixture
def counted(monkeypatch):
    """bench.compile_layer with a backend that counts the graphs it is given."""
    counters = []

    def compile_layer(model):
        torch._dynamo.reset()
        counters.append(CompileCounterWithBackend("eager"))
        return torch.compile(model, backend=counters[-1])

    monkeypatch.setattr(bench, "compile_layer", compile_layer)
    return counters


def test_compiled_column_beside_eager_and_torch(counted):
    peak, results = bench.run_bench(
        cells=("rnn", "lstm"), configs=((3, 2, 4, 5),), repeats=2, generation_tokens=2,
        compiled=True,
    )  # fmt: skip
    assert [(r.cell, r.mode) for r in results] == [
        ("rnn", "train"), ("rnn", "infer"), ("lstm", "train"), ("lstm", "infer"),
        ("lstm", "generate"),
    ]  # fmt: skip
    for r in results:
        assert r.compiled_ms > 0 and r.compiled_speedup > 0 and r.rnnkit_ms > 0
        assert r.compiled_low <= r.compiled_speedup <= r.compiled_high
    # One module compiled per layer (train and infer: one graph each, grad mode differs) and
    # one for generation; compiled once, before the timed runs: no recompile while timing.
    assert [c.frame_count for c in counted] == [2, 2, 1]
    table = bench.format_table(peak, results)
    head = table.splitlines()[1]
    assert head.endswith("compiled ms vs eager  95% interval")
    assert len(table.splitlines()) == len(results) + 4
    assert table.splitlines()[-1].startswith("slower compiled (95% interval")
    rows = json.loads(json.dumps(bench.to_json(peak, results)))["results"]
    assert {"compiled_ms", "compiled_speedup", "compiled_low", "compiled_high"} <= set(rows[0])


def row(speedup: float, low: float, high: float, cell: str = "gru") -> bench.Result:
    return bench.Result(cell, "infer", 100, 16, 64, 128, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0,
                        compiled_ms=1.0, compiled_speedup=speedup, compiled_low=low,
                        compiled_high=high)  # fmt: skip


def test_a_row_is_slower_compiled_only_when_its_whole_interval_is_below_one():
    level, noisy, slower = row(1.0, 0.99, 1.01), row(0.98, 0.96, 1.002), row(0.98, 0.97, 0.99)
    assert bench.slower_compiled([level, noisy, slower]) == [slower]
    assert bench.compiled_verdict([level, noisy]).endswith(": none")
    assert bench.compiled_verdict([level, slower]).endswith(": gru infer 100,16,64,128")


def test_without_compile_no_compiled_column(counted):
    peak, results = bench.run_bench(cells=("gru",), configs=((3, 2, 4, 5),), repeats=1,
                                    generation=False)  # fmt: skip
    assert counted == [] and all(r.compiled_ms == 0 for r in results)
    assert "compiled" not in bench.format_table(peak, results)


def test_cli_compile_flag(counted, capsys):
    assert main(["bench", "--quick", "--compile", "--cells", "gru", "--no-generation",
                 "--repeats", "1", "--json"]) == 0  # fmt: skip
    rows = json.loads(capsys.readouterr().out)["results"]
    assert [(r["cell"], r["mode"]) for r in rows] == [("gru", "train"), ("gru", "infer")]
    assert all(r["compiled_ms"] > 0 for r in rows) and len(counted) == 1
