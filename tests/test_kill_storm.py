"""Kill storm in the suite: each newer task's training killed with SIGKILL once, as a new
checkpoint is named or during the test phase (the two moments alternate over the tasks, so
each moment meets two or three of them), and resumed; the run must end at the right step,
every checkpoint must match its manifest, and the final weights must equal an uninterrupted
run's exactly. The full storm (20 kills at random moments, every task) is
``bench/kill_storm.py``; ``make test-slow`` runs it too."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from tests.test_task_contract import CASES

# summarize and chat train, checkpoint, resume and test through the TextToTextTask code
# translate uses (summarize adds ROUGE, a lead baseline and the copy mechanism's weights; chat
# its reply LM, an artefact written before training like the tokenizers): translate stands for
# both here, where a task's kill costs 12-15 s on 2 cores and make test runs near its 15
# minutes; `make test-slow` and bench/kill_storm.py storm all eleven
NEWER = ("translate", "reorder", "caption", "speech", "music")
STEPS = 12


def load_bench():
    path = Path(__file__).resolve().parents[1] / "bench" / "kill_storm.py"
    spec = importlib.util.spec_from_file_location("kill_storm", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks its module up there
    spec.loader.exec_module(module)
    return module


# one kill each, not two at both moments: the storms were the suite's largest file (104 s)
KILLS = [(task, ("checkpoint", "test")[i % 2]) for i, task in enumerate(NEWER)]


@pytest.mark.parametrize(("task", "moment"), KILLS)
def test_a_kill_at_a_checkpoint_or_in_the_test_gives_the_uninterrupted_weights(
    task, moment, tmp_path
):
    bench = load_bench()
    flags, *_ = CASES[task](tmp_path)
    s = bench.storm(task, flags, tmp_path, kills=1, moments=(moment,), steps=STEPS)
    assert s.kills == 1 and s.steps == STEPS
    assert s.corrupt == [] and s.unequal == [], s.line()


@pytest.mark.slow
@pytest.mark.parametrize("task", sorted(CASES))
def test_twenty_kills_at_random_moments_give_the_uninterrupted_weights(task, tmp_path):
    bench = load_bench()
    flags, *_ = CASES[task](tmp_path)
    s = bench.storm(task, flags, tmp_path, kills=20)
    assert s.kills == 20 and s.steps == bench.STEPS
    assert s.corrupt == [] and s.unequal == [], s.line()
