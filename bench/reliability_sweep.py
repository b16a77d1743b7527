"""Count what every reader and training command does with generated bad input.

Each case is a file of random bytes, invalid UTF-8, an empty file, one huge line, a table with
missing, extra or wrong columns, ragged rows, NaN and inf cells, or a single row. A reader
either reads it or raises RnnkitError ("clean"); anything else is a traceback; a case that
takes over --timeout seconds is a hang. The commands run in a subprocess each, so a hang or a
crash there is seen as such.

    .venv/bin/python bench/reliability_sweep.py --cases 300 --commands 20
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from rnnkit.data.conll import read_conll
from rnnkit.data.series import read_series
from rnnkit.data.tables import read_labelled_texts, read_lines
from rnnkit.data.text import read_text
from rnnkit.errors import RnnkitError

CELLS = ["", "nan", "inf", "-inf", "1e309", "0", "3.5", "pos", "neg", '"', ",", "\t", "x y"]
HEADERS = ["text", "label", "v", "day", "x", ""]


def generated(rng: random.Random, suffix: str) -> bytes:
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


READERS = {
    ".txt": [("text corpus", read_text), ("prediction inputs", read_lines)],
    ".csv": [("labelled table", read_labelled_texts), ("series", lambda p: read_series(p, "v"))],
    ".tsv": [("labelled table", read_labelled_texts), ("series", lambda p: read_series(p, "v"))],
    ".jsonl": [("labelled table", read_labelled_texts), ("prediction inputs", read_lines)],
    ".conll": [("CoNLL", read_conll)],
}
COMMANDS = {
    ".csv": ["train", "classify"],
    ".jsonl": ["train", "classify"],
    ".conll": ["train", "tag"],
    ".txt": ["train", "lm"],
}


class Timeout(Exception):
    pass


def _alarm(*_):
    raise Timeout


def sweep_readers(cases: int, timeout: int, rng: random.Random, tmp: Path) -> dict:
    counts: dict[str, Counter] = {}
    signal.signal(signal.SIGALRM, _alarm)
    for suffix, readers in READERS.items():
        for _ in range(cases):
            path = tmp / f"case{suffix}"
            path.write_bytes(generated(rng, suffix))
            for name, read in readers:
                c = counts.setdefault(name, Counter())
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
                    c[f"traceback: {type(exc).__name__}: {str(exc)[:80]}"] += 1
                finally:
                    signal.alarm(0)
    return counts


def sweep_commands(cases: int, timeout: int, rng: random.Random, tmp: Path) -> dict:
    counts: dict[str, Counter] = {}
    for suffix, argv in COMMANDS.items():
        c = counts.setdefault(" ".join(argv), Counter())
        for i in range(cases):
            path = tmp / f"cmd{i}{suffix}"
            path.write_bytes(generated(rng, suffix))
            cmd = [sys.executable, "-m", "rnnkit.cli.main", *argv, "--data", str(path),
                   "--max-steps", "2", "--hidden-size", "4", "--out", str(tmp / f"run{i}{suffix}"),
                   "--quiet"]  # fmt: skip
            try:
                proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
            except subprocess.TimeoutExpired:
                c["hang"] += 1
                continue
            lines = proc.stderr.strip().splitlines()
            if "Traceback" in proc.stderr:
                c["traceback"] += 1
            elif proc.returncode == 0:
                c["trained"] += 1
            elif proc.returncode == 2 and len(lines) == 1:
                c["clean error"] += 1
            else:
                c[f"other (exit {proc.returncode}, {len(lines)} lines)"] += 1
    return counts


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", type=int, default=300, help="generated files per reader suffix")
    p.add_argument("--commands", type=int, default=20, help="generated files per command")
    p.add_argument("--timeout", type=int, default=60, help="seconds before a case is a hang")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    rng = random.Random(args.seed)
    t0 = time.time()
    with tempfile.TemporaryDirectory() as d:
        readers = sweep_readers(args.cases, args.timeout, rng, Path(d))
        commands = sweep_commands(args.commands, args.timeout, rng, Path(d))
    print(
        "| input through | tried | read or trained | clean one-line errors | tracebacks | hangs |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for name, c in {**readers, **commands}.items():
        tried = sum(v for k, v in c.items() if not k.startswith("traceback:"))
        ok = c["read"] + c["trained"]
        print(f"| {name} | {tried} | {ok} | {c['clean error']} | {c['traceback']} | {c['hang']} |")
        for k, v in c.items():
            if k.startswith(("traceback:", "other", "multi-line")):
                print(f"|   {k} | {v} | | | | |")
    print(f"\n{time.time() - t0:.0f} s, seed {args.seed}")


if __name__ == "__main__":
    main()
