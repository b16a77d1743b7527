"""``rnnkit bench --precision``: both libraries under autocast, with the bound beside."""

from __future__ import annotations

import pytest

from rnnkit import bench
from rnnkit.cli.main import main


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_bench_reports_precision_peak_and_products_bound(precision):
    peak, results = bench.run_bench(
        cells=("lstm", "gru"), configs=((3, 2, 4, 5),), repeats=1, generation_tokens=2,
        precision=precision,
    )  # fmt: skip
    assert peak > 0
    assert [(r.cell, r.mode) for r in results] == [
        ("lstm", "train"), ("lstm", "infer"), ("gru", "train"), ("gru", "infer"),
        ("lstm", "generate"),
    ]  # fmt: skip
    for r in results:
        assert r.precision == precision and r.bound_ms > 0 and r.rnnkit_ms > 0
    table = bench.format_table(peak, results)
    assert table.startswith(f"precision {precision}")
    assert "bound ms" in table
    assert len(table.splitlines()) == len(results) + 3 + (precision == "bf16")
    if precision == "bf16":  # which path ran rnnkit's bfloat16 products
        assert "bfloat16 products: " in table.splitlines()[1]
        assert {r.products for r in results} <= {"lowp", "rounded"}


def test_bench_rejects_an_unknown_precision(capsys):
    assert main(["bench", "--precision", "fp8"]) == 2
    assert "invalid choice: 'fp8'" in capsys.readouterr().err
