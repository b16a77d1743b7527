"""What takes a ``music`` run folder: ``compose`` (tunes as .abc, .mid and a piano-roll .png,
drawn by ``draw_tunes``, which ``rnnkit serve`` calls on a loaded run) and ``check_samples``
(the share of drawn tunes that are well formed)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rnnkit.config import check_value
from rnnkit.data.abc import Key, TuneError, in_key, parse_key, tune_text
from rnnkit.errors import RnnkitError
from rnnkit.files import atomic_write_bytes, new_output
from rnnkit.plots.music import write_piano_roll
from rnnkit.runs.driver import LoadedRun, load_run
from rnnkit.scoring.tunes import fault, perform, tune_checks, with_redraws
from rnnkit.tasks.music.files import write_midi
from rnnkit.tasks.music.sampling import conditioning, ngram_tunes, sample_tunes

MAX_DRAWS = 10  # draws per asked tune before giving up on tunes that do not read


def check_samples(
    run_dir: str | Path,
    n: int = 100,
    meter: str | None = None,
    key: str | None = None,
    temperature: float = 1.0,
    seed: int = 0,
    music21: bool = True,
    ngram: bool = False,
    rules: bool = True,
) -> dict[str, Any]:
    """The checks of ``rnnkit.scoring.tunes`` on ``n`` tunes drawn from a run's model as
    they come (no tune drawn again), as the task's test reports them, and how many fail each
    way (``faults``: the first failing check of each tune, ``music_metrics.fault``); with
    ``ngram``, also on ``n`` tunes from the Kneser-Ney model fitted on the run's training split,
    drawn at the same temperature after the same forced tokens. ``rules``: both drawn with
    the bar rules (``sample_tunes``), or, when False, freely from each model."""
    check_value("n", n, {"lo": 1, "hi": 100_000}, int, False)
    check_value("temperature", temperature, {"lo": 0, "hi": 100}, float, False)
    run = load_run(run_dir, task="music")
    prefix, _ = conditioning(run.task, meter, key)
    redraws: list[int] = []
    tunes = sample_tunes(run.model, run.task, n, seed, prefix, temperature, rules=rules,
                         redraws=redraws)  # fmt: skip
    out = {"temperature": temperature, "seed": seed, "rules": rules,
           **with_redraws(tune_checks(tunes, music21), redraws)}  # fmt: skip
    faults = Counter(fault(tokens, done, music21) for tokens, done in tunes)
    faults.pop(None, None)
    out["faults"] = dict(faults.most_common())
    if ngram:
        task = run.task
        kn = task.ngram(task.prepare().train)
        redraws = []
        drawn = ngram_tunes(task, kn, n, seed, prefix, temperature, rules, redraws)
        out["ngram"] = with_redraws(tune_checks(drawn, music21), redraws)
    return out


@dataclass
class Tune:
    """A composed tune: its ABC text (moved to its key), its tokens in that key (what MIDI
    files and piano rolls play), the key and whether the model ended it."""

    abc: str
    tokens: list[str]
    key: Key
    finished: bool


def check_draw(
    run: LoadedRun, n: int, meter: str | None, key: str | None, temperature: float,
    seed: int | None,
) -> tuple[list[str], Key | None]:  # fmt: skip
    """The settings of a draw checked (one-line RnnkitErrors); the tokens forced after <s> for
    ``meter`` and ``key`` and the asked key."""
    check_value("n", n, {"lo": 1, "hi": 10_000}, int, False)
    check_value("temperature", temperature, {"lo": 0, "hi": 100}, float, False)
    check_value("seed", seed, {"lo": 0, "hi": 2**63 - 1}, int, True)
    return conditioning(run.task, meter, key)


def draw_tunes(
    run: LoadedRun,
    n: int = 1,
    meter: str | None = None,
    key: str | None = None,
    temperature: float = 1.0,
    seed: int | None = None,
    rules: bool = True,
    source: str | None = None,
) -> tuple[list[Tune], int]:
    """``n`` tunes sampled from a loaded ``music`` run (with the bar rules unless ``rules`` is
    False) and how many draws were redrawn: a drawn tune that does not read back as ABC is
    drawn again (at most ``MAX_DRAWS`` draws per tune). Each tune's N: line names ``source``
    (default: the run's folder). What ``compose`` writes and ``rnnkit serve`` answers."""
    prefix, asked = check_draw(run, n, meter, key, temperature, seed)
    drawn: list[tuple[list[str], bool]] = []
    redrawn, draws = 0, 0
    seed_now = seed
    while len(drawn) < n and draws < MAX_DRAWS * n:
        batch = sample_tunes(run.model, run.task, n - len(drawn), seed_now, prefix, temperature,
                             rules=rules)  # fmt: skip
        seed_now = None if seed is None else seed_now + 1
        for tokens, finished in batch:
            draws += 1
            try:
                tune_text(tokens, asked)
            except (TuneError, ValueError):
                redrawn += 1
                continue
            drawn.append((tokens, finished))
    if len(drawn) < n:
        raise RnnkitError(f"only {len(drawn)} of {draws} drawn tunes read as ABC; train longer")
    note = (
        f"sampled from {source or run.run_dir} at temperature {temperature}"
        + (f", seed {seed}" if seed is not None else "")
        + (", with the bar rules" if rules else "")
    )
    tunes = []
    for i, (tokens, finished) in enumerate(drawn, 1):
        target = asked or parse_key(tokens[1][2:])
        text = tune_text(tokens, target, i, f"rnnkit tune {i}", note)
        tunes.append(Tune(text, in_key(tokens, target), target, finished))
    return tunes, redrawn


def compose(
    run_dir: str | Path,
    n: int = 10,
    meter: str | None = None,
    key: str | None = None,
    out: str | Path = "tunes",
    temperature: float = 1.0,
    seed: int | None = None,
    force: bool = False,
    midi: bool = True,
    png: bool = True,
    rules: bool = True,
) -> dict[str, Any]:
    """Write ``n`` tunes (``draw_tunes``) into ``out``: ``tune-01.abc`` (+ ``.mid``, ``.png``)
    ...; nothing is written if any of the files exists, unless ``force``."""
    run = load_run(run_dir, task="music")
    check_draw(run, n, meter, key, temperature, seed)  # before any file is looked at
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise RnnkitError(f"--out {out} is a file; give a folder")
    kinds = [".abc"] + [".mid"] * midi + [".png"] * png
    paths = [[out / f"tune-{i:02d}{k}" for k in kinds] for i in range(1, n + 1)]
    for group in paths:
        for p in group:
            new_output(p, force, "output file")
    tunes, redrawn = draw_tunes(run, n, meter, key, temperature, seed, rules)
    written = []
    for i, (tune, group) in enumerate(zip(tunes, paths, strict=True), 1):
        atomic_write_bytes(group[0], tune.abc.encode())
        if midi:
            write_midi(tune.tokens, group[kinds.index(".mid")])
        if png:
            write_piano_roll(*perform(tune.tokens), group[kinds.index(".png")],
                             f"rnnkit tune {i} ({tune.key.abc()})")  # fmt: skip
        written.append([str(p) for p in group])
    unfinished = sum(not t.finished for t in tunes)
    return {"files": written, "redrawn": redrawn, "unfinished": unfinished}
