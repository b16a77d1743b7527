"""Count what every reader and command does with generated bad input.

Readers get generated files: random bytes, invalid UTF-8, empty files, one huge line, tables
with missing, extra or wrong columns, ragged rows, NaN and inf cells, single rows, JSONL values
that are numbers, lists or null; pairs tables; image files (PNG/JPEG/GIF of odd sizes and modes,
truncated, a decompression bomb) and folders of them with a captions table; audio files (WAV of
0, 1 or a few samples, NaN, many channels, odd rates, truncated, not audio) and folders with a
transcript; ABC files (headers and bodies cut, mutated, ``M:5/0``). A reader either reads a
case or raises RnnkitError ("clean"); anything else is a traceback; over ``--timeout`` seconds
is a hang.

Commands run through ``rnnkit.cli.main.main`` in this process (``--subprocess``: a process
each), with standard output and error caught at the file descriptors: exit 0 is "ran", exit 2
with one stderr line is "clean", anything escaping ``main`` is a traceback. They get generated
training data (every ``train TASK --data``), generated inputs (texts and non-UTF-8 bytes as
arguments and on chat's standard input, image and audio files), generated output paths for
every ``--attention``, ``--plot``, ``--out``, ``--output`` and ``--png`` (a new file, an existing
file, a symlink to one, a dangling symlink, a folder, a path under a file, a missing folder,
a very long name...), and generated ``--lm`` runs (runs of every task, files,
missing and empty folders, damaged runs). A file or symlink that was there before and changed
without ``--force`` is an overwrite. The runs the commands use are trained (tiny models) the
first time a case needs one.

    .venv/bin/python bench/reliability_sweep.py                       # 300 per reader and command
    .venv/bin/python bench/reliability_sweep.py --cases 5 --commands 3   # a quick check
    .venv/bin/python bench/reliability_sweep.py --doc docs/reliability.md  # rewrite its table

``--only NAME...`` runs the readers and commands whose names contain one of the words.

It shows a progress bar over every case and a line per finished section (its pace, and the
minutes left at the pace so far; ``--no-progress`` for none), then the table, the seconds each
section took with the minutes it would take at 300 cases, and the estimate for the whole sweep.
It exits 1 if any case was a traceback, a hang or an overwrite.

What keeps the in-process sweep short (each case still runs the command's own code and is
counted the same way): rnnkit's argument parser is built once and reused (building it took a
quarter of a second a case; each parse gets its own copies of mutable defaults); the runs the
commands use are trained once, when a case first needs one, and timed as set-up; a generated
run trains two steps of a tiny model and decodes a few items (``TINY``); ``gradients`` measures
10 steps of 2 windows and one Jacobian sample; ``demo``, which has no model flags, trains a 1x8
model for 0.06 s (``tiny_demo``); ``bench`` measures the machine's matmul peak once per sweep,
not twice per case (``one_matmul_peak``); ``--subprocess`` runs those two unchanged. None of
that changes what a case is about: whether its input or output path is read or written, refused
in one line, or replaced. ``forecast --png`` is given a series (``--data``): without one every
case stopped at the missing data, before writing anything.
"""

from __future__ import annotations

import argparse
import csv
import functools
import hashlib
import io
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # the tests' data writers make the runs the commands use
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from rnnkit.data.conll import read_conll  # noqa: E402
from rnnkit.data.parallel import read_pairs  # noqa: E402
from rnnkit.data.series import read_series  # noqa: E402
from rnnkit.data.tables import read_labelled_texts, read_lines  # noqa: E402
from rnnkit.data.text import read_text  # noqa: E402
from rnnkit.errors import RnnkitError  # noqa: E402
from rnnkit.files import replace_marked_block  # noqa: E402

CELLS = ["", "nan", "inf", "-inf", "1e309", "0", "3.5", "pos", "neg", '"', ",", "\t", "x y"]
HEADERS = ["text", "label", "v", "day", "x", ""]
PAIR_HEADERS = ["source", "target", "src", "tgt", "en", "es", "text", "summary", "line", "reply",
                "group", ""]  # fmt: skip
WORDS = ["the", "cat", "sees", "a", "dog", "big", "small", "bird", "el", "gato", "ve", "un",
         "perro", "grande", ".", ",", "caf\u00e9", "\u00fc", "\U0001f600", "\u200b",
         "x" * 60]  # fmt: skip
MARKER = ("<!-- reliability_sweep: begin -->", "<!-- reliability_sweep: end -->")


# -- generated files -----------------------------------------------------------------------


def generated(rng: random.Random, suffix: str) -> bytes:
    """A bad (or odd) text, table, series or CoNLL file."""
    kind = rng.randrange(7)
    if kind == 0:
        return rng.randbytes(rng.randrange(4000))
    if kind == 1:
        return b""
    if kind == 2:
        return b"a" * rng.choice([100_000, 300_000])
    if kind == 3:
        return "caf\u00e9 \u00fc".encode("latin-1") + rng.randbytes(50)
    sep = "\t" if suffix in (".tsv", ".conll") else ","
    header = sep.join(rng.choices(HEADERS, k=rng.randrange(5)))
    rows = [sep.join(rng.choices(CELLS, k=rng.randrange(6))) for _ in range(rng.randrange(40))]
    if suffix == ".jsonl" and kind > 4:
        keys = ["text", "label", "y"]
        values = [*CELLS, None, 3, [1]]
        rows = [
            json.dumps({rng.choice(keys): rng.choice(values) for _ in range(3)})
            for _ in range(rng.randrange(30))
        ]
        rows.append(rng.choice(["{", "[1]", "null", ""]))
        return "\n".join(rows).encode()
    return "\n".join([header, *rows]).encode()


def sentence(rng: random.Random) -> str:
    return " ".join(rng.choices(WORDS, k=rng.randrange(1, 12)))


