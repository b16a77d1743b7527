"""The test phase after training: every pass over the same items, a bar per pass, a time budget
and an item limit that stop all of them together and are said; validation BLEU that short
outputs cannot pin at 0, and a warning when a validation figure is 0 at every validation."""

from __future__ import annotations

import json
import math
import time
from collections import Counter

import pytest

from rnnkit.cli.main import main
from rnnkit.runs.driver import (
    bounded_phase,
    time_margin,
    training_deadline,
    validation_phase,
    zero_figures,
)
from rnnkit.scoring.bleu import bleu_chrf
from rnnkit.scoring.captions import caption_scores
from rnnkit.scoring.order import scores
from rnnkit.tasks.phase import TestPhase, partial_figure, scored_note
from rnnkit.train.trainer import TrainConfig
from tests.test_cli_lm import cli


def squares(items: list[int]) -> list[int]:
    return [x * x for x in items]


def test_every_pass_scores_the_same_items_in_the_split_order():
    items = list(range(150))
    done = TestPhase(chunk=32).run(items, {"a": squares, "b": lambda xs: [-x for x in xs]}, "t")
    assert done.indices == items and done.limited_by is None
    assert done.outputs["a"] == squares(items) and done.outputs["b"] == [-x for x in items]
    assert done.info() == {"scored": 150, "of": 150, "limited_by": None}


def test_a_limit_scores_a_random_sample_of_that_size_for_every_pass():
    items = list(range(200))
    done = TestPhase(limit=50, chunk=16).run(items, {"a": squares, "b": squares}, "t")
    assert len(done.indices) == 50 and done.limited_by == "limit"
    assert done.indices == sorted(done.indices) and done.indices != items[:50]  # spread out
    assert done.outputs["a"] == done.outputs["b"] == squares(done.pick(items))
    again = TestPhase(limit=50, chunk=16).run(items, {"a": squares}, "t")
    assert again.indices == done.indices  # the same sample each time (seed 0)


def test_the_time_budget_stops_every_pass_at_the_same_item_and_overruns_little():
    calls = Counter()

    def slow(name):
        def run(xs):
            calls[name] += 1
            time.sleep(0.004 * len(xs))  # 4 ms an item
            return xs

        return run

    started = time.monotonic()
    phase = TestPhase(seconds=0.3, chunk=64, started=started)
    done = phase.run(list(range(1000)), {"a": slow("a"), "b": slow("b")}, "t")
    took = time.monotonic() - started
    assert done.limited_by == "time" and calls["a"] == calls["b"] >= 2
    assert done.outputs["a"] == done.outputs["b"] == done.pick(list(range(1000)))
    assert 0.25 <= took < 0.4  # 8 ms an item for both passes: a few items either side
    assert 20 <= len(done.indices) <= 50
    spent = TestPhase(seconds=0.0, chunk=64, started=time.monotonic() - 1)
    assert len(spent.run(list(range(100)), {"a": squares}, "t").indices) == 8  # one at least


def test_a_share_of_the_budget_leaves_the_rest_for_the_test():
    phase = TestPhase(seconds=10.0, started=100.0)
    assert phase.deadline() == 110.0 and phase.deadline(0.5) == 105.0
    assert TestPhase().deadline() is None


def test_bars_name_each_pass_and_are_silent_when_quiet(capsys):
    TestPhase(progress=True).run([1, 2, 3], {"beam 5": squares, "greedy": squares}, "test")
    err = capsys.readouterr().err
    assert "test: beam 5" in err and "test: greedy" in err and "3/3" in err
    TestPhase(progress=False).run([1, 2, 3], {"beam 5": squares}, "test")
    assert capsys.readouterr().err == ""


def test_the_console_says_how_many_items_were_scored():
    assert scored_note({"scored": 3, "of": 9, "limited_by": "limit"}, "pairs") == [
        "scored 3 of 9 test pairs (a random sample; stopped by --test-limit)"
    ]
    assert "time budget" in scored_note({"scored": 3, "of": 9, "limited_by": "time"}, "x")[0]
    assert scored_note({"scored": 9, "of": 9, "limited_by": None}, "pairs") == []
    assert scored_note(None, "pairs") == []  # a run from before the test phase was bounded


def test_the_budget_is_what_is_left_of_max_time_and_its_margin():
    started = time.monotonic() - 20  # set-up and training took 20 s so far
    phase = bounded_phase(TrainConfig(max_time=60), started)
    assert phase.seconds == pytest.approx(60 + 27 - 20, abs=1)  # 3 s kept for the pictures
    assert time_margin(60) == 30 and time_margin(1200) == 300
    late = bounded_phase(TrainConfig(max_time=60), time.monotonic() - 500)
    assert late.seconds == 2  # a small floor (MIN_TEST_S): its first chunk runs anyway
    assert bounded_phase(TrainConfig(max_time=60, test_time=5), started).seconds == 5
    unbounded = bounded_phase(TrainConfig(epochs=1, test_limit=7), started)
    assert unbounded.seconds is None and unbounded.limit == 7 and unbounded.progress


