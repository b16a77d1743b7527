"""`rnnkit train speech` and `rnnkit transcribe` end to end on tone "speech" written in the test:
figures beside the baseline, the alignment plot, files and folders transcribed (a 10-minute file,
8 kHz, stereo), LM fusion with a character LM run, and every bad input one line."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from rnnkit.cli.main import main
from rnnkit.data.named import names
from tests.speech_data import RATE, tone_speech, write_tone_corpus


def cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    d = tmp_path_factory.mktemp("speech")
    write_tone_corpus(d / "data", n=120)
    out = d / "run"
    argv = ["train", "speech", "--data", d / "data", "--hidden-size", "32", "--num-layers", "1",
            "--max-steps", "300", "--eval-every", "100", "--batch-size", "8", "--lr", "0.01",
            "--baseline-steps", "100", "--out", out, "--quiet", "--json"]  # fmt: skip
    assert main([str(a) for a in argv]) == 0
    return d, out


def test_training_reports_error_rates_beside_the_baseline_and_draws_the_alignment(run):
    _, out = run
    r = json.loads((out / "results.json").read_text())
    assert r["task"] == "speech" and r["split"] == {"train": 96, "val": 12, "test": 12}
    assert r["test"]["cer"] < 0.35  # chance is far above 1 (anything output is an error)
    assert set(r["greedy"]) == {"wer", "cer"}
    base = r["baseline"]
    assert base["steps"] == 100 and abs(base["parameters"] / r["parameters"] - 1) < 0.05
    assert 0 <= base["cer"] and "per-frame" in base["name"]
    assert (out / "alignment.png").stat().st_size > 10_000
    assert (out / "baseline" / "best").is_file()
    assert json.loads((out / "symbols.json").read_text()) == ["<blank>", " ", "a", "b", "c"]


def test_transcribe_files_and_a_folder(run, capsys, tmp_path):
    d, out = run
    rng = np.random.default_rng(9)
    sf.write(tmp_path / "one.wav", tone_speech("ab ca", rng=rng), RATE)
    stereo = np.stack([tone_speech("bc", rng=rng)] * 2, 1)
    sf.write(tmp_path / "stereo.flac", stereo, RATE)
    x8k = tone_speech("ca", rate=8000, rng=rng)
    sf.write(tmp_path / "eight.wav", x8k, 8000)
    code, text, err = cli(capsys, "transcribe", out, tmp_path / "one.wav", tmp_path, "--json")
    assert code == 0, err
    rows = json.loads(text)
    assert [r["path"].rsplit("/", 1)[1] for r in rows] == [
        "one.wav", "eight.wav", "one.wav", "stereo.flac"]  # fmt: skip
    assert rows[0]["seconds"] == pytest.approx(len(tone_speech("ab ca", rng=rng)) / RATE, 0.1)
    assert all(set(r["text"]) <= set("abc ") for r in rows)
    code, text, _ = cli(capsys, "transcribe", out, tmp_path / "one.wav", "--beam", "1")
    assert code == 0 and text.startswith(str(tmp_path / "one.wav") + "\t")


def tone_spans(x: np.ndarray) -> list[tuple[float, float]]:
    """(start, end) seconds of each letter's tone in ``tone_speech`` audio: the 10 ms frames
    louder than the noise, in runs."""
    frames = x[: len(x) // 160 * 160].reshape(-1, 160)
    loud = np.sqrt(np.square(frames).mean(1)) > 0.02
    spans, start = [], None
    for t, on in enumerate([*loud, False]):
        if on and start is None:
            start = t
        elif not on and start is not None:
            spans.append((start / 100, t / 100))
            start = None
    return spans


def test_each_transcribed_letter_is_aligned_to_its_tone(run, capsys, tmp_path):
    rng = np.random.default_rng(4)
    texts = ["ab ca", "cab", "a bc ba", "ccb ab"]
    for i, text in enumerate(texts):
        sf.write(tmp_path / f"{i}.wav", tone_speech(text, rng=rng), RATE)
    code, out, err = cli(capsys, "transcribe", run[1], *[tmp_path / f"{i}.wav" for i in range(4)],
                         "--json")  # fmt: skip
    assert code == 0, err
    right = 0
    for i, (text, row) in enumerate(zip(texts, json.loads(out), strict=True)):
        assert "".join(c for c, *_ in row["alignment"]) == row["text"]
        starts = [a for _, a, _ in row["alignment"]]
        assert starts == sorted(starts) and all(0 <= a <= b <= row["seconds"]
                                                for _, a, b in row["alignment"])  # fmt: skip
        assert all(0 <= a < b <= row["seconds"] for _, a, b in row["frame_best"])
        if row["text"] != text:
            continue
        right += 1
        x, _ = sf.read(tmp_path / f"{i}.wav")
        letters = [(a, b) for c, a, b in row["alignment"] if c != " "]
        for (a, b), (lo, hi) in zip(letters, tone_spans(x), strict=True):
            assert lo - 0.06 <= (a + b) / 2 <= hi + 0.06, (text, (a, b), (lo, hi))
    assert right >= 2  # the run's test CER is under 0.35: most of these are read right


def test_a_ten_minute_file_is_transcribed_in_pieces(run, capsys, tmp_path):
    rng = np.random.default_rng(1)
    parts, n = [], 0
    while n < 600 * RATE:
        parts.append(tone_speech("abc cab", rng=rng))
        n += len(parts[-1])
    sf.write(tmp_path / "long.wav", np.concatenate(parts)[: 600 * RATE], RATE, subtype="PCM_16")
    code, text, err = cli(capsys, "transcribe", run[1], tmp_path / "long.wav", "--json",
                          "--beam", "1")  # fmt: skip
    assert code == 0, err
    row = json.loads(text)[0]
    assert row["seconds"] == 600.0 and row["pieces"] >= 30
    assert len(row["text"]) > 1000  # every piece was decoded
    assert "".join(c for c, *_ in row["alignment"]) == row["text"]  # pieces joined as the text
    assert 590 < row["alignment"][-1][2] <= 600 and 590 < row["frame_best"][-1][2] <= 600


def test_bad_inputs_are_one_line(run, capsys, tmp_path):
    d, out = run
    (tmp_path / "notes.wav").write_text("not audio at all")
    sf.write(tmp_path / "empty.wav", np.zeros(0, dtype=np.float32), RATE)
    cases = [
        (["transcribe", out, tmp_path / "notes.wav"], "not an audio file soundfile can read"),
        (["transcribe", out, tmp_path / "empty.wav"], "holds no audio (0 s)"),
        (["transcribe", out, tmp_path / "missing.wav"], "no such audio file"),
        (["transcribe", out, tmp_path / "notes.wav", "--beam", "0"], "beam must be in"),
        (["transcribe", d / "data", tmp_path / "notes.wav"], "not an rnnkit run"),
        (["train", "speech", "--data", tmp_path / "nowhere.tsv", "--out", tmp_path / "r"],
         "no such transcript file or folder"),
        (["train", "speech", "--dataset", "sentiment-movies", "--out", tmp_path / "r"],
         "no speech dataset 'sentiment-movies'"),
    ]  # fmt: skip
    for argv, message in cases:
        code, _, err = cli(capsys, *argv)
        assert code == 2 and message in err and err.count("\n") == 1, (argv, err)
    empty_folder = tmp_path / "silent"
    empty_folder.mkdir()
    code, _, err = cli(capsys, "transcribe", out, empty_folder)
    assert code == 2 and "holds no audio file" in err


def test_long_training_clips_are_skipped_and_counted(tmp_path, capsys):
    write_tone_corpus(tmp_path, n=30)
    sf.write(tmp_path / "audio" / "long.wav", np.zeros(40 * RATE, dtype=np.float32), RATE)
    with open(tmp_path / "transcript.tsv", "a") as f:
        f.write("audio/long.wav\tabc\n")
    code, text, err = cli(capsys, "train", "speech", "--data", tmp_path, "--max-steps", "2",
                          "--hidden-size", "8", "--num-layers", "1", "--baseline-steps", "0",
                          "--max-seconds", "30", "--out", tmp_path / "r", "--quiet", "--json",
                          "--split-seed", "3")  # fmt: skip
    assert code == 0, err
    r = json.loads((tmp_path / "r" / "results.json").read_text())
    assert r["skipped"]["too_long"] + r["split"]["val"] + r["split"]["test"] >= 1
    assert sum(r["split"].values()) + sum(r["skipped"].values()) == 31
    assert "baseline" not in r


def test_lm_fusion_with_a_character_lm_run(run, capsys, tmp_path):
    d, out = run
    rng = np.random.default_rng(0)
    text = "\n".join(" ".join("".join(rng.choice(list("abc"), 2)) for _ in range(3))
                     for _ in range(300))  # fmt: skip
    (tmp_path / "lm.txt").write_text(text + "\n")
    code, _, err = cli(capsys, "train", "lm", "--data", tmp_path / "lm.txt", "--max-steps", "5",
                       "--hidden-size", "8", "--num-layers", "1", "--seq-len", "16",
                       "--batch-size", "4", "--out", tmp_path / "lm", "--quiet")  # fmt: skip
    assert code == 0, err
    sf.write(tmp_path / "x.wav", tone_speech("ab ca", rng=rng), RATE)
    code, plain, err = cli(capsys, "transcribe", out, tmp_path / "x.wav", "--json")
    assert code == 0, err
    code, fused, err = cli(capsys, "transcribe", out, tmp_path / "x.wav", "--json",
                           "--lm", tmp_path / "lm", "--lm-weight", "0.3")  # fmt: skip
    assert code == 0, err
    assert set(json.loads(fused)[0]["text"]) <= set("abc ")
    (tmp_path / "upper.txt").write_text("ABC ABC\n" * 200)
    assert main(["train", "lm", "--data", str(tmp_path / "upper.txt"), "--max-steps", "2",
                 "--hidden-size", "8", "--num-layers", "1", "--seq-len", "8", "--batch-size",
                 "2", "--out", str(tmp_path / "lm2"), "--quiet"]) == 0  # fmt: skip
    capsys.readouterr()
    code, _, err = cli(capsys, "transcribe", out, tmp_path / "x.wav", "--lm", tmp_path / "lm2")
    assert code == 2 and "lacks character(s)" in err


def test_named_speech_datasets_are_registered():
    assert names("speech") == ["digits", "tuxpaint-es"]