def generated_pairs(rng: random.Random, suffix: str) -> bytes:
    """A pairs table: mostly well-formed rows of words (some train), with bad cells, columns,
    headers and sizes mixed in, or a generic bad file."""
    if rng.random() < 0.25:
        return generated(rng, suffix)
    n = rng.choice([0, 1, 2, 3, 5, 40, 150])
    cols = rng.sample(PAIR_HEADERS, k=rng.randrange(1, 4))
    if rng.random() < 0.15:
        cols = [cols[0], cols[0]]  # the same column twice
    bad = [*CELLS, None, 7, [1, 2], {"a": 1}, "\ud800"]

    def cell() -> object:
        return rng.choice(bad) if rng.random() < 0.1 else sentence(rng)

    if suffix == ".jsonl":
        lines = [json.dumps({c: cell() for c in cols}) for _ in range(n)]
        if rng.random() < 0.2:
            lines.append(rng.choice(["{", "[1]", "null", "3", ""]))
        return "\n".join(lines).encode("utf-8", "surrogatepass")
    sep = "\t" if suffix == ".tsv" else ","
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=sep)
    w.writerow(cols)
    for _ in range(n):
        w.writerow([cell() for _ in range(len(cols) + rng.choice([0, 0, 0, -1, 1]))])
    data = buf.getvalue().encode("utf-8", "surrogatepass")
    if rng.random() < 0.1:
        data += rng.randbytes(30)
    return data


def image_bytes(rng: random.Random) -> bytes:
    """An image file, good or bad."""
    from PIL import Image

    kind = rng.randrange(9)
    if kind == 0:
        return rng.randbytes(rng.randrange(2000))
    if kind == 1:
        return b""
    if kind == 2:  # a decompression bomb: tiny file, huge declared size
        return bomb_png()
    size = (rng.choice([1, 2, 7, 16, 33, 300]), rng.choice([1, 3, 16, 40]))
    mode = rng.choice(["RGB", "L", "RGBA", "P", "1", "I;16", "CMYK", "LA", "F"])
    arr = np.random.default_rng(rng.randrange(1 << 30)).integers(0, 255, (*size[::-1], 3))
    img = Image.fromarray(arr.astype(np.uint8), "RGB")
    try:
        img = img.convert(mode)
    except ValueError:
        pass
    fmt = rng.choice(["PNG", "JPEG", "GIF", "BMP", "TIFF"])
    buf = io.BytesIO()
    try:
        img.save(buf, fmt)
    except (OSError, ValueError, KeyError):
        img.convert("RGB").save(buf, "PNG")
    data = buf.getvalue()
    if kind == 3:
        data = data[: rng.randrange(1, max(2, len(data)))]  # truncated
    elif kind == 4:
        pos = rng.randrange(len(data))
        data = data[:pos] + bytes([data[pos] ^ 0xFF]) + data[pos + 1 :]  # one byte flipped
    return data


@functools.cache
def bomb_png() -> bytes:
    """A 12000x12000 PNG of a few kB, made once (making it took half a second a case)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.new("1", (12000, 12000)).save(buf, "PNG")
    return buf.getvalue()


def image_folder(rng: random.Random, folder: Path) -> Path:
    """A folder of images with a captions table that lists them (and things that are not)."""
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for i in range(rng.choice([0, 1, 3, 12, 30])):
        name = f"{i:03d}" + rng.choice([".png", ".png", ".jpg", ".gif", ".txt"])
        (folder / name).write_bytes(image_bytes(rng) if rng.random() < 0.3 else _good_png(rng))
        names.append(name)
    if rng.random() < 0.1:
        (folder / "sub.png").mkdir()
        names.append("sub.png")
    table = rng.choice(["captions.tsv", "captions.csv", "captions.jsonl", "captions.txt"])
    if rng.random() < 0.1:
        return folder  # no captions table
    extra = ["missing.png", "../escape.png", "/etc/passwd", "", "sub.png"]
    rows = []
    for name in names + rng.sample(extra, k=rng.randrange(2)):
        for _ in range(rng.choice([1, 2])):
            caption = rng.choice(["", sentence(rng), " ".join(rng.choices(WORDS, k=3))])
            rows.append((name, caption))
    cols = rng.choice([["image", "caption"], ["file", "text"], ["x", "y"], ["image"]])
    if table.endswith(".jsonl"):
        text = "\n".join(json.dumps(dict(zip(cols, r, strict=False))) for r in rows)
    else:
        sep = "\t" if table.endswith(".tsv") else ","
        buf = io.StringIO()
        w = csv.writer(buf, delimiter=sep)
        w.writerow(cols)
        w.writerows(rows)
        text = buf.getvalue()
    data = text.encode()
    if rng.random() < 0.1:
        data = rng.randbytes(200)
    (folder / table).write_bytes(data)
    return folder


def _good_png(rng: random.Random) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    colour = tuple(rng.randrange(256) for _ in range(3))
    Image.new("RGB", (rng.choice([8, 16, 24]),) * 2, colour).save(buf, "PNG")
    return buf.getvalue()


def audio_bytes(rng: random.Random) -> bytes:
    """An audio file, good or bad."""
    import soundfile as sf

    kind = rng.randrange(8)
    if kind == 0:
        return rng.randbytes(rng.randrange(3000))
    if kind == 1:
        return b""
    rate = rng.choice([16000, 16000, 8000, 44100, 1, 3])
    n = rng.choice([0, 1, 10, 160, 8000, 16000])
    channels = rng.choice([1, 1, 2, 6])
    x = np.random.default_rng(rng.randrange(1 << 30)).normal(0, 0.1, (n, channels))
    if kind == 2 and n:
        x[rng.randrange(n)] = rng.choice([np.nan, np.inf])
    fmt, subtype = rng.choice([("WAV", "PCM_16"), ("WAV", "FLOAT"), ("FLAC", "PCM_16"),
                               ("OGG", "VORBIS")])  # fmt: skip
    buf = io.BytesIO()
    try:
        sf.write(buf, x.astype(np.float32), rate, format=fmt, subtype=subtype)
    except Exception:  # noqa: BLE001  (a combination the format refuses: plain WAV then)
        buf = io.BytesIO()
        sf.write(buf, x.astype(np.float32), 16000, format="WAV", subtype="PCM_16")
    data = buf.getvalue()
    if kind == 3:
        data = data[: rng.randrange(1, max(2, len(data)))]
    elif kind == 4 and len(data) > 44:  # a header that promises far more frames than there are
        data = data[:40] + (2**31 - 1).to_bytes(4, "little") + data[44:]
    return data


def audio_suffix(rng: random.Random) -> str:
    return rng.choice([".wav", ".wav", ".flac", ".ogg", ".mp3", ".txt"])


def speech_folder(rng: random.Random, folder: Path) -> Path:
    """A folder of audio files with a transcript table (and things that are not right)."""
    from tests.speech_data import tone_speech

    folder.mkdir(parents=True, exist_ok=True)
    import soundfile as sf

    names = []
    for i in range(rng.choice([0, 1, 3, 20, 40])):
        name = f"{i:03d}{audio_suffix(rng) if rng.random() < 0.2 else '.wav'}"
        text = " ".join(rng.choices(["ab", "ba", "abba", "b"], k=rng.randrange(1, 4)))
        if rng.random() < 0.8:
            sf.write(folder / name, tone_speech(text), 16000, format="WAV")  # whatever its suffix
        else:
            (folder / name).write_bytes(audio_bytes(rng))
        names.append((name, text))
    table = rng.choice(["transcript.tsv", "transcript.csv", "metadata.csv", "transcript.jsonl"])
    extra = [("missing.wav", "ab"), ("", "ab"), ("000.wav", ""), ("/dev/zero", "ab")]
    rows = names + rng.sample(extra, k=rng.randrange(2))
    cols = rng.choice([["path", "text"], ["file", "transcript"], ["a", "b"], ["path"]])
    if table.endswith(".jsonl"):
        text = "\n".join(json.dumps(dict(zip(cols, r, strict=False))) for r in rows)
    else:
        sep = "\t" if table.endswith(".tsv") else ","
        buf = io.StringIO()
        w = csv.writer(buf, delimiter=sep)
        w.writerow(cols)
        w.writerows(rows)
        text = buf.getvalue()
    if rng.random() > 0.05:
        (folder / table).write_text(text)
    return folder


def abc_bytes(rng: random.Random) -> bytes:
    """An ABC file: generated tunes, cut, mutated, with odd headers, or a generic bad file."""
    from tests.music_data import tune

    if rng.random() < 0.2:
        return generated(rng, ".txt")
    tunes = [tune(rng, i + 1) for i in range(rng.choice([0, 1, 2, 10, 60]))]
    text = "\n\n".join(tunes)
    for _ in range(rng.randrange(4)):
        edit = rng.randrange(5)
        pos = rng.randrange(len(text) + 1)
        if edit == 0:
            text = text[:pos] + text[pos + rng.randrange(1, 20) :]
        elif edit == 1:
            junk = rng.choice(["M:5/0\n", "L:1/0\n", "K:Zmaj\n", "M:\n", "|:|:", "[", "(3",
                               "z" * 500, "^^^^c", "c/////"])  # fmt: skip
            text = text[:pos] + junk + text[pos:]
        elif edit == 2:
            text = re.sub(r"M:\S+", rng.choice(["M:5/0", "M:0/4", "M:x", "M:99999/1"]), text)
        elif edit == 3:
            text = re.sub(r"K:\S+", rng.choice(["K:", "K:H", "K:Cmaj Emin"]), text)
        else:
            text = text[:pos] + "\n" + text[pos:]
    data = text.encode()
    if rng.random() < 0.05:
        data += b"\xff\xfe"
    return data


def stdin_bytes(rng: random.Random) -> bytes:
    """Lines for chat's standard input."""
    lines = []
    for _ in range(rng.randrange(1, 5)):
        kind = rng.randrange(6)
        if kind == 0:
            lines.append(rng.randbytes(rng.randrange(1, 40)).replace(b"\n", b" "))
        elif kind == 1:
            lines.append(b"")
        elif kind == 2:
            lines.append(b"hi \xff")
        elif kind == 3:
            lines.append(("word " * rng.choice([1, 500, 3000])).encode())
        else:
            lines.append(sentence(rng).encode())
    return b"\n".join(lines) + rng.choice([b"\n", b""])


