"""Kill storm: every built-in task's training is killed with SIGKILL 20 times at random moments
(during set-up, before the first checkpoint, inside checkpoint writes, during the test) and
resumed each time. The run must finish with the right step count, every checkpoint must match
its manifest, and the final weights must equal an uninterrupted run's exactly."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from rnnkit.train import checkpoint as ckpt
from tests.test_task_contract import CASES

KILLS = 20
STEPS = 60


def without_stop_rules(flags: list) -> list:
    out, skip = [], False
    for f in flags:
        if skip:
            skip = False
        elif f in ("--epochs", "--max-steps"):
            skip = True
        else:
            out.append(f)
    return out


def command(task: str, flags: list, out: Path, resume: bool) -> list[str]:
    flags = without_stop_rules(flags)
    tiny = ["--hidden-size", "12", "--num-layers", "1", "--eval-every", "4", "--patience", "1000"]
    argv = ["train", task, *flags, *tiny, "--max-steps", str(STEPS), "--out", out, "--quiet"]
    return [sys.executable, "-m", "rnnkit.cli.main", *map(str, argv), *(["--resume"] * resume)]


def final_weights(out: Path) -> dict[str, torch.Tensor]:
    return ckpt.load_weights(ckpt.latest_checkpoint(out))


@pytest.mark.slow
@pytest.mark.parametrize("task", sorted(CASES))
def test_twenty_kills_and_resumes_give_the_uninterrupted_weights(task, tmp_path):
    flags, *_ = CASES[task](tmp_path)
    reference = tmp_path / "reference"
    subprocess.run(command(task, flags, reference, False), check=True, capture_output=True)
    started = time.perf_counter()
    subprocess.run(command(task, flags, tmp_path / "timing", False), check=True)
    whole = time.perf_counter() - started  # one uninterrupted run, start-up included

    out, rng, kills, rounds = tmp_path / "storm", random.Random(task), 0, 0
    while kills < KILLS:
        rounds += 1
        assert rounds < 10 * KILLS, "the runs keep finishing before the kill"
        resume = (out / ckpt.RUN_FILE).is_file()
        proc = subprocess.Popen(command(task, flags, out, resume), stderr=subprocess.PIPE)
        try:
            proc.wait(timeout=rng.uniform(0.2, whole))
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            kills += 1
            continue
        err = proc.stderr.read().decode()
        assert proc.returncode == 0, err  # finished before the kill: the next round resumes it
    final = subprocess.run(command(task, flags, out, (out / ckpt.RUN_FILE).is_file()),
                           capture_output=True, text=True)  # fmt: skip
    assert final.returncode == 0, final.stderr
    results = json.loads((out / "results.json").read_text())
    assert results["training"]["steps"] == STEPS
    for checkpoint in (out / "ckpt").iterdir():
        if not checkpoint.name.startswith("."):
            ckpt.verify_checkpoint(checkpoint)
    mine, theirs = final_weights(out), final_weights(reference)
    assert mine.keys() == theirs.keys()
    for name in mine:
        assert torch.equal(mine[name], theirs[name]), name