def bleu_by_hand(hyps: list[list[str]], refs: list[list[str]], order: int) -> float:
    """Corpus BLEU over n-gram orders 1..order (Papineni et al. 2002), no smoothing."""
    logs = []
    for n in range(1, order + 1):
        match = total = 0
        for h, r in zip(hyps, refs, strict=True):
            hc = Counter(tuple(h[i : i + n]) for i in range(len(h) - n + 1))
            rc = Counter(tuple(r[i : i + n]) for i in range(len(r) - n + 1))
            match += sum(min(c, rc[g]) for g, c in hc.items())
            total += sum(hc.values())
        logs.append(math.log(match / total))
    sys_len, ref_len = sum(map(len, hyps)), sum(map(len, refs))
    bp = 1.0 if sys_len >= ref_len else math.exp(1 - ref_len / sys_len)
    return 100 * bp * math.exp(sum(logs) / order)


def test_selection_bleu_of_three_word_outputs_is_bleu_3_not_0():
    hyps = ["a red ball", "two blue cups", "a green box"]
    refs = ["a red ball", "two red cups", "the green box"]
    want = bleu_by_hand([h.split() for h in hyps], [r.split() for r in refs], 3)
    assert bleu_chrf(hyps, refs)["bleu"] == 0.0  # standard BLEU-4: no 4-gram at all
    assert bleu_chrf(hyps, refs, effective_order=True)["bleu"] == pytest.approx(want, rel=1e-9)
    order = scores([h.split() for h in hyps], [r.split() for r in refs], effective_order=True)
    assert order["bleu"] == pytest.approx(want, rel=1e-9)


def test_selection_bleu_equals_bleu_4_once_an_output_has_four_words():
    hyps = ["the cat sat on the mat", "a dog"]
    refs = ["the cat sat on a mat", "a dog barks"]
    plain, selection = bleu_chrf(hyps, refs), bleu_chrf(hyps, refs, effective_order=True)
    assert plain["bleu"] > 0 and selection["bleu"] == plain["bleu"]


def test_caption_selection_bleu_is_not_stuck_at_0_for_three_word_captions():
    from rnnkit.data.images import CaptionedImage

    items = [CaptionedImage(key=str(i), image=None, captions=[c], concepts=[])
             for i, c in enumerate(["a red ball", "two blue cups", "a green box"])]  # fmt: skip
    outputs = ["a red ball", "two red cups", "a blue box"]
    assert caption_scores(outputs, items)["bleu"] == 0.0
    assert caption_scores(outputs, items, effective_order=True)["bleu"] > 10