def argument_text(rng: random.Random) -> str:
    """A command-line text: words, nothing, control characters, or non-UTF-8 bytes (as the
    shell would pass them: surrogate-escaped)."""
    kind = rng.randrange(6)
    if kind == 0:
        return os.fsdecode(b"foo\xffbar" + rng.randbytes(rng.randrange(5)).replace(b"\0", b""))
    if kind == 1:
        return rng.choice(["", " ", "\t\n"])
    if kind == 2:
        return "word " * rng.choice([200, 2000])
    if kind == 3:
        return "".join(chr(rng.randrange(1, 0x2FFF)) for _ in range(rng.randrange(1, 30)))
    return sentence(rng)


# -- output paths --------------------------------------------------------------------------

# no device files: a command writes next to its output and renames, and the sweep runs as
# whoever runs it (root would replace /dev/full)
PATH_KINDS = ("new", "existing", "existing+force", "symlink", "dangling", "folder",
              "under file", "missing folder", "long name", "odd suffix",
              "symlink to folder")  # fmt: skip


@dataclass
class OutPath:
    """A generated output path and what was there before."""

    path: str
    force: bool
    before: dict[str, object] = field(default_factory=dict)


def snapshot(path: Path) -> object:
    """What is at ``path``: a symlink's target, a file's hash, a folder's entries."""
    if path.is_symlink():
        return ("link", os.readlink(path))
    if path.is_file():
        return ("file", hashlib.sha256(path.read_bytes()).hexdigest())
    if path.is_dir():
        return ("dir", {p.name: snapshot(p) for p in path.iterdir()})
    return None


def overwritten(before: object, path: Path) -> bool:
    """Whether what was at ``path`` changed: a file or symlink replaced or gone, or an entry of
    a folder (new entries in a folder are not an overwrite: a run may fill an empty folder)."""
    try:
        now = snapshot(path)
    except OSError:
        now = None
    if isinstance(before, tuple) and before[0] == "dir":
        if not (isinstance(now, tuple) and now[0] == "dir"):
            return True
        return any(overwritten(b, path / name) for name, b in before[1].items())
    return now != before


