"""Memory tasks: the generators' statistics, that training lowers the loss, the table writer.

Full-length training runs take minutes and live in bench/memory_tasks.py; these tests use
tiny lengths and step counts and check the machinery only.
"""

from __future__ import annotations

import json

import pytest
import torch

from rnnkit.analysis.memory import markdown_table, memory_table, train_memory_task
from rnnkit.cli.main import main
from rnnkit.data.synthetic import N_COPY, N_SYMBOLS, GeneratedBatches, adding_batch, copy_batch
from rnnkit.errors import RnnkitError


def test_adding_batch_has_one_marker_in_each_half_and_sums_the_marked_values():
    T = 30
    x, y = adding_batch(500, T, torch.Generator().manual_seed(0))
    assert x.shape == (500, T, 2) and y.shape == (500,)
    markers = x[:, :, 1]
    assert torch.all(markers.sum(1) == 2)
    assert torch.all(markers[:, : T // 2].sum(1) == 1)
    torch.testing.assert_close((x[:, :, 0] * markers).sum(1), y)
    assert float(x[:, :, 0].min()) >= 0 and float(x[:, :, 0].max()) < 1


def test_predicting_the_mean_scores_one_sixth():
    """Var(U1 + U2) = 2/12: the baseline the 0.01 bar is measured against."""
    _, y = adding_batch(200_000, 10, torch.Generator().manual_seed(1))
    assert float(((y - 1.0) ** 2).mean()) == pytest.approx(1 / 6, abs=0.003)
    assert float(y.mean()) == pytest.approx(1.0, abs=0.005)


def test_copy_batch_layout():
    delay = 7
    x, y = copy_batch(64, delay, torch.Generator().manual_seed(2))
    total = delay + 2 * N_COPY
    assert x.shape == y.shape == (64, total)
    symbols = x[:, :N_COPY]
    assert int(symbols.min()) >= 1 and int(symbols.max()) <= N_SYMBOLS
    assert torch.all(x[:, N_COPY + delay - 1] == N_SYMBOLS + 1)  # the delimiter
    assert torch.all(x[:, N_COPY : N_COPY + delay - 1] == 0)
    assert torch.all(x[:, -N_COPY:] == 0)
    assert torch.all(y[:, -N_COPY:] == symbols)
    assert torch.all(y[:, :-N_COPY] == 0)


def test_generated_batches_are_reproducible_and_never_repeat():
    src = GeneratedBatches("adding", 12, 4, 3, seed=5)
    a, b = src.batch(0, 1), src.batch(0, 1)
    assert torch.equal(a[0], b[0])
    assert not torch.equal(src.batch(0, 1)[0], src.batch(1, 1)[0])
    assert not torch.equal(src.batch(0, 1)[0], src.batch(0, 2)[0])


@pytest.mark.parametrize("task", ["adding", "copy"])
def test_training_lowers_the_loss(task, tmp_path):
    """A small GRU on a short sequence: validation loss falls; on the adding problem the test
    MSE beats predicting the mean (copying ten symbols needs far more steps than a test has)."""
    r = train_memory_task(
        task,
        "gru",
        6,
        hidden=32,
        batch_size=32,
        lr=1e-2,
        max_steps=150,
        eval_every=50,
        test_size=500,
        progress=False,
        out=tmp_path / "run",
    )
    if task == "adding":
        assert r["test_mse"] < 0.1  # predicting the mean: 0.167
    else:
        assert 0 <= r["test_accuracy"] <= 1
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    val = [json.loads(s)["val_loss"] for s in lines if "val_loss" in s]
    assert val[-1] < val[0]


def test_table_is_written_as_markdown_json_and_png(tmp_path):
    rows = memory_table(
        ["adding", "copy"],
        ["rnn"],
        [4, 5],
        out=tmp_path,
        hidden=4,
        batch_size=4,
        max_steps=2,
        eval_every=1,
        test_size=8,
    )
    assert len(rows) == 4
    md = (tmp_path / "table.md").read_text()
    assert md.count("\n") == 2 + 4 and "| adding | rnn | 4 |" in md
    assert json.loads((tmp_path / "table.json").read_text()) == rows
    assert (tmp_path / "table.png").read_bytes()[:4] == b"\x89PNG"
    assert markdown_table(rows) == md


def test_bad_arguments_are_one_line_errors(capsys):
    with pytest.raises(RnnkitError, match="unknown task"):
        train_memory_task("sorting", "lstm", 10)
    assert main(["memory-task", "--cell", "transformer", "--length", "10"]) == 2
    assert main(["memory-task", "--length", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(e.startswith("rnnkit") and ": error:" in e for e in err)


def test_all_flag_writes_the_table(tmp_path, capsys):
    args = ["memory-task", "--all", "--cells", "gru", "--tasks", "adding", "--lengths", "4"]
    small = ["--hidden", "4", "--batch-size", "4", "--max-steps", "2", "--out", str(tmp_path)]
    assert main(args + small) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["task"], r["cell"], r["length"], r["steps"]) for r in rows] == [
        ("adding", "gru", 4, 2)
    ]
    assert (tmp_path / "table.md").is_file() and (tmp_path / "table.png").is_file()
