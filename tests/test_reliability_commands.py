"""The newer commands (translate, reorder, caption, chat, summarize, speech, music) as a new user
and an attacker would try them (issue 32): one rule for every file a command writes, one rule
for text from a user, a second run of the wrong task refused before training, and each bad
input that used to be a traceback, an overwrite or silently accepted now one line on stderr
with exit code 2. The runs are trained for two steps (tests/tiny_runs.py)."""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rnnkit.cli.main import build_parser, main
from rnnkit.errors import RnnkitError
from rnnkit.files import new_output
from tests.test_cli_lm import assert_user_error, cli
from tests.tiny_runs import tiny_run


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Tiny runs by task, each trained the first time a test asks for it."""
    base = tmp_path_factory.mktemp("runs")
    made: dict[str, Path] = {}

    def get(kind: str) -> Path:
        if kind not in made:
            made[kind] = tiny_run(kind, base / kind)
        return made[kind]

    return get


def a_clip(path: Path, seconds: float = 0.5) -> Path:
    import soundfile as sf

    t = np.arange(int(16000 * seconds)) / 16000
    sf.write(path, (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), 16000)
    return path


# -- one rule for every file a command writes ----------------------------------------------------


def test_the_output_rule_refuses_folders_wrong_suffixes_files_and_links(tmp_path):
    mine = tmp_path / "mine.png"
    mine.write_bytes(b"the user's picture")
    link = tmp_path / "link.png"
    link.symlink_to(mine)
    dangling = tmp_path / "dangling.png"
    dangling.symlink_to(tmp_path / "nowhere.png")
    for path, words in [(tmp_path, "is a folder"), (tmp_path / "a.txt", "must end in .png"),
                        (mine, "exists; pass --force"), (link, "symbolic link"),
                        (dangling, "symbolic link")]:  # fmt: skip
        with pytest.raises(RnnkitError, match=words):
            new_output(path, False, "--plot", (".png",))
    assert new_output(link, True, "--plot", ".png") == link  # --force: the user asked
    assert new_output(tmp_path / "new" / "b.PNG", False, "--plot", ".png").parent.is_dir()


@pytest.mark.parametrize(
    "task, argv, flag",
    [
        ("translate", ["translate", "RUN", "the cat sees a dog."], "--attention"),
        ("reorder", ["reorder", "RUN", "the of king"], "--attention"),
        ("caption", ["caption", "RUN", "IMAGE"], "--plot"),
        ("caption", ["caption", "RUN", "IMAGE"], "--attention"),
    ],
)
def test_every_picture_flag_keeps_the_users_files(runs, tmp_path, capsys, task, argv, flag):
    run = runs(task)
    image = str(sorted((run.parent / "images").glob("*.png"))[0]) if task == "caption" else ""
    argv = [run if a == "RUN" else image if a == "IMAGE" else a for a in argv]
    mine = tmp_path / "existing.png"
    mine.write_bytes(b"the user's picture")
    link = tmp_path / "link.png"
    link.symlink_to(mine)
    assert_user_error(cli(capsys, *argv, flag, mine), "exists; pass --force")
    assert_user_error(cli(capsys, *argv, flag, link), "symbolic link")
    assert_user_error(cli(capsys, *argv, flag, tmp_path / "existing.txt"), "must end in .png")
    assert_user_error(cli(capsys, *argv, flag, tmp_path), "is a folder")
    assert mine.read_bytes() == b"the user's picture" and link.is_symlink()
    assert not (tmp_path / "existing.txt").exists()
    code, _, err = cli(capsys, *argv, flag, mine, "--force")
    assert code == 0, err
    assert mine.read_bytes()[:4] == b"\x89PNG"


def test_predict_output_flags_after_the_inputs_are_checked_too(runs, tmp_path, capsys):
    run = runs("translate")
    mine = tmp_path / "rows.jsonl"
    mine.write_text("mine\n")
    assert_user_error(cli(capsys, "predict", run, "the cat.", "--output", mine), "exists")
    assert_user_error(cli(capsys, "predict", run, "the cat.", "--output", tmp_path / "r.txt"),
                      "must end in .jsonl or .csv")  # fmt: skip
    assert mine.read_text() == "mine\n"


# -- every --help shows every default ------------------------------------------------------------


def parsers(parser: argparse.ArgumentParser, name: str = "rnnkit"):
    yield name, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub_name, sub in action.choices.items():
                yield from parsers(sub, f"{name} {sub_name}")


def test_every_help_shows_every_default():
    missing = []
    for name, parser in parsers(build_parser()):
        formatter = parser._get_formatter()
        for action in parser._actions:
            default = action.default
            if (
                not action.option_strings
                or default in (None, argparse.SUPPRESS)
                or default is False
            ):
                continue
            text = formatter._expand_help(action) if action.help else ""
            if "default" not in text.lower():
                missing.append(f"{name} {action.option_strings[0]}: {text!r}")
    assert not missing, "\n".join(missing)


def test_compose_help_shows_its_defaults(capsys):
    code, out, _ = cli(capsys, "compose", "--help")
    assert code == 0
    flat = " ".join(out.split())
    assert "how many tunes (default: 10)" in flat and "(default: 1.0)" in flat


# -- one rule for text from a user ---------------------------------------------------------------


def test_arguments_that_are_not_utf8_are_one_line(runs, capsys):
    run = runs("translate")
    bad = b"foo\xffbar".decode("utf-8", "surrogateescape")  # what Python puts in sys.argv
    assert_user_error(cli(capsys, "translate", run, bad), "not valid UTF-8", "0xff")
    assert_user_error(cli(capsys, "predict", runs("chat"), bad), "not valid UTF-8")
    assert_user_error(cli(capsys, "predict", runs("summarize"), bad), "not valid UTF-8")


def test_real_non_utf8_bytes_on_the_command_line(runs):
    """The bytes as a shell passes them, through the interpreter's own decoding of argv."""
    argv = [sys.executable, "-m", "rnnkit.cli.main", "translate", str(runs("translate")),
            b"foo\xffbar"]  # fmt: skip
    proc = subprocess.run(argv, capture_output=True, env={**os.environ, "LC_ALL": "C.UTF-8"})
    err = proc.stderr.decode()
    assert proc.returncode == 2 and "Traceback" not in err and "not valid UTF-8" in err, err