def out_path(rng: random.Random, d: Path, suffix: str, folder: bool = False) -> OutPath:
    """A path for an output (``folder``: the command writes a folder there)."""
    kind = rng.choice(PATH_KINDS)
    name = f"out{rng.randrange(10**6)}{suffix}"
    p = d / name
    if kind in ("existing", "existing+force"):
        if folder:
            p.mkdir()
            (p / "keep.txt").write_text("the user's")
        else:
            p.write_text("the user's file")
    elif kind == "symlink":
        target = d / "target.txt"
        target.write_text("the user's target")
        p.symlink_to(target)
    elif kind == "dangling":
        p.symlink_to(d / "nowhere" / "x")
    elif kind == "folder":
        p.mkdir()
        (p / "keep.txt").write_text("the user's")
    elif kind == "symlink to folder":
        (d / "dir").mkdir(exist_ok=True)
        p.symlink_to(d / "dir")
    elif kind == "under file":
        (d / "afile").write_text("x")
        p = d / "afile" / name
    elif kind == "missing folder":
        p = d / "no" / "such" / name
    elif kind == "long name":
        p = d / ("n" * 300 + suffix)
    elif kind == "odd suffix":
        p = d / f"out{rng.randrange(1000)}{rng.choice(['.txt', '.jpg', '', '.PNG', '.csv'])}"
        if rng.random() < 0.5 and not folder:
            p.write_text("the user's file")
    protected = {}
    for q in (p, d / "target.txt", d / "dir"):
        try:
            if q.exists() or q.is_symlink():
                protected[str(q)] = snapshot(q)
        except OSError:  # a name too long: nothing can be there
            pass
    return OutPath(str(p), kind == "existing+force", protected)


# -- running a command ---------------------------------------------------------------------


class Timeout(Exception):
    pass


def _alarm(*_):
    raise Timeout


@dataclass
class Outcome:
    code: int | None  # None: it did not return
    stderr: str
    kind: str  # "traceback", "hang" or "" (it returned)
    detail: str = ""


def progress_stream():
    """A text stream on a copy of descriptor 2 as it is now (before any case catches it)."""
    return os.fdopen(os.dup(2), "w", buffering=1, encoding="utf-8", errors="replace")


def reuse_parser() -> None:
    """Build rnnkit's argument parser once for every in-process command: building it (every
    task's flags) took about a quarter of a second a call, most of what a refused case costs.
    Parsing does not change the parser; each parse gets its own copies of the mutable
    defaults (the ``outputs`` table, list defaults), as a parser built for it would give,
    the parser's actions aside."""
    import copy

    from rnnkit.cli import main as cli

    if getattr(cli.build_parser, "reused", False):
        return
    parser = cli.build_parser()
    parse = parser.parse_args
    # the parser's own actions (``predict`` keeps a table of them) stay shared: read, not data
    actions, todo = {}, [parser]
    while todo:
        for a in todo.pop()._actions:
            actions[id(a)] = a
            if isinstance(a, argparse._SubParsersAction):
                todo.extend(a.choices.values())

    def parse_args(args=None, namespace=None):
        ns = parse(args, namespace)
        for k, v in vars(ns).items():
            if isinstance(v, (list, dict, set, bytearray)):
                setattr(ns, k, copy.deepcopy(v, dict(actions)))
        return ns

    parser.parse_args = parse_args  # type: ignore[method-assign]

    def build_parser():
        return parser

    build_parser.reused = True  # type: ignore[attr-defined]
    cli.build_parser = build_parser


def tiny_demo() -> None:
    """``rnnkit demo`` has no model flags: it trains a 2x256 LSTM and evaluates it on all of
    Shakespeare's validation and test text, 5 s a case that runs. In process, the sweep has its
    ``train_lm`` build a 1x8 one: the case is about where demo writes (``--out``), which this
    leaves as it is (``--subprocess`` runs the demo unchanged)."""
    from rnnkit.runs import lm

    if getattr(lm.train_lm, "tiny", False):
        return
    train = lm.train_lm

    def tiny(*args, **settings):
        return train(*args, **settings, hidden_size=8, num_layers=1, embed_dim=8)

    tiny.tiny = True  # type: ignore[attr-defined]
    lm.train_lm = tiny


def one_matmul_peak() -> None:
    """``rnnkit bench`` measures this machine's float32 matmul peak twice a run (2048^3
    products, 5 s of a case's 6 s); in process, the sweep measures it once and every later
    call gives that figure: the case is about ``--plot``, the peak is the machine's."""
    from rnnkit import bench

    if not hasattr(bench.matmul_peak, "cache_info"):
        bench.matmul_peak = functools.cache(bench.matmul_peak)


def run_in_process(argv: list[str], stdin: bytes | None, timeout: int) -> Outcome:
    """``main(argv)`` here, its file descriptors 1 and 2 caught (C libraries write there too)."""
    from rnnkit.cli.main import main

    saved = os.dup(1), os.dup(2)
    old_stdin = sys.stdin
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(out.fileno(), 1)
        os.dup2(err.fileno(), 2)
        if stdin is not None:  # as Python opens a pipe under a UTF-8 locale
            sys.stdin = io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8",
                                         errors="surrogateescape")  # fmt: skip
        signal.signal(signal.SIGALRM, _alarm)
        signal.alarm(timeout)
        kind, code, detail = "", None, ""
        try:
            code = main(argv)
        except Timeout:
            kind = "hang"
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException as exc:  # noqa: BLE001  (what the sweep counts)
            kind = "traceback"
            detail = f"{type(exc).__name__}: {str(exc)[:80]}"
            frame = traceback.extract_tb(exc.__traceback__)[-1]
            detail += f" ({Path(frame.filename).name}:{frame.lineno})"
        finally:
            signal.alarm(0)
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
            sys.stdin = old_stdin
        err.seek(0)
        text = err.read().decode("utf-8", "replace")
    return Outcome(code, text, kind, detail)


