"""Generated inputs (hypothesis) through the newer readers (issue 32): pairs tables, image files
and captioned folders, audio files and transcript folders, ABC files, and chat's standard input.
Each either reads or is refused with a RnnkitError in one line; nothing else escapes, and
nothing hangs (every example is bounded by hypothesis's deadline). bench/reliability_sweep.py
draws more of the same kinds through the whole commands."""

from __future__ import annotations

import io
import string
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rnnkit.data.audio import read_audio
from rnnkit.data.images import read_captioned_folder, read_image
from rnnkit.data.parallel import read_pairs
from rnnkit.data.transcripts import read_transcript
from rnnkit.errors import RnnkitError
from rnnkit.tasks.music.task import read_abc_path
from tests.test_cli_lm import cli
from tests.test_fuzz_inputs import ANY_BYTES, CELL, jsonl
from tests.tiny_runs import tiny_run

# the deadline bounds a hang; the first example of a kind may import scipy or Pillow plug-ins
FUZZ = settings(
    max_examples=40, deadline=10_000, derandomize=True, database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)  # fmt: skip
WORDS = st.text(alphabet=string.ascii_letters + " .,'\"\t\\\n\r\x00é", max_size=20)


def reads_or_refuses(read, *args) -> None:
    try:
        read(*args)
    except RnnkitError as exc:
        assert "\n" not in str(exc), exc


# -- pairs tables ------------------------------------------------------------------------------


@st.composite
def pairs_tables(draw, sep: str) -> bytes:
    """Delimited pairs whose header may or may not hold source/target columns."""
    names = ["source", "target", "src", "tgt", "en", "es", "group", "", "text"]
    header = draw(st.lists(st.sampled_from(names), max_size=4))
    rows = draw(st.lists(st.lists(st.one_of(CELL, WORDS), max_size=5), max_size=40))
    return "\n".join([sep.join(header)] + [sep.join(r) for r in rows]).encode("utf-8", "replace")


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".jsonl", ".txt"])
@FUZZ
@given(data=st.one_of(ANY_BYTES, pairs_tables(","), pairs_tables("\t"), jsonl()))
def test_pairs_tables(tmp_path, suffix, data):
    path = tmp_path / f"pairs{suffix}"
    path.write_bytes(data)
    reads_or_refuses(read_pairs, path)
    reads_or_refuses(read_pairs, path, "source", "target")
    reads_or_refuses(read_pairs, path, "source", "source")
    reads_or_refuses(read_pairs, path, None, None, path)  # the same file as both sides
    other = tmp_path / "other.txt"
    other.write_bytes(data[::-1])
    reads_or_refuses(read_pairs, path, None, None, other)


# -- images ------------------------------------------------------------------------------------


@st.composite
def image_bytes(draw) -> bytes:
    """A real image of any size and mode (or a truncated one), or bytes that are not one."""
    from PIL import Image

    if draw(st.booleans()):
        return draw(ANY_BYTES)
    mode = draw(st.sampled_from(["1", "L", "P", "RGB", "RGBA", "I", "F", "LA", "CMYK"]))
    w, h = draw(st.integers(1, 40)), draw(st.integers(1, 40))
    fmt = draw(st.sampled_from(["PNG", "TIFF", "BMP", "GIF"]))
    img = Image.new(mode, (w, h))
    buf = io.BytesIO()
    try:
        img.save(buf, format=fmt)
    except (OSError, ValueError, KeyError):  # a mode the format cannot hold
        img.convert("RGB").save(buf, format=fmt)
    raw = buf.getvalue()
    return raw[: draw(st.integers(0, len(raw)))] if draw(st.booleans()) else raw


@FUZZ
@given(data=image_bytes(), suffix=st.sampled_from([".png", ".jpg", ".gif", ".bmp", ".tif"]))
def test_image_files(tmp_path, data, suffix):
    path = tmp_path / f"img{suffix}"
    path.write_bytes(data)
    for channels in (1, 3):
        reads_or_refuses(read_image, path, 16, channels)