def test_chat_answers_a_line_that_is_not_utf8_and_goes_on(runs, capsys, monkeypatch):
    stdin = io.TextIOWrapper(io.BytesIO(b"hi \xff\nhello number 3\n"), encoding="utf-8",
                             errors="surrogateescape")  # fmt: skip
    monkeypatch.setattr(sys, "stdin", stdin)
    code, out, err = cli(capsys, "chat", runs("chat"))
    assert code == 0 and "Traceback" not in err, err
    first, second = out.splitlines()
    assert "not valid UTF-8" in first and "0xff" in first and second


def test_json_numbers_and_lists_are_not_taken_as_text(tmp_path):
    from rnnkit.data.images import read_captions
    from rnnkit.data.parallel import read_pairs
    from rnnkit.data.tables import read_labelled_texts, read_lines
    from rnnkit.data.transcripts import read_transcript

    (tmp_path / "p.jsonl").write_text('{"source": "a b", "target": "c"}\n'
                                      '{"source": 42, "target": "d"}\n')  # fmt: skip
    with pytest.raises(RnnkitError, match=r"p.jsonl:2: the 'source' value is a number"):
        read_pairs(tmp_path / "p.jsonl")
    (tmp_path / "l.jsonl").write_text('{"text": ["a", "list"], "label": 1}\n')
    with pytest.raises(RnnkitError, match=r"l.jsonl:1: the 'text' value is a JSON list"):
        read_labelled_texts(tmp_path / "l.jsonl")
    with pytest.raises(RnnkitError, match="JSON list"):
        read_lines(tmp_path / "l.jsonl")
    (tmp_path / "ok.jsonl").write_text('{"text": "fine", "label": 1}\n')
    assert read_labelled_texts(tmp_path / "ok.jsonl").labels == ["1"]  # a number is a label
    a_clip(tmp_path / "a.wav")
    (tmp_path / "t.jsonl").write_text('{"path": "a.wav", "text": 7}\n')
    with pytest.raises(RnnkitError, match="'text' value is a number"):
        read_transcript(tmp_path / "t.jsonl")
    (tmp_path / "c.jsonl").write_text('{"image": "a.wav", "caption": {"a": 1}}\n')
    with pytest.raises(RnnkitError, match="'caption' value is a JSON dict"):
        read_captions(tmp_path / "c.jsonl")


# -- a second run of the wrong task, refused at the start ---------------------------------------


