"""The language-model commands end to end, and every bad input: exit code 2, one stderr line,
no traceback, nothing existing overwritten. A run killed with SIGKILL resumes exactly."""

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from rnnkit.cli.main import main
from rnnkit.data import read_text
from rnnkit.runs.lm import train_lm
from rnnkit.train.checkpoint import latest_checkpoint, load_weights

SMALL = ["--hidden", "16", "--layers", "1", "--embed", "8", "--seq-len", "12"]
SMALL += ["--batch-size", "4", "--quiet"]


def cli(capsys, *argv):
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def assert_user_error(result, *words):
    code, _, err = result
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err
    for w in words:
        assert w in err, err


def snapshot(d: Path) -> dict:
    return {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in d.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    f = tmp_path_factory.mktemp("data") / "text.txt"
    f.write_text(read_text(None)[:15000])
    return f


@pytest.fixture(scope="module")
def run_dir(corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "run"
    code = main(
        [
            "train",
            "lm",
            "--data",
            str(corpus),
            *SMALL,
            "--max-steps",
            "12",
            "--eval-every",
            "6",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    return out


def test_train_prints_sample_figures_and_paths(corpus, tmp_path, capsys):
    code, out, _ = cli(
        capsys,
        "train",
        "lm",
        "--data",
        corpus,
        *SMALL,
        "--max-steps",
        "4",
        "--out",
        tmp_path / "r",
        "--level",
        "word",
        "--cell",
        "gru",
    )
    assert code == 0
    assert "Held-out loss" in out and "perplexity" in out
    assert "loss.png" in out and "Sample:" in out
    assert (tmp_path / "r" / "loss.png").is_file()


def test_generate_complete_score_evaluate(run_dir, capsys):
    code, out, _ = cli(
        capsys,
        "generate",
        run_dir,
        "--prime",
        "KING",
        "--length",
        "30",
        "--seed",
        "1",
        "--top-k",
        "5",
        "--top-p",
        "0.9",
    )
    assert code == 0 and out.startswith("KING") and len(out) == len("KING") + 30 + 1
    import json

    code, out, _ = cli(capsys, "complete", run_dir, "--prefix", "The kin", "-k", "3", "--json")
    got = json.loads(out)
    assert code == 0 and len(got["suggestions"]) == 3
    code, out, _ = cli(capsys, "score", run_dir, "The king", "--json")
    got = json.loads(out)
    assert got["total_logprob"] == pytest.approx(sum(t["logprob"] for t in got["tokens"]))
    code, out, _ = cli(capsys, "evaluate", run_dir, "--json")
    got = json.loads(out)
    assert code == 0 and got["bits_per_char"] > 0
    code, out, _ = cli(capsys, "evaluate", run_dir)
    assert "bits per character" in out


@pytest.mark.parametrize(
    "content, words",
    [
        (b"", ["empty"]),
        (b"\x00\x01\x02binary", ["binary"]),
        (b"\xff\xfe bad", ["UTF-8"]),
        (b"too short for a batch", ["one batch needs"]),
    ],
)
def test_bad_data_files(tmp_path, capsys, content, words):
    f = tmp_path / "bad.txt"
    f.write_bytes(content)
    out = tmp_path / "out"
    assert_user_error(
        cli(capsys, "train", "lm", "--data", f, "--out", out, "--max-steps", 1), *words
    )
    assert not out.exists()  # nothing is created for a run that cannot start


def test_missing_data_file(tmp_path, capsys):
    assert_user_error(
        cli(capsys, "train", "lm", "--data", tmp_path / "nope.txt", "--out", tmp_path / "o"),
        "not found",
    )


@pytest.mark.parametrize(
    "flags",
    [
        ["--hidden", "-3"],
        ["--lr", "-1"],
        ["--batch-size", "0"],
        ["--dropout", "1.5"],
        ["--max-steps", "abc"],
        ["--hidden", "100000"],
        ["--layers", "1000"],
        ["--nproc", "0"],
        ["--clip", "nan"],
        ["--max-time", "-5"],
        ["--seq-len", "0"],
        ["--cell", "transformer"],
        ["--hidden", "16384", "--layers", "64"],
    ],
)
def test_negative_or_absurd_train_flags(corpus, tmp_path, capsys, flags):
    assert_user_error(cli(capsys, "train", "lm", "--data", corpus, "--out", tmp_path / "o", *flags))
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    "argv, words",
    [
        (["generate", "{run}", "--prime", "\u00e9l\u00e9phant"], ["vocabulary lacks"]),
        (["generate", "{run}", "--temperature", "-1"], ["temperature"]),
        (["generate", "{run}", "--top-p", "2"], ["top-p"]),
        (["complete", "{run}", "--prefix", "x", "-k", "0"], ["-k"]),
        (["score", "{run}", "\u00e9t\u00e9"], ["vocabulary lacks"]),
        (["generate", "{missing}"], ["not found"]),
        (["evaluate", "{run}", "--data", "{missing}"], ["not found"]),
    ],
)
def test_bad_use_of_a_trained_model(run_dir, tmp_path, capsys, argv, words):
    argv = [a.format(run=run_dir, missing=tmp_path / "missing") for a in argv]
    assert_user_error(cli(capsys, *argv), *words)


@pytest.mark.parametrize("damage", ["truncate", "flip", "config", "delete"])
def test_damaged_checkpoint(run_dir, tmp_path, capsys, damage):
    import shutil

    run = tmp_path / "copy"
    shutil.copytree(run_dir, run)
    ck = latest_checkpoint(run)
    target = {"config": run / "config.json"}.get(damage, ck / "model.safetensors")
    data = target.read_bytes()
    if damage == "truncate":
        target.write_bytes(data[:100])
    elif damage == "flip":
        target.write_bytes(data[:-5] + bytes([data[-5] ^ 0x10]) + data[-4:])
    elif damage == "config":
        target.write_bytes(data.replace(b'"hidden_size": 16', b'"hidden_size": 17'))
    else:
        target.unlink()
    for cmd in (["generate", run], ["evaluate", run], ["score", run, "The"]):
        assert_user_error(cli(capsys, *cmd))


def test_out_holding_another_run_is_refused_and_untouched(run_dir, corpus, capsys):
    before = snapshot(run_dir)
    assert_user_error(
        cli(capsys, "train", "lm", "--data", corpus, "--out", run_dir, *SMALL, "--max-steps", 2),
        "resume it",
    )
    assert snapshot(run_dir) == before


def test_resume_with_nothing_to_resume(tmp_path, capsys):
    assert_user_error(
        cli(capsys, "train", "lm", "--out", tmp_path / "empty", "--resume"), "no rnnkit run"
    )


def test_help_on_every_command(capsys):
    for cmd in (
        ["train"],
        ["train", "lm"],
        ["generate"],
        ["complete"],
        ["score"],
        ["evaluate"],
        ["demo"],
    ):
        code, out, _ = cli(capsys, *cmd, "--help")
        assert code == 0 and out.startswith("usage: rnnkit " + cmd[0])
    rnnkit = Path(sys.executable).parent / "rnnkit"  # the installed console script
    r = subprocess.run([str(rnnkit), "--help"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "generate" in r.stdout


def test_sigkill_then_resume_gives_the_same_weights(corpus, tmp_path, capsys):
    args = ["train", "lm", "--data", str(corpus), *SMALL, "--dropout", "0.2", "--layers", "2"]
    args += ["--max-steps", "60", "--eval-every", "4"]
    # The uninterrupted reference run, in-process (the same train_lm the command calls).
    train_lm(
        corpus,
        out=tmp_path / "straight",
        hidden_size=16,
        num_layers=2,
        embed_dim=8,
        seq_len=12,
        batch_size=4,
        dropout=0.2,
        max_steps=60,
        eval_every=4,
        progress=False,
    )
    killed = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.Popen(
        [sys.executable, "-m", "rnnkit.cli.main", *args, "--out", str(killed)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    deadline = time.time() + 120
    while latest_checkpoint(killed) is None and time.time() < deadline and proc.poll() is None:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    step = int(latest_checkpoint(killed).name.split("-")[1])
    assert step < 60, "the run ended before it could be killed"
    assert main([*args, "--out", str(killed), "--resume"]) == 0
    a = load_weights(latest_checkpoint(tmp_path / "straight"))
    b = load_weights(latest_checkpoint(killed))
    assert latest_checkpoint(killed).name == "step-000000060"
    for k in a:
        assert torch.equal(a[k], b[k]), k