def run_subprocess(argv: list[str], stdin: bytes | None, timeout: int) -> Outcome:
    cmd = [sys.executable, "-m", "rnnkit.cli.main", *argv]
    try:
        proc = subprocess.run(cmd, input=stdin or b"", capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return Outcome(None, "", "hang")
    err = proc.stderr.decode("utf-8", "replace")
    if "Traceback" in err:
        last = [line for line in err.splitlines() if line.strip()][-1:]
        return Outcome(proc.returncode, err, "traceback", last[0][:100] if last else "")
    return Outcome(proc.returncode, err, "")


def classify(o: Outcome) -> str:
    if o.kind:
        return o.kind
    lines = [line for line in o.stderr.splitlines() if line.strip() and "\r" not in line]
    if o.code == 0:
        return "ran"
    if o.code == 2 and len(lines) == 1 and lines[0].startswith("rnnkit: error:"):
        return "clean error"
    return f"other (exit {o.code}, {len(lines)} stderr lines)"


# -- the runs the commands use ---------------------------------------------------------------


class Runs(Mapping):
    """Tiny trained runs of every task (the data of ``tests/test_task_contract.py``'s cases),
    each trained the first time a case asks for it (``--only`` trains only those its sections
    use), its seconds counted as set-up, not as the case's."""

    def __init__(self, d: Path) -> None:
        from tests.test_task_contract import CASES

        self.d, self.cases, self.trained = d, CASES, {}

    def __iter__(self):
        return iter(self.cases)

    def __len__(self) -> int:
        return len(self.cases)

    def __getitem__(self, task: str) -> Path:
        if task not in self.trained:
            self.trained[task] = self.train(task)
        return self.trained[task]

    def train(self, task: str) -> Path:
        t0 = time.perf_counter()
        CLOCK.say(f"training the tiny {task} run the commands use (once)")
        folder = self.d / f"data-{task}"
        folder.mkdir()
        flags, *_ = self.cases[task](folder)
        out = self.d / f"run-{task}"
        argv = ["train", task, *map(str, flags), "--hidden-size", "12", "--num-layers", "1",
                "--eval-every", "4", "--out", str(out), "--quiet"]  # fmt: skip
        o = run_in_process(argv, None, 600)
        if o.code != 0:
            raise RuntimeError(f"could not train the {task} run: {o.stderr[-500:]} {o.detail}")
        CLOCK.setup["training the runs"] = (CLOCK.setup.get("training the runs", 0.0)
                                            + time.perf_counter() - t0)  # fmt: skip
        return out


def lm_run(rng: random.Random, d: Path, runs: Mapping[str, Path]) -> str:
    """A ``--lm`` argument: a run of some task, a file, nothing, or a damaged run."""
    kind = rng.randrange(6)
    if kind <= 1:
        return str(runs[rng.choice(sorted(runs))])
    if kind == 2:
        f = d / "afile.txt"
        f.write_text("x")
        return str(rng.choice([f, d / "missing", Path("/dev/null")]))
    if kind == 3:
        (d / "empty").mkdir(exist_ok=True)
        return str(d / "empty")
    damaged = d / f"damaged{rng.randrange(10**6)}"
    shutil.copytree(runs[rng.choice(["lm", "translate", "music"])], damaged, symlinks=True)
    victim = rng.choice([p for p in damaged.rglob("*") if p.is_file()])
    data = victim.read_bytes()
    victim.write_bytes(data[: len(data) // 2] if rng.random() < 0.5 else rng.randbytes(20))
    return str(damaged)


# -- the sweep -----------------------------------------------------------------------------

READERS: dict[str, tuple[tuple[str, ...], Callable[[random.Random, str], bytes],
                         Callable[[Path], object]]] = {
    "text corpus": ((".txt",), generated, read_text),
    "prediction inputs": ((".txt", ".jsonl"), generated, read_lines),
    "labelled table (CSV/TSV/JSONL)": ((".csv", ".tsv", ".jsonl"), generated, read_labelled_texts),
    "series": ((".csv", ".tsv"), generated, lambda p: read_series(p, "v")),
    "CoNLL": ((".conll",), generated, read_conll),
    "pairs table (CSV/TSV/JSONL)": ((".csv", ".tsv", ".jsonl"), generated_pairs, read_pairs),
}  # fmt: skip


def read_image_file(p: Path) -> object:
    from rnnkit.data.images import read_image

    return read_image(p, 16)


def read_audio_file(p: Path) -> object:
    from rnnkit.data.audio import read_audio

    return read_audio(p)


def read_abc(p: Path) -> object:
    from rnnkit.tasks.music.task import read_abc_path

    return read_abc_path(str(p))


FILE_READERS: dict[str, tuple[Callable[[random.Random], bytes], Callable[[random.Random], str],
                              Callable[[Path], object]]] = {
    "image file": (image_bytes, lambda rng: rng.choice([".png", ".jpg", ".gif", ".bmp"]),
                   read_image_file),
    "audio file": (audio_bytes, audio_suffix, read_audio_file),
    "ABC file": (abc_bytes, lambda rng: ".abc", read_abc),
}  # fmt: skip


def read_image_folder(p: Path) -> object:
    from rnnkit.data.images import read_captioned_folder

    return read_captioned_folder(p, 16, 3)


def read_speech_folder(p: Path) -> object:
    from rnnkit.data.transcripts import read_transcript

    return read_transcript(p)


FOLDER_READERS = {
    "image folder with captions": (image_folder, read_image_folder),
    "audio folder with a transcript": (speech_folder, read_speech_folder),
}


def try_read(read: Callable[[Path], object], path: Path, timeout: int, c: Counter) -> None:
    signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(timeout)
    try:
        read(path)
        c["read"] += 1
    except RnnkitError as exc:
        c["clean error" if "\n" not in str(exc) else "multi-line error"] += 1
    except Timeout:
        c["hang"] += 1
    except Exception as exc:  # noqa: BLE001  (what the sweep counts)
        c["traceback"] += 1
        frame = traceback.extract_tb(exc.__traceback__)[-1]
        c[f"traceback: {type(exc).__name__}: {str(exc)[:60]} "
          f"({Path(frame.filename).name}:{frame.lineno})"] += 1  # fmt: skip
    finally:
        signal.alarm(0)


class Clock:
    """Where a sweep's time goes: seconds and cases per section (a reader or a command), the
    set-up apart, and a progress bar over every case with a line per finished section.

    The bar writes to a copy of the first standard error, so a case's caught descriptor 2
    never holds it (a stray line there would change how the case is counted)."""

    def __init__(self, total: int = 0, stream=None) -> None:
        self.seconds: dict[str, float] = {}
        self.cases: dict[str, int] = {}
        self.setup: dict[str, float] = {}
        self.planned: dict[str, int] = {}  # sections not yet run -> their cases
        self.started = time.perf_counter()
        self.bar, self.stream = None, stream
        if stream is not None and total:
            from tqdm import tqdm

            self.bar = tqdm(total=total, file=stream, unit="case", dynamic_ncols=True,
                            mininterval=1.0)  # fmt: skip

    def say(self, line: str) -> None:
        if self.bar is not None:
            self.bar.write(line, file=self.stream)

    def plan(self, name: str, cases: int) -> None:
        self.planned[name] = cases

    def tick(self, name: str, seconds: float) -> None:
        """One case of section ``name`` took ``seconds``."""
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds
        self.cases[name] = self.cases.get(name, 0) + 1
        if self.bar is not None:
            self.bar.set_description(name[:40], refresh=False)
            self.bar.update()

    def section_done(self, name: str) -> str:
        """The line said when section ``name`` ends: its pace, and how long the rest should
        take at the pace of the sections of its kind so far."""
        self.planned.pop(name, None)
        n, sec = self.cases.get(name, 0), self.seconds.get(name, 0.0)
        left = self.left()
        line = (f"{name}: {n} cases in {sec:.0f} s ({sec / max(n, 1):.2f} s a case); "
                f"{(time.perf_counter() - self.started) / 60:.1f} min so far"
                + (f", about {left / 60:.0f} min left" if self.planned else ""))  # fmt: skip
        self.say(line)
        return line

    def pace(self, command: bool) -> float:
        """Seconds a case in the finished sections of that kind (readers or commands)."""
        names = [k for k in self.cases if k.startswith(COMMAND_WORDS) == command]
        n = sum(self.cases[k] for k in names)
        return sum(self.seconds[k] for k in names) / n if n else 0.0

    def left(self) -> float:
        """Seconds the planned sections should take at ``pace``."""
        return sum(n * self.pace(k.startswith(COMMAND_WORDS)) for k, n in self.planned.items())

    def projected(self, full: int) -> float:
        """Seconds ``full`` cases of every section run would take at each section's own pace,
        the set-up once."""
        each = sum(self.seconds[k] / self.cases[k] for k in self.cases if self.cases[k])
        return each * full + sum(self.setup.values())

    def table(self, full: int = 300) -> str:
        """Per section: cases, seconds, seconds a case, and minutes at ``full`` cases."""
        rows = [f"{'section':44s} {'cases':>5s} {'seconds':>8s} {'s/case':>7s} "
                f"{f'min at {full}':>10s}"]  # fmt: skip
        for k in sorted(self.cases, key=lambda k: -self.seconds[k] / max(self.cases[k], 1)):
            per = self.seconds[k] / max(self.cases[k], 1)
            rows.append(f"{k[:44]:44s} {self.cases[k]:5d} {self.seconds[k]:8.1f} {per:7.2f} "
                        f"{per * full / 60:10.1f}")  # fmt: skip
        for k, v in self.setup.items():
            rows.append(f"{k[:44]:44s} {'once':>5s} {v:8.1f}")
        return "\n".join(rows)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


CLOCK = Clock()  # main replaces it with one that shows a progress bar


def sweep_readers(cases: int, timeout: int, rng: random.Random, tmp: Path, only) -> dict:
    counts: dict[str, Counter] = {}
    for name, (suffixes, make, read) in READERS.items():
        if only(name):
            c = counts.setdefault(name, Counter())
            for i in range(cases):
                t0 = time.perf_counter()
                path = tmp / f"case{i}{suffixes[i % len(suffixes)]}"
                path.write_bytes(make(rng, path.suffix))
                try_read(read, path, timeout, c)
                path.unlink()
                CLOCK.tick(name, time.perf_counter() - t0)
            CLOCK.section_done(name)
    for name, (make, suffix, read) in FILE_READERS.items():
        if only(name):
            c = counts.setdefault(name, Counter())
            for i in range(cases):
                t0 = time.perf_counter()
                path = tmp / f"case{i}{suffix(rng)}"
                path.write_bytes(make(rng))
                try_read(read, path, timeout, c)
                path.unlink()
                CLOCK.tick(name, time.perf_counter() - t0)
            CLOCK.section_done(name)
    for name, (make, read) in FOLDER_READERS.items():
        if only(name):
            c = counts.setdefault(name, Counter())
            for i in range(cases):
                t0 = time.perf_counter()
                folder = make(rng, tmp / f"folder{i}")
                try_read(read, folder, timeout, c)
                shutil.rmtree(folder)
                CLOCK.tick(name, time.perf_counter() - t0)
            CLOCK.section_done(name)
    return counts


READER_NAMES = (*READERS, *FILE_READERS, *FOLDER_READERS)


# the first words of every command case's name (the readers' names start otherwise)
COMMAND_WORDS = ("train", "evaluate", "chat", "translate", "reorder", "predict", "caption",
                 "transcribe", "forecast", "inspect", "compose", "gradients", "memory-task",
                 "demo", "bench", "export")  # fmt: skip
# a generated run trains two steps and decodes a few items (the sweep counts what the command
# does with its input, not how well it trains: the test phase once took most of a case)
TINY = ["--max-steps", "2", "--hidden-size", "4", "--num-layers", "1", "--val-limit", "4",
        "--test-limit", "4", "--quiet"]  # fmt: skip


def command_cases(runs: Mapping[str, Path]) -> dict[str, Callable[[random.Random, Path], tuple]]:
    """name -> (rng, case folder) -> (argv, standard input or None, output path or None)."""

    def train_data(task: str, suffixes: tuple[str, ...], make) -> Callable:
        def case(rng: random.Random, d: Path) -> tuple:
            path = d / f"data{rng.choice(suffixes)}"
            path.write_bytes(make(rng, path.suffix))
            return ["train", task, "--data", str(path), *TINY, "--out", str(d / "run")], None, None

        return case

    def train_folder(task: str, make, extra: list[str]) -> Callable:
        def case(rng: random.Random, d: Path) -> tuple:
            folder = make(rng, d / "data")
            return (["train", task, "--data", str(folder), *TINY, *extra, "--out", str(d / "run")],
                    None, None)  # fmt: skip

        return case

    def train_music(rng: random.Random, d: Path) -> tuple:
        path = d / "tunes.abc"
        path.write_bytes(abc_bytes(rng))
        argv = ["train", "music", "--data", str(path), *TINY, "--eval-tunes", "2",
                "--no-music21-check", "--out", str(d / "run")]  # fmt: skip
        return argv, None, None

    def train_out(rng: random.Random, d: Path) -> tuple:
        o = out_path(rng, d, "", folder=True)
        data = runs["translate"].parent / "data-translate" / "train.tsv"
        argv = ["train", "translate", "--data", str(data), "--tokens", "word", *TINY,
                "--out", o.path]  # fmt: skip
        return argv, None, o

    def chat_stdin(rng: random.Random, d: Path) -> tuple:
        return ["chat", str(runs["chat"])], stdin_bytes(rng), None

    def text_command(command: str, task: str) -> Callable:
        def case(rng: random.Random, d: Path) -> tuple:
            texts = [argument_text(rng) for _ in range(rng.choice([1, 1, 2]))]
            return [command, str(runs[task]), *texts], None, None

        return case

    def predict_text(task: str) -> Callable:
        def case(rng: random.Random, d: Path) -> tuple:
            return ["predict", str(runs[task]), argument_text(rng)], None, None

        return case

    def with_path(command: str, task: str, inputs: Callable, flag: str, suffix: str,
                  folder: bool = False) -> Callable:  # fmt: skip
        def case(rng: random.Random, d: Path) -> tuple:
            o = out_path(rng, d, suffix, folder)
            argv = [command, str(runs[task]), *inputs(d), flag, o.path]
            return argv + ["--force"] * o.force, None, o

        return case

    def image_input(d: Path) -> list[str]:
        return [str(runs["caption"].parent / "data-caption" / "train" / "000.png")]

    def caption_images(rng: random.Random, d: Path) -> tuple:
        paths = []
        for i in range(rng.choice([1, 1, 2])):
            p = d / f"img{i}{rng.choice(['.png', '.jpg', '.gif', ''])}"
            p.write_bytes(image_bytes(rng))
            paths.append(str(p))
        return ["caption", str(runs["caption"]), *paths], None, None

    def transcribe_audio(rng: random.Random, d: Path) -> tuple:
        p = d / f"clip{audio_suffix(rng)}"
        p.write_bytes(audio_bytes(rng))
        return ["transcribe", str(runs["speech"]), str(p)], None, None

    def audio_input() -> str:
        return str(runs["speech"].parent / "data-speech" / "train" / "audio" / "000.wav")

    def transcribe_lm(rng: random.Random, d: Path) -> tuple:
        command = rng.choice(["transcribe", "evaluate", "predict"])
        lm = lm_run(rng, d, runs)
        if command == "evaluate":
            return ["evaluate", str(runs["speech"]), "--lm", lm], None, None
        return [command, str(runs["speech"]), audio_input(), "--lm", lm], None, None

    def train_speech_lm(rng: random.Random, d: Path) -> tuple:
        data = runs["speech"].parent / "data-speech" / "train"
        argv = ["train", "speech", "--data", str(data), *TINY, "--baseline-steps", "1",
                "--lm", lm_run(rng, d, runs), "--out", str(d / "run")]  # fmt: skip
        return argv, None, None

    def predict_output(rng: random.Random, d: Path) -> tuple:
        task = rng.choice(sorted(runs))
        o = out_path(rng, d, rng.choice([".jsonl", ".csv"]))
        inputs = runs[task].parent / f"data-{task}" / "inputs.txt"
        argv = ["predict", str(runs[task]), "--input", str(inputs), "--output", o.path]
        return argv + ["--force"] * o.force, None, o

    def inspect_out(rng: random.Random, d: Path) -> tuple:
        o = out_path(rng, d, ".html")
        argv = ["inspect", str(runs["lm"]), "--text", "ROMEO: to be", "--out", o.path]
        return argv + ["--force"] * o.force, None, o

    def forecast_png(rng: random.Random, d: Path) -> tuple:
        o = out_path(rng, d, ".png")
        data = runs["forecast"].parent / "data-forecast" / "new.csv"  # it needs a series
        argv = ["forecast", str(runs["forecast"]), "--data", str(data), "--png", o.path]
        return argv + ["--force"] * o.force, None, o

    def compose_out(rng: random.Random, d: Path) -> tuple:
        o = out_path(rng, d, "", folder=True)
        argv = ["compose", str(runs["music"]), "--n", "2", "--no-png", "--out", o.path]
        return argv + ["--force"] * o.force, None, o

    def gradients_out(rng: random.Random, d: Path) -> tuple:
        o = out_path(rng, d, "", folder=True)
        argv = ["gradients", str(runs["lm"]), "--length", "10", "--samples", "1",
                "--batch-size", "2", "--out", o.path]  # fmt: skip
        return argv + ["--force"] * o.force, None, o

    def memory_out(rng: random.Random, d: Path) -> tuple:
        o = out_path(rng, d, "", folder=True)
        argv = ["memory-task", "--length", "5", "--hidden", "4", "--max-steps", "2", "--out",
                o.path]  # fmt: skip
        return argv, None, o

    def demo_out(rng: random.Random, d: Path) -> tuple:
        o = out_path(rng, d, "", folder=True)
        return ["demo", "--minutes", "0.001", "--out", o.path], None, o

    def export_out(rng: random.Random, d: Path) -> tuple:
        o = out_path(rng, d, "", folder=True)
        argv = ["export", str(runs[rng.choice(["lm", "classify"])]), "--out", o.path]
        return argv + ["--force"] * o.force, None, o

    def bench_plot(rng: random.Random, d: Path) -> tuple:
        o = out_path(rng, d, ".png")
        argv = ["bench", "--quick", "--no-generation", "--cells", "rnn", "--repeats", "1",
                "--plot", o.path]  # fmt: skip
        return argv + ["--force"] * o.force, None, o

    def evaluate_data(task: str, suffixes: tuple[str, ...], make) -> Callable:
        def case(rng: random.Random, d: Path) -> tuple:
            path = d / f"new{rng.choice(suffixes)}"
            path.write_bytes(make(rng, path.suffix))
            return ["evaluate", str(runs[task]), "--data", str(path)], None, None

        return case

    return {
        "train classify": train_data("classify", (".csv", ".jsonl"), generated),
        "train tag": train_data("tag", (".conll",), generated),
        "train lm": train_data("lm", (".txt",), generated),
        "train reorder": train_data("reorder", (".txt",), generated),
        "train translate (pairs)": train_data("translate", (".csv", ".tsv", ".jsonl"),
                                              generated_pairs),
        "train summarize (pairs)": train_data("summarize", (".csv", ".tsv", ".jsonl"),
                                              generated_pairs),
        "train chat (pairs)": train_data("chat", (".csv", ".tsv", ".jsonl"), generated_pairs),
        "train caption (image folder)": train_folder("caption", image_folder,
                                                     ["--image-size", "16", "--width", "4",
                                                      "--stages", "2"]),
        "train speech (audio folder)": train_folder("speech", speech_folder,
                                                    ["--baseline-steps", "1"]),
        "train music (ABC)": train_music,
        "train --out": train_out,
        "train speech --lm": train_speech_lm,
        "evaluate translate --data": evaluate_data("translate", (".csv", ".tsv", ".jsonl"),
                                                   generated_pairs),
        "evaluate music --data": evaluate_data("music", (".abc",), lambda r, s: abc_bytes(r)),
        "chat (standard input)": chat_stdin,
        "translate TEXT": text_command("translate", "translate"),
        "reorder SENTENCE": text_command("reorder", "reorder"),
        "predict summarize TEXT": predict_text("summarize"),
        "predict music TEXT": predict_text("music"),
        "caption IMAGE": caption_images,
        "transcribe AUDIO": transcribe_audio,
        "transcribe/evaluate/predict speech --lm": transcribe_lm,
        "translate --attention": with_path("translate", "translate",
                                           lambda d: ["the big cat."], "--attention", ".png"),
        "reorder --attention": with_path("reorder", "reorder", lambda d: ["king the of"],
                                         "--attention", ".png"),
        "caption --plot": with_path("caption", "caption", image_input, "--plot", ".png"),
        "caption --attention": with_path("caption", "caption", image_input, "--attention",
                                         ".png"),
        "export --out": export_out,
        "predict --output": predict_output,
        "forecast --png": forecast_png,
        "inspect --out": inspect_out,
        "compose --out": compose_out,
        "gradients --out": gradients_out,
        "memory-task --out": memory_out,
        "demo --out": demo_out,
        "bench --plot": bench_plot,
    }  # fmt: skip


def sweep_commands(cases: int, timeout: int, rng: random.Random, tmp: Path, only,
                   in_process: bool) -> dict:  # fmt: skip
    table = command_cases({})
    wanted = [name for name in table if only(name)]
    if not wanted:
        return {}
    table = command_cases(Runs(tmp))
    run = run_in_process if in_process else run_subprocess
    counts: dict[str, Counter] = {}
    for name in wanted:
        c = counts.setdefault(name, Counter())
        for i in range(cases):
            t0, setup = time.perf_counter(), sum(CLOCK.setup.values())
            d = tmp / f"cmd{i}"
            d.mkdir()
            argv, stdin, out = table[name](rng, d)
            outcome = run(argv, stdin, timeout)
            kind = classify(outcome)
            c[kind] += 1
            if kind == "traceback":
                c[f"traceback: {outcome.detail}"] += 1
            elif kind.startswith("other"):
                c[f"{kind}: {outcome.stderr.strip().splitlines()[-1:]!s:.100}"] += 1
            if out is not None and not out.force:
                changed = [p for p, b in out.before.items() if overwritten(b, Path(p))]
                if changed:
                    c["overwrite"] += 1
                    c[f"overwrite: {' '.join(argv[:2])} ... ({len(changed)} paths)"] += 1
            shutil.rmtree(d, ignore_errors=True)
            trained = sum(CLOCK.setup.values()) - setup  # a run a case asked for first
            CLOCK.tick(name, time.perf_counter() - t0 - trained)
        CLOCK.section_done(name)
    return counts


def estimate(full: int = 300) -> str:
    """How long ``full`` cases per reader and command would take at this sweep's pace."""
    return (f"at this pace {full} cases per reader and command would take about "
            f"{CLOCK.projected(full) / 60:.0f} min")  # fmt: skip


def table_text(counts: dict[str, Counter]) -> str:
    lines = ["| input through | tried | read or ran | clean one-line errors | tracebacks | hangs "
             "| overwrites |", "|---|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    for name, c in counts.items():
        tried = sum(v for k, v in c.items() if ":" not in k and k != "overwrite")
        ok = c["read"] + c["ran"]
        lines.append(f"| {name} | {tried} | {ok} | {c['clean error']} | {c['traceback']} | "
                     f"{c['hang']} | {c['overwrite']} |")  # fmt: skip
        for k, v in sorted(c.items()):
            if ":" in k or k.startswith(("other", "multi-line")):
                lines.append(f"|   {k.replace('|', '/')} | {v} | | | | | |")
    return "\n".join(lines)


def write_doc(doc: Path, text: str, command: str) -> None:
    """Replace the table between the bench's markers in ``doc`` (with the command that made it)."""
    try:
        replace_marked_block(doc, MARKER, f"`{command}`:\n\n{text}")
    except RnnkitError as exc:
        raise SystemExit(str(exc)) from None


def main(argv: list[str] | None = None) -> int:
    """Run the sweep; 1 if any case was a traceback, a hang or an overwrite, else 0."""
    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", type=int, default=300, help="generated inputs per reader")
    p.add_argument("--commands", type=int, default=300, help="generated inputs per command")
    p.add_argument("--timeout", type=int, default=120, help="seconds before a case is a hang")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--only", nargs="+", metavar="WORD", help="readers and commands named so")
    p.add_argument("--subprocess", action="store_true", help="each command in a new process")
    p.add_argument("--doc", type=Path, help="rewrite the sweep's table in this Markdown file")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = p.parse_args(argv)
    rng = random.Random(args.seed)

    def only(name: str) -> bool:
        return not args.only or any(w.lower() in name.lower() for w in args.only)

    global CLOCK
    plan = {name: args.cases for name in READER_NAMES if only(name)}
    plan |= {name: args.commands for name in command_cases({}) if only(name)}
    CLOCK = Clock(sum(plan.values()), None if args.no_progress else progress_stream())
    for name, n in plan.items():
        CLOCK.plan(name, n)
    if not args.subprocess:
        reuse_parser()
        tiny_demo()
        one_matmul_peak()
    t0 = time.time()
    with tempfile.TemporaryDirectory() as d:
        readers = sweep_readers(args.cases, args.timeout, rng, Path(d), only)
        commands = sweep_commands(args.commands, args.timeout, rng, Path(d), only,
                                  not args.subprocess)  # fmt: skip
    CLOCK.close()
    text = table_text({**readers, **commands})
    took = f"{time.time() - t0:.0f} s, seed {args.seed}"
    print(text + f"\n\n{took}\n\n{CLOCK.table(300)}\n\n{estimate(300)}")
    if args.doc:
        command = "python bench/" + Path(__file__).name + " " + " ".join(argv)
        write_doc(args.doc, text + f"\n\n({took})", command.strip())
    counts = [*readers.values(), *commands.values()]
    return int(any(c["traceback"] or c["hang"] or c["overwrite"] for c in counts))


if __name__ == "__main__":
    sys.exit(main())