def write_log(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_a_figure_at_0_at_every_validation_is_warned_about(tmp_path):
    write_log(tmp_path / "metrics.jsonl", [
        {"step": 10, "loss": 3.0}, {"step": 20, "val_loss": 2.0, "val_bleu": 0.0},
        {"step": 40, "val_loss": 1.5, "val_bleu": 0.0, "val_chrf": 3.0},
    ])  # fmt: skip
    (warning,) = zero_figures(tmp_path)
    assert warning.startswith("val_bleu was 0 at every validation (2)")
    write_log(tmp_path / "metrics.jsonl", [{"step": 20, "val_bleu": 0.0},
                                           {"step": 40, "val_bleu": 0.1}])  # fmt: skip
    assert zero_figures(tmp_path) == []
    (tmp_path / "metrics.jsonl").unlink()
    assert zero_figures(tmp_path) == []


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    from tests.test_translate import write_pairs

    d = tmp_path_factory.mktemp("phase")
    write_pairs(d / "train.tsv", 200)
    return d


def train_translate(d, capsys, *flags):
    argv = ["train", "translate", "--data", d / "train.tsv", "--tokens", "word", "--max-steps",
            "3", "--embed-dim", "8", "--hidden-size", "12", "--num-layers", "1", "--val", "0.1",
            "--test", "0.2", "--eval-every", "3", *flags]  # fmt: skip
    code, out, err = cli(capsys, *map(str, argv))
    assert code == 0, err
    return out, err


def test_translate_with_a_test_limit_scores_that_many_and_says_so(pairs, capsys):
    out, err = train_translate(pairs, capsys, "--test-limit", "5", "--out", pairs / "limited")
    results = json.loads((pairs / "limited" / "results.json").read_text())
    info = results["test_scored"]
    assert info["scored"] == 5 and info["of"] == results["split"]["test"] > 5
    assert info["limited_by"] == "limit" and results["test"]["pairs"] == 5
    assert f"scored 5 of {info['of']} test pairs" in out
    for bar in ("test: beam 5", "test: greedy", "test: baseline, IBM Model 1, word by word",
                "validation: greedy"):  # fmt: skip
        assert bar in err  # one progress bar per decoding and baseline, and the validation's


def test_a_whole_test_split_matches_evaluate_and_quiet_prints_no_bar(pairs, capsys):
    from rnnkit.runs.driver import load_run

    out, err = train_translate(pairs, capsys, "--quiet", "--out", pairs / "whole")
    assert "test:" not in err and "validation:" not in err and "scored" not in out
    results = json.loads((pairs / "whole" / "results.json").read_text())
    assert results["test_scored"]["limited_by"] is None
    again = load_run(pairs / "whole").evaluate()
    assert again["bleu"] == results["test"]["bleu"] and again["chrf"] == results["test"]["chrf"]


def test_resume_may_change_the_test_bounds(pairs, capsys):
    train_translate(pairs, capsys, "--quiet", "--out", pairs / "resumed")
    code, _, err = cli(capsys, "train", "translate", "--data", str(pairs / "train.tsv"),
                       "--resume", "--out", str(pairs / "resumed"), "--max-steps", "6",
                       "--test-limit", "4", "--quiet")  # fmt: skip
    assert code == 0, err
    results = json.loads((pairs / "resumed" / "results.json").read_text())
    assert results["test_scored"]["scored"] == 4


def test_help_states_the_test_bounds_and_their_defaults(capsys):
    assert main(["train", "translate", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "--test-time SECONDS" in text and "max(30, T/4)" in text
    assert "--test-limit" in text and "0: all" in text


def test_a_validation_decodes_the_same_sample_in_one_batch_and_says_when_cut():
    items = list(range(100))
    batches = []

    def decode(xs):
        batches.append(len(xs))
        return squares(xs)

    first = TestPhase(limit=30).validate(items, decode)
    second = TestPhase(limit=30).validate(items, decode)
    assert batches == [30, 30] and first.indices == second.indices and not first.partial
    assert partial_figure(first) == {}
    whole = TestPhase().validate(items, decode)
    assert whole.indices == items and batches[-1] == 100
    late = TestPhase(seconds=0.0, started=time.monotonic() - 1).validate(items, decode)
    assert late.partial and late.indices == sorted(late.indices) and len(late.indices) == 8
    assert set(late.indices) <= set(whole.indices)
    assert partial_figure(late) == {"partial": 1.0, "decoded": 8.0}


def test_the_shares_of_a_max_time_budget_end_in_order():
    started = 100.0
    config = TrainConfig(max_time=60)
    assert training_deadline(config, started) == pytest.approx(100 + 60 + 10)
    assert validation_phase(config, started, False).deadline() == pytest.approx(100 + 60 + 20)
    assert training_deadline(TrainConfig(max_steps=5), started) is None
    assert validation_phase(TrainConfig(max_steps=5, val_limit=9), started, False).limit == 9


def test_a_max_time_command_ends_within_its_bound_and_says_what_it_scored(
    pairs, monkeypatch, capsys
):
    """The whole command (set-up, training, the last validation, baselines, the test) within
    --max-time T + the margin, with decoding slowed down to 50 ms an item, so that decoding
    every validation and test pair (120 + 2 x 120) would take 18 s; the margin is cut to 6 s
    and the test's floor to 0.5 s so that the test takes seconds."""
    from rnnkit.runs import driver
    from rnnkit.tasks.writing import WritingTask

    monkeypatch.setattr(driver, "time_margin", lambda t: 6.0)
    monkeypatch.setattr(driver, "MIN_TEST_S", 0.5)
    decode = WritingTask.decode

    def slow(self, model, sources, *args, **kwargs):
        time.sleep(0.05 * len(sources))
        return decode(self, model, sources, *args, **kwargs)

    monkeypatch.setattr(WritingTask, "decode", slow)
    from tests.test_translate import write_pairs

    data = write_pairs(pairs / "more.tsv", 600)
    argv = ["train", "translate", "--data", data, "--tokens", "word", "--max-time", "1",
            "--embed-dim", "8", "--hidden-size", "12", "--num-layers", "1", "--val", "0.2",
            "--test", "0.2", "--eval-every", "10000", "--quiet",
            "--out", pairs / "timed"]  # fmt: skip
    started = time.monotonic()
    code, out, err = cli(capsys, *map(str, argv))
    took = time.monotonic() - started
    assert code == 0, err
    # the bound, plus a first chunk of the two decodings (8 items x 2 x 50 ms) and slack for
    # a machine busy with other work (set-up, pictures); unbounded it would be 18 s more
    assert took < 1 + 6 + 3, took
    results = json.loads((pairs / "timed" / "results.json").read_text())
    info = results["test_scored"]
    assert info["limited_by"] == "time" and 8 <= info["scored"] < info["of"]
    assert results["test"]["pairs"] == info["scored"]
    assert f"scored {info['scored']} of {info['of']} test pairs" in out
    rows = [json.loads(x) for x in (pairs / "timed" / "metrics.jsonl").read_text().splitlines()]
    last = [r for r in rows if "val_bleu" in r][-1]
    assert last["val_partial"] == 1 and last["val_decoded"] < results["split"]["val"]