def test_a_wrong_lm_run_is_refused_before_training(runs, tmp_path, capsys):
    speech, translate = runs("speech"), runs("translate")
    data = speech.parent / "audio"
    out = tmp_path / "speech"
    argv = ["train", "speech", "--data", data, "--hidden-size", "8", "--num-layers", "1",
            "--max-steps", "2", "--lm", translate, "--out", out, "--quiet"]  # fmt: skip
    assert_user_error(cli(capsys, *argv), "holds a 'translate' run, not a 'lm' run")
    assert not out.exists()  # nothing trained, no run folder to resume into
    clip = a_clip(tmp_path / "a.wav")
    for cmd in (["transcribe", speech, clip, "--lm", translate],
                ["predict", speech, clip, "--lm", translate],  # --lm after the input: a flag
                ["predict", speech, "--lm", translate, clip],
                ["evaluate", speech, "--lm", runs("music")]):  # fmt: skip
        assert_user_error(cli(capsys, *cmd), "not a 'lm' run")


def test_transcribe_refuses_a_clip_too_short_a_device_and_a_fake_mp3(runs, tmp_path, capfd):
    speech = runs("speech")
    short = a_clip(tmp_path / "short.wav", seconds=0.0006)
    fake = tmp_path / "fake.mp3"
    fake.write_bytes(b"ID3\x04" + bytes(3000))  # mpg123 prints four lines about it
    capfd.readouterr()
    for path, words in [(short, "ms of audio"), ("/dev/zero", "not a regular file"),
                        (fake, "fake.mp3")]:  # fmt: skip
        code = main(["transcribe", str(speech), str(path)])
        _, err = capfd.readouterr()  # the file descriptor: a C library's noise shows here
        assert code == 2 and len(err.strip().splitlines()) == 1 and words in err, err


def test_a_device_given_as_a_data_or_input_file_is_one_line(runs, tmp_path, capsys):
    """/dev/zero never ends: every reader refuses what is not a regular file before reading."""
    for argv in (["train", "music", "--data", "/dev/zero", "--out", tmp_path / "m"],
                 ["train", "forecast", "--data", "/dev/zero", "--column", "v", "--horizon", "1",
                  "--out", tmp_path / "f"],
                 ["train", "lm", "--data", "/dev/zero", "--out", tmp_path / "l"],
                 ["caption", runs("caption"), "/dev/zero"]):  # fmt: skip
        assert_user_error(cli(capsys, *argv), "not a regular file")


# -- first-use friction --------------------------------------------------------------------------


