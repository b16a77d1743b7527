"""Faults and bad input: a run killed before its first checkpoint, a second writer, tampered
checkpoints and pointers, files the user had, unwritable places, malformed data. Each is one
line on stderr with exit code 2 (a RnnkitError in Python), never a traceback, and nothing the
user had is changed."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rnnkit.cli.main import main
from rnnkit.errors import RnnkitError
from rnnkit.runs.driver import fit
from rnnkit.train import checkpoint as ckpt
from tests.test_classify import write_reviews
from tests.test_cli_lm import assert_user_error, cli
from tests.test_forecast import write_series

TINY = {"hidden_size": 8, "num_layers": 1, "embed_dim": 8}
QUIET = {"progress": False}


@pytest.fixture(scope="module")
def reviews(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("data") / "reviews.csv"
    write_reviews(path, n=120)
    return path


def train_small(reviews: Path, out: Path, steps: int = 4) -> dict:
    return fit("classify", data={"data": str(reviews)}, model=TINY,
               train={"max_steps": steps, "eval_every": 2, **QUIET}, out=out)  # fmt: skip


@pytest.fixture(scope="module")
def run(reviews, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "run"
    train_small(reviews, out)
    return out


def copy_of(run: Path, tmp_path: Path) -> Path:
    dest = tmp_path / "copy"
    shutil.copytree(run, dest)
    return dest


def rewrite_manifest(checkpoint: Path) -> None:
    """Make the manifest match whatever the files now hold (an attacker's move)."""
    manifest = json.loads((checkpoint / "manifest.json").read_text())
    for name in manifest["sha256"]:
        path = (
            checkpoint / name if (checkpoint / name).exists() else checkpoint.parent.parent / name
        )
        manifest["sha256"][name] = hashlib.sha256(path.read_bytes()).hexdigest()
    (checkpoint / "manifest.json").write_text(json.dumps(manifest))


def test_a_run_killed_before_its_first_checkpoint_resumes_from_step_0(reviews, tmp_path):
    out = tmp_path / "run"
    train_small(reviews, out, steps=2)
    for name in ("latest", "best"):  # as if killed before the first checkpoint was named
        (out / name).unlink()
    shutil.rmtree(out / "ckpt")
    with pytest.raises(RnnkitError, match="stopped before its first checkpoint: resume it"):
        train_small(reviews, out)
    results = fit("classify", out=out, resume=True, train={"max_steps": 4, **QUIET})
    assert results["training"]["steps"] == 4
    steps = [json.loads(x)["step"] for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert steps == sorted(steps)  # the killed attempt's rows are gone, none doubled


def test_a_second_writer_is_refused_and_a_dead_ones_lock_is_taken_over(run, tmp_path):
    out = copy_of(run, tmp_path)
    with ckpt.run_lock(out):
        with pytest.raises(
            RnnkitError, match=rf"being written by another .* \(pid {os.getpid()}\)"
        ):
            fit("classify", out=out, resume=True, train={"max_steps": 6, **QUIET})
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from pathlib import Path; "
         "from rnnkit.train.checkpoint import run_lock\n"
         f"with run_lock(Path({str(out)!r})):\n print('held', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(RnnkitError, match=f"pid {holder.pid}"):
        fit("classify", out=out, resume=True, train={"max_steps": 6, **QUIET})
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert fit("classify", out=out, resume=True, train={"max_steps": 6, **QUIET})


@pytest.mark.parametrize(
    "pointer, content, words",
    [
        ("best", b"../../elsewhere/ckpt/step-000000004", "not a checkpoint of this run"),
        ("latest", b"\xff\xfe\x00garbage", "damaged"),
        ("best", b"step-000000004/../../../x", "not a checkpoint of this run"),
    ],
)
def test_pointers_cannot_leave_the_run(run, tmp_path, capsys, pointer, content, words):
    out = copy_of(run, tmp_path)
    (out / pointer).write_bytes(content)
    if pointer == "best":  # what evaluate and predict load
        assert_user_error(cli(capsys, "evaluate", out), words)
    else:  # what resume loads
        assert_user_error(cli(capsys, "train", "classify", "--out", out, "--resume"), words)


class RunsCode:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


def test_a_pickle_that_would_run_code_is_refused_in_one_line(run, tmp_path, capsys):
    out = copy_of(run, tmp_path)
    latest = ckpt.latest_checkpoint(out)
    (latest / "state.pt").write_bytes(pickle.dumps({"step": RunsCode()}))
    rewrite_manifest(latest)
    code, _, err = cli(capsys, "train", "classify", "--out", out, "--resume", "--max-steps", 8)
    assert_user_error((code, "", err), "holds objects other than tensors")
    assert "weights_only" not in err and not Path("pwned").exists()


def test_an_edited_config_with_a_matching_manifest_is_one_line(run, tmp_path, capsys):
    out = copy_of(run, tmp_path)
    config = json.loads((out / "config.json").read_text())
    config["model"]["hidden_size"] = 9
    (out / "config.json").write_text(json.dumps(config))
    for checkpoint in (out / "ckpt").iterdir():
        rewrite_manifest(checkpoint)
    assert_user_error(cli(capsys, "evaluate", out), "do not fit")
    assert_user_error(cli(capsys, "train", "classify", "--out", out, "--resume"), "do not fit")


def test_resume_refuses_changed_settings(run, tmp_path, capsys):
    out = copy_of(run, tmp_path)
    assert_user_error(
        cli(capsys, "train", "classify", "--out", out, "--resume", "--hidden", "512"),
        "--hidden-size",
    )


def test_unwritable_or_occupied_outputs_are_refused(run, reviews, tmp_path, capsys):
    blocker = tmp_path / "afile"
    blocker.write_text("mine")
    base = ["train", "classify", "--data", reviews, "--max-steps", "2", "--quiet"]
    assert_user_error(cli(capsys, *base, "--out", blocker / "run"), "cannot create")
    assert_user_error(cli(capsys, *base, "--out", blocker), "not a directory")
    assert blocker.read_text() == "mine"


def test_files_the_user_had_are_not_replaced(tmp_path, capsys):
    series = tmp_path / "s.csv"
    write_series(series, n=200)
    out = tmp_path / "fc"
    assert main(["train", "forecast", "--data", str(series), "--column", "value",
                 "--horizon", "2", "--window", "24", "--epochs", "1", "--out", str(out),
                 "--quiet"]) == 0  # fmt: skip
    capsys.readouterr()
    notes = tmp_path / "notes.png"
    notes.write_bytes(b"the user's own picture")
    forecast = ["forecast", out, "--data", series, "--column", "value"]
    assert_user_error(cli(capsys, *forecast, "--png", notes), "exists; pass --force")
    assert notes.read_bytes() == b"the user's own picture"
    assert_user_error(cli(capsys, *forecast, "--png", tmp_path / "notes.txt"), "must end in .png")
    assert_user_error(cli(capsys, *forecast, "--png", tmp_path), "is a folder")
    assert cli(capsys, *forecast, "--png", notes, "--force")[0] == 0
    assert notes.read_bytes()[:4] == b"\x89PNG"
    assert not list(tmp_path.glob(".*.tmp*"))  # no temporary file left behind
    grad = tmp_path / "grad"
    grad.mkdir()
    (grad / "gradients.json").write_text("{}")
    assert_user_error(cli(capsys, "gradients", "--cell", "rnn", "--length", "4", "--out", grad),
                      "exists; pass --force")  # fmt: skip
    assert (grad / "gradients.json").read_text() == "{}"
    assert_user_error(cli(capsys, "bench", "--quick", "--plot", notes), "exists; pass --force")


@pytest.mark.parametrize(
    "argv, words",
    [
        (["memory-task", "--lengths", "x", "--all"], "--lengths"),
        (["gradients", "--radius", "nan"], "--radius"),
        (["gradients", "--radius", "-1"], "--radius"),
        (["inspect", "RUN", "--text", "x", "--per-list", "0"], "--per-list"),
        (["train", "classify", "--dataset", "digits-rows", "--lr", "inf"], "--lr"),
        (["train", "lm", "--seq-len", "0"], "--seq-len"),
        (["train", "forecast", "--dataset", "co2"], "horizon must be set"),
    ],
)
def test_absurd_flags_are_refused_up_front(argv, words, capsys):
    assert_user_error(cli(capsys, *argv), words)


def test_malformed_data_is_refused(tmp_path, capsys):
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("text,label\ngood film,pos\nhello, world,neg\n")
    assert_user_error(
        cli(capsys, "train", "classify", "--data", ragged, "--out", tmp_path / "a"),
        "ragged.csv:3: the row has more cells",
    )
    inf = tmp_path / "inf.csv"
    inf.write_text("v\n" + "\n".join(["1", "2", "inf"] + ["3"] * 60) + "\n")
    flat = tmp_path / "flat.csv"
    flat.write_text("v\n" + "\n".join(["5"] * 200) + "\n")
    fc = ["train", "forecast", "--column", "v", "--horizon", "2", "--window", "24"]
    assert_user_error(cli(capsys, *fc, "--data", inf, "--out", tmp_path / "b"), "inf.csv:4")
    assert_user_error(cli(capsys, *fc, "--data", flat, "--out", tmp_path / "c"), "undefined")
    assert_user_error(
        cli(capsys, "train", "tag", "--data", tmp_path, "--out", tmp_path / "d"), "not a regular"
    )
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_predict_refuses_empty_and_undecodable_input(run, tmp_path, capsys, monkeypatch):
    assert_user_error(cli(capsys, "predict", run, ""), "empty")
    binary = tmp_path / "noise.txt"
    binary.write_bytes(os.urandom(512) + b"\x00")
    assert_user_error(cli(capsys, "predict", run, "--input", binary), "binary")

    class Stdin:
        buffer = __import__("io").BytesIO(b"fine text\n\xff\xfe broken\n")

    monkeypatch.setattr(sys, "stdin", Stdin)
    assert_user_error(cli(capsys, "predict", run), "not valid UTF-8")
    assert_user_error(cli(capsys, "predict", tmp_path / "noise.txt", "x"), "is a file")


def test_a_closed_pipe_ends_quietly(run):
    """`rnnkit predict ... | head -1` must not print a BrokenPipeError traceback."""
    texts = ["a great film"] * 3000
    proc = subprocess.Popen([sys.executable, "-m", "rnnkit.cli.main", "predict", str(run), *texts],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    proc.stdout.readline()
    proc.stdout.close()
    deadline = time.time() + 60
    while proc.poll() is None and time.time() < deadline:
        time.sleep(0.1)
    err = proc.stderr.read().decode()
    assert proc.returncode == 0 and "Traceback" not in err, err


def test_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("rnnkit ")


def test_a_full_disk_while_checkpointing_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    import errno

    import torch

    run = ckpt.prepare_run_dir(tmp_path / "run", "test", False)
    weights = {"w": torch.ones(3)}
    first = ckpt.save_checkpoint(run, 1, weights, {"step": 1}, best=True)

    def no_space(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(ckpt, "save_file", no_space)
    with pytest.raises(RnnkitError, match="No space left on device; the previous one is intact"):
        ckpt.save_checkpoint(run, 2, {"w": torch.zeros(3)}, {"step": 2}, best=True)
    assert ckpt.latest_checkpoint(run) == first and ckpt.best_checkpoint(run) == first
    ckpt.verify_checkpoint(first)
    assert sorted(p.name for p in (run / "ckpt").iterdir()) == [first.name]


def test_inspect_text_that_names_a_folder_or_a_missing_file(run, tmp_path, capsys):
    lm = tmp_path / "lm"
    assert main(["train", "lm", "--data", str(Path(__file__)), "--max-steps", "1",
                 "--hidden-size", "4", "--num-layers", "1", "--seq-len", "8",
                 "--batch-size", "2", "--out", str(lm), "--quiet"]) == 0  # fmt: skip
    capsys.readouterr()
    out = tmp_path / "v.html"
    assert_user_error(cli(capsys, "inspect", lm, "--text", tmp_path, "--out", out), "not a regular")
    assert_user_error(cli(capsys, "inspect", lm, "--text", "notes/missing.txt", "--out", out),
                      "not found")  # fmt: skip
    assert not out.exists()


def test_a_folder_given_as_a_series_file(tmp_path, capsys):
    argv = ["train", "forecast", "--data", tmp_path, "--column", "v", "--horizon", "1"]
    assert_user_error(
        cli(capsys, *argv, "--out", tmp_path / "o"), "holds no .csv or .tsv files"
    )  # a folder is a panel