@FUZZ
@given(
    images=st.lists(image_bytes(), max_size=4),
    rows=st.lists(
        st.tuples(
            st.one_of(
                st.sampled_from(["0.png", "1.png", "9.png", "", "/x", "../0.png", "."]), WORDS
            ),
            st.one_of(CELL, WORDS),
        ),
        max_size=8,
    ),  # fmt: skip
    header=st.sampled_from(["image,caption", "file,text", "caption,image", "x,y", ""]),
    name=st.sampled_from(["captions.csv", "captions.tsv", "captions.jsonl", "notes.txt"]),
)
def test_captioned_folders(tmp_path_factory, images, rows, header, name):
    d = tmp_path_factory.mktemp("captioned")
    for i, data in enumerate(images):
        (d / f"{i}.png").write_bytes(data)
    sep = "\t" if name.endswith(".tsv") else ","
    lines = [header.replace(",", sep)] + [f"{a}{sep}{b}" for a, b in rows]
    (d / name).write_text("\n".join(lines), encoding="utf-8", errors="surrogateescape")
    reads_or_refuses(read_captioned_folder, d, 16, 3)
    reads_or_refuses(read_captioned_folder, d / name, 16, 1)


# -- audio -------------------------------------------------------------------------------------


@st.composite
def audio_bytes(draw) -> bytes:
    """A real sound file (any rate, channels, length, NaN/inf, silence, clipping), truncated
    or not, or bytes that are not one."""
    import soundfile as sf

    if draw(st.booleans()):
        return draw(ANY_BYTES)
    rate = draw(st.sampled_from([8000, 16000, 22050, 44100, 1]))
    n, channels = draw(st.integers(0, 4000)), draw(st.integers(1, 3))
    kind = draw(st.sampled_from(["noise", "silence", "nan", "inf", "loud"]))
    x = np.random.default_rng(n).standard_normal((n, channels)).astype(np.float32) * 0.1
    if kind == "silence":
        x[:] = 0
    elif kind in ("nan", "inf") and n:
        x[n // 2] = np.nan if kind == "nan" else np.inf
    elif kind == "loud":
        x *= 1e6
    fmt, subtype = draw(st.sampled_from([("WAV", "FLOAT"), ("WAV", "PCM_16"), ("FLAC", "PCM_16")]))
    buf = io.BytesIO()
    try:
        sf.write(buf, x, rate, format=fmt, subtype=subtype)
    except Exception:  # noqa: BLE001  (a rate or length the format refuses: plain WAV then)
        buf = io.BytesIO()
        sf.write(buf, x, 16000, format="WAV", subtype="FLOAT")
    raw = buf.getvalue()
    return raw[: draw(st.integers(0, len(raw)))] if draw(st.booleans()) else raw


@FUZZ
@given(data=audio_bytes(), suffix=st.sampled_from([".wav", ".flac", ".mp3", ".ogg", ""]))
def test_audio_files(tmp_path, data, suffix):
    path = tmp_path / f"clip{suffix}"
    path.write_bytes(data)
    reads_or_refuses(read_audio, path)


@FUZZ
@given(
    rows=st.lists(
        st.tuples(
            st.one_of(
                st.sampled_from(["a.wav", "b.flac", "missing.wav", "", "/dev/zero", "."]), WORDS
            ),
            st.one_of(CELL, WORDS),
        ),
        max_size=8,
    ),  # fmt: skip
    header=st.sampled_from(["path,text", "file,transcript", "audio,sentence", "x,y", ""]),
    name=st.sampled_from(["transcripts.csv", "metadata.tsv", "transcripts.jsonl", "x.txt"]),
    clip=audio_bytes(),
)
def test_transcript_folders(tmp_path_factory, rows, header, name, clip):
    d = tmp_path_factory.mktemp("transcribed")
    (d / "a.wav").write_bytes(clip)
    (d / "b.flac").write_bytes(clip[:100])
    sep = "\t" if name.endswith(".tsv") else ","
    lines = [header.replace(",", sep)] + [f"{a}{sep}{b}" for a, b in rows]
    (d / name).write_text("\n".join(lines), encoding="utf-8", errors="surrogateescape")
    for path in (d, d / name):
        try:
            clips, _ = read_transcript(path)
        except RnnkitError as exc:
            assert "\n" not in str(exc), exc
            continue
        for c in clips:  # what training reads next
            reads_or_refuses(read_audio, c.path)


# -- ABC ---------------------------------------------------------------------------------------

ABC_PARTS = st.sampled_from([
    "X:1", "X:", "T:Tune", "M:6/8", "M:5/0", "M:C|", "M:none", "L:1/8", "L:0/0", "K:G", "K:Bbmix",
    "K:H", "K:", "|:ABc def|g2f e2d:|", "[1 abc :|[2 def |]", "A3/2B/ c>d (3efg", "z8 | x2 |",
    "^^A __B =c", "{g}A", "\"C\"A", "% comment", "", "[K:D] ABC", "A" * 500, "|" * 50, "(((",
])  # fmt: skip


@FUZZ
@given(data=st.one_of(ANY_BYTES, st.lists(ABC_PARTS, max_size=30).map(
    lambda parts: "\n".join(parts).encode())))  # fmt: skip
def test_abc_files(tmp_path, data):
    path = tmp_path / "tunes.abc"
    path.write_bytes(data)
    reads_or_refuses(read_abc_path, str(path))
    reads_or_refuses(read_abc_path, str(tmp_path))  # the folder that holds it


# -- chat's standard input ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def chat_run(tmp_path_factory):
    return tiny_run("chat", tmp_path_factory.mktemp("chat"))


@settings(max_examples=15, deadline=10_000, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))  # fmt: skip
@given(lines=st.lists(st.one_of(st.binary(max_size=60), WORDS.map(str.encode),
                                st.just(b"/quit"), st.just(b"x" * 5000)), max_size=5))  # fmt: skip