def test_a_live_run_is_named_when_a_second_one_is_started_beside_it(runs, tmp_path, capsys):
    out = tmp_path / "live"
    out.mkdir()
    (out / "config.json").write_text("{}")  # the live run has started writing
    holder = subprocess.Popen(
        [sys.executable, "-c", "import fcntl, os, sys, time\n"
         f"fd = os.open({str(out / '.lock')!r}, os.O_RDWR | os.O_CREAT)\n"
         "fcntl.flock(fd, fcntl.LOCK_EX); os.write(fd, b'%d\\n' % os.getpid())\n"
         "print('held', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        data = runs("lm").parent / "lm.txt"
        argv = ["train", "lm", "--data", data, "--batch-size", "4", "--seq-len", "16",
                "--max-steps", "1", "--out", out, "--quiet"]  # fmt: skip
        assert_user_error(cli(capsys, *argv), f"pid {holder.pid}")
    finally:
        holder.kill()
        holder.wait()
    assert (out / "config.json").read_text() == "{}"


def test_text_pairs_need_20_and_two_different_columns(tmp_path, capsys):
    from tests.test_translate import write_pairs

    few = write_pairs(tmp_path / "few.tsv", 3)
    assert_user_error(cli(capsys, "train", "translate", "--data", few, "--out", tmp_path / "a"),
                      "3 usable pairs", "at least 20")  # fmt: skip
    pairs = write_pairs(tmp_path / "pairs.tsv", 40)
    same = ["--src-col", "source", "--tgt-col", "source", "--out", tmp_path / "b"]
    assert_user_error(cli(capsys, "train", "translate", "--data", pairs, *same),
                      "both the source and the target")  # fmt: skip
    text = tmp_path / "side.txt"
    text.write_text("a b\n" * 30)
    assert_user_error(cli(capsys, "train", "translate", "--data", text, "--tgt-file", text,
                          "--out", tmp_path / "c"), "both the source and the target")  # fmt: skip
    assert not any((tmp_path / d).exists() for d in "abc")


def test_compose_ngram_needs_check(runs, tmp_path, capsys):
    argv = ["compose", runs("music"), "--ngram", "--out", tmp_path / "tunes"]
    assert_user_error(cli(capsys, *argv), "--ngram goes with --check")
    assert not (tmp_path / "tunes").exists()


def test_predict_on_a_music_run_takes_tune_tokens_only(runs, capsys):
    music = runs("music")
    assert_user_error(cli(capsys, "predict", music, "hello world"), "not tokens of this run")
    assert_user_error(cli(capsys, "predict", music, "M:5/0 K:Cmaj"), "M:5/0", "meter")
    assert_user_error(cli(capsys, "compose", music, "--meter", "5/0", "--check"), "meter")
    vocab = json.loads((music / "vocab.json").read_text())["tokens"]
    meter = next(t for t in vocab if t.startswith("M:"))
    code, out, err = cli(capsys, "predict", music, f"{meter} |")
    assert code == 0 and "next:" in out, err


def test_evaluate_prints_rouge_on_the_scale_training_prints(runs, capsys):
    run = runs("summarize")
    results = json.loads((run / "results.json").read_text())
    code, out, err = cli(capsys, "evaluate", run, "--json")
    assert code == 0, err
    scores = json.loads(out)
    assert set(scores) >= {"rouge1", "rouge2", "rougeL"}
    # the same decoding of the same test split as the run's greedy row, in the same unit (x100)
    assert scores["rougeL"] == pytest.approx(results["test"]["rougeL"], abs=1e-6) or (
        scores["rougeL"] == pytest.approx(results["greedy"]["rougeL"], abs=1e-6)
    )
    code, out, err = cli(capsys, "evaluate", run)
    assert f"rougeL {scores['rougeL']:.2f}" in out or f"rougeL {scores['rougeL']:.4f}" in out


def test_result_tables_keep_whole_row_names():
    from rnnkit.tasks.writing import results_table

    name = "nearest training image (CNN features, cosine similarity)"
    r = {"split": {"train": 1, "val": 1, "test": 1},
         "baselines": {"nearest": {"name": name, "bleu": 1.0}}}  # fmt: skip
    table = results_table(r, "images", [], [("bleu", "BLEU-4", "8.2f")], [("seq2seq", {})])
    assert f"baseline: {name}" in table
    widths = {len(line) for line in table.splitlines()[1:]}
    assert len(widths) == 1  # the columns still line up


def test_a_name_too_long_is_one_line_for_every_output_flag(runs, tmp_path, capsys):
    """Found by the sweep: a 300-character file name was an ENAMETOOLONG traceback from
    reorder --attention, caption --attention, forecast --png, export --out, memory-task --out."""
    long = str(tmp_path / ("n" * 300))
    for argv in (["reorder", runs("reorder"), "king the of", "--attention", long + ".png"],
                 ["export", runs("lm"), "--out", long],
                 ["memory-task", "--length", "5", "--hidden", "4", "--max-steps", "2",
                  "--out", long]):  # fmt: skip
        assert_user_error(cli(capsys, *map(str, argv)), "too long")


def test_an_argument_cut_inside_a_character_is_still_one_line(capsys):
    """Found by the sweep: the shown start of a non-UTF-8 argument was cut at 40 bytes inside
    a character, and decoding it raised UnicodeDecodeError."""
    arg = "x" * 38 + "\u00e9\u00e9" + os.fsdecode(b"\xff")
    assert_user_error(cli(capsys, "translate", "RUN", arg), "not valid UTF-8")


def test_a_marked_block_is_replaced_and_nothing_else(tmp_path):
    """The benches' `--doc`: only the text between the markers changes; a document without
    both markers, in order, is refused in one line and left as it was."""
    from rnnkit.files import replace_marked_block

    doc = tmp_path / "doc.md"
    doc.write_text("top\n<!-- b -->\nold table\n<!-- e -->\nbottom\n")
    replace_marked_block(doc, ("<!-- b -->", "<!-- e -->"), "new table")
    assert doc.read_text() == "top\n<!-- b -->\nnew table\n<!-- e -->\nbottom\n"
    doc.write_text("<!-- e -->\n<!-- b -->\n")
    with pytest.raises(RnnkitError, match="no <!-- b --> ... <!-- e --> block"):
        replace_marked_block(doc, ("<!-- b -->", "<!-- e -->"), "x")
    assert doc.read_text() == "<!-- e -->\n<!-- b -->\n"