def test_chat_standard_input(chat_run, capsys, monkeypatch, lines):
    """Any bytes on chat's standard input: a reply (or a refusal in parentheses) for each
    line, exit 0, never a traceback."""
    raw = b"\n".join(lines)
    stdin = io.TextIOWrapper(io.BytesIO(raw), encoding="utf-8", errors="surrogateescape")
    monkeypatch.setattr(sys, "stdin", stdin)
    code, out, err = cli(capsys, "chat", chat_run)
    assert code == 0 and "Traceback" not in err, err
    asked = []
    for line in raw.split(b"\n"):  # what chat reads, as it reads it
        text = line.decode("utf-8", "surrogateescape").strip()
        if text == "/quit":
            break
        asked += [text] if text else []
    assert len(out.splitlines()) >= len(asked), (asked, out)  # a reply or refusal each


def test_a_generated_pairs_file_that_reads_has_pairs(tmp_path):
    """What the property above allows on a valid table: pairs come out, not silence."""
    path = tmp_path / "p.tsv"
    path.write_text("source\ttarget\n" + "".join(f"a{i}\tb{i}\n" for i in range(5)))
    pairs = read_pairs(Path(path))
    assert pairs.sources[:2] == ["a0", "a1"] and pairs.targets[:2] == ["b0", "b1"]


def test_a_sound_file_at_1_hz_is_refused_not_resampled_for_seconds(tmp_path):
    """Found by the fuzzer: 3000 samples at 1 Hz (50 minutes, under the hour read at most)
    took 12 s to resample to 16 kHz; a rate under 1000 Hz is refused in one line."""
    import soundfile as sf

    sf.write(tmp_path / "slow.wav", np.zeros(3000, np.float32), 1)
    with pytest.raises(RnnkitError, match="sample rate of 1 Hz"):
        read_audio(tmp_path / "slow.wav")
