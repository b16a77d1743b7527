"""``digits``: spoken digit strings and short commands, synthesised by Debian's espeak-ng and
flite, with noise at several signal-to-noise ratios; the test voices are never trained on.

Generated once (about 5 minutes on one core) into ``<cache>/speech/digits-v1-seed0/`` as 16 kHz
FLAC files and ``transcript.tsv``, reproducibly: every choice comes from ``SEED``. The clean
clips are stored; the noise is mixed in when the clips are read (``Clip.noise``, seeded per
clip), so the cache stays small and the noisy audio is the same every time.

- Texts: 80% digit strings of 3-7 digits spelled as words ("four zero seven"), 20% one of
  ``COMMANDS``; the transcript's ``kind`` column says which, and error rates are given per kind.
- Voices: espeak-ng's English accents (``gmw/en*``: British, American, Scottish, Lancaster, RP,
  West Midlands, Caribbean, New York City) times its voice variants (``!v/*``, about 100),
  at rates of 130-210 words a minute and pitches 20-80; and flite's voices. A voice is an
  espeak variant (under any accent) or a flite voice. The variants are split 70/10/20 into
  train/val/test by a seeded shuffle, and flite's ``rms`` is a test voice: the test split's
  voices are all unseen in training.
- Noise: training and validation clips are clean (40%) or mixed with white, pink or brown noise
  at 20, 15, 10 or 5 dB; every test clip appears four times, clean and at 20, 10 and 5 dB, so
  the error rates per SNR are on the same utterances.

espeak-ng and flite are installed with ``apt-get install -y espeak-ng flite`` when missing
(root needed); a machine without them and without apt says so in one line.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from rnnkit.data.named import NamedDataset, register
from rnnkit.data.named.fetch import cache_dir
from rnnkit.data.transcripts import Clip
from rnnkit.errors import RnnkitError

SEED = 0
VERSION = "v1"
SIZES = {"train": 6000, "val": 300, "test": 500}
DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
COMMANDS = (
    "turn on the lights", "turn off the lights", "volume up", "volume down", "next song",
    "previous song", "stop", "go", "yes", "no", "open the door", "close the door", "call home",
    "what time is it", "set an alarm", "cancel", "play music", "pause", "left", "right", "up",
    "down", "start recording", "stop recording", "show the weather", "make it brighter",
    "make it darker", "zoom in", "zoom out", "go back", "go forward", "take a picture",
    "send a message", "read my email", "lock the screen", "help me", "repeat that", "louder",
    "quieter", "good night",
)  # fmt: skip
FLITE_TRAIN = ("kal", "kal16", "awb", "slt")
FLITE_TEST = ("rms",)
TEST_SNRS = (None, 20.0, 10.0, 5.0)  # None: clean
TRAIN_SNRS = (20.0, 15.0, 10.0, 5.0)
NOISE_KINDS = ("white", "pink", "brown")


def condition_name(snr: float | None) -> str:
    return "clean" if snr is None else f"{snr:g} dB"


def ensure_tools() -> None:
    """espeak-ng and flite on the PATH, installed with apt-get when missing."""
    missing = [t for t in ("espeak-ng", "flite") if shutil.which(t) is None]
    if not missing:
        return
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        raise RnnkitError(
            f"the digits dataset needs {' and '.join(missing)}: run "
            "`apt-get install -y espeak-ng flite` as root"
        )
    print("rnnkit: installing espeak-ng and flite with apt-get (once)", file=sys.stderr)
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq",
                                                "espeak-ng", "flite"]):  # fmt: skip
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0 and cmd[1] == "install":
            last = (proc.stderr.strip().splitlines() or ["no message"])[-1]
            raise RnnkitError(f"could not install espeak-ng and flite with apt-get: {last}")


def _espeak_list(kind: str) -> list[str]:
    proc = subprocess.run(["espeak-ng", f"--voices={kind}"], capture_output=True, text=True)
    names = []
    for line in proc.stdout.splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 5:
            names.append(parts[4])
    return names


def voices() -> tuple[list[str], list[str]]:
    """espeak-ng's English accents (files ``gmw/en*``) and voice variants (``!v/*``), sorted."""
    accents = sorted({f.split("/", 1)[1] for f in _espeak_list("en") if f.startswith("gmw/en")})
    variants = sorted({f[3:] for f in _espeak_list("variant") if f.startswith("!v/")})
    if not accents or not variants:
        raise RnnkitError("espeak-ng lists no English voice or no voice variant")
    return accents, variants


def split_voices(variants: list[str], rng: np.random.Generator) -> dict[str, list[str]]:
    order = [variants[i] for i in rng.permutation(len(variants))]
    n_test, n_val = round(0.2 * len(order)), round(0.1 * len(order))
    return {"test": order[:n_test], "val": order[n_test : n_test + n_val],
            "train": order[n_test + n_val :]}  # fmt: skip


def random_text(rng: np.random.Generator) -> tuple[str, str]:
    """(text, kind): a digit string (80%) or a command."""
    if rng.random() < 0.8:
        n = int(rng.integers(3, 8))
        return " ".join(DIGITS[int(d)] for d in rng.integers(0, 10, n)), "digits"
    return COMMANDS[int(rng.integers(len(COMMANDS)))], "command"


def synthesise(text: str, voice: dict, wav: Path) -> None:
    """Speak ``text`` into ``wav`` with an espeak-ng or flite ``voice``."""
    if voice["engine"] == "espeak-ng":
        cmd = ["espeak-ng", "-v", f"{voice['accent']}+{voice['variant']}", "-s",
               str(voice["rate"]), "-p", str(voice["pitch"]), "-w", str(wav), text]  # fmt: skip
    else:
        cmd = ["flite", "-voice", voice["name"], "--setf",
               f"duration_stretch={voice['stretch']:.2f}", "-t", text, "-o", str(wav)]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0 or not wav.is_file():
        raise RnnkitError(f"{cmd[0]} failed on {text!r}: {proc.stderr.strip()[:200]}")


def pick_voice(split: str, pools: dict, accents: list[str], rng: np.random.Generator) -> dict:
    flite = FLITE_TEST if split == "test" else FLITE_TRAIN if split == "train" else ()
    if flite and rng.random() < 0.15:
        name = flite[int(rng.integers(len(flite)))]
        return {"engine": "flite", "name": name, "speaker": f"flite-{name}",
                "stretch": float(rng.uniform(0.85, 1.2))}  # fmt: skip
    variant = pools[split][int(rng.integers(len(pools[split])))]
    accent = accents[int(rng.integers(len(accents)))]
    return {"engine": "espeak-ng", "accent": accent, "variant": variant,
            "speaker": f"espeak-{variant}", "rate": int(rng.integers(130, 211)),
            "pitch": int(rng.integers(20, 81))}  # fmt: skip


def generate(dest: Path, sizes: dict[str, int] = SIZES, seed: int = SEED) -> None:
    """Synthesise the clean clips into ``dest`` (written in a temporary folder, then renamed,
    so an interrupted run leaves nothing half-made)."""
    import soundfile as sf

    from rnnkit.data.audio import SAMPLE_RATE, read_audio

    ensure_tools()
    accents, variants = voices()
    rng = np.random.default_rng(seed)
    pools = split_voices(variants, rng)
    total = sum(sizes.values())
    print(f"rnnkit: synthesising {total} clips for the digits dataset into {dest} (once)",
          file=sys.stderr)  # fmt: skip
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent) as tmp:
        work = Path(tmp)
        rows = ["path\ttext\tspeaker\tsplit\tkind"]
        for split, n in sizes.items():
            (work / split).mkdir()
            for i in range(n):
                text, kind = random_text(rng)
                voice = pick_voice(split, pools, accents, rng)
                wav = work / "raw.wav"
                synthesise(text, voice, wav)
                audio = read_audio(wav)
                name = f"{split}/{i:05d}.flac"
                sf.write(work / name, audio, SAMPLE_RATE, subtype="PCM_16")
                rows.append(f"{name}\t{text}\t{voice['speaker']}\t{split}\t{kind}")
        (work / "raw.wav").unlink(missing_ok=True)
        (work / "transcript.tsv").write_text("\n".join(rows) + "\n")
        os.replace(work, dest)
        work.mkdir()  # TemporaryDirectory removes its folder on the way out


def noisy(clip: Clip, snr: float | None, kind: str, seed: int) -> Clip:
    noise = None if snr is None else (kind, snr, seed)
    return Clip(
        clip.path, clip.text, clip.speaker, condition_name(snr), clip.split, noise, clip.kind
    )


def load_digits() -> list[Clip]:
    """The clips with their fixed split and noise (module docstring); generated on first use."""
    from rnnkit.data.transcripts import read_transcript

    dest = cache_dir() / "speech" / f"digits-{VERSION}-seed{SEED}"
    if not (dest / "transcript.tsv").is_file():
        generate(dest)
    clips, _ = read_transcript(dest / "transcript.tsv")
    lines = (dest / "transcript.tsv").read_text().splitlines()[1:]
    splits = [line.split("\t")[3] for line in lines]
    rng = np.random.default_rng([SEED, 1])
    out = []
    for n, (clip, split) in enumerate(zip(clips, splits, strict=True)):
        clip = Clip(clip.path, clip.text, clip.speaker, "", split, kind=clip.kind)
        if split == "test":
            for j, snr in enumerate(TEST_SNRS):
                kind = NOISE_KINDS[(n + j) % len(NOISE_KINDS)]
                out.append(noisy(clip, snr, kind, n * 10 + j))
        else:
            clean = rng.random() < 0.4
            snr = None if clean else float(rng.choice(TRAIN_SNRS))
            out.append(noisy(clip, snr, str(rng.choice(NOISE_KINDS)), n * 10))
    return out


register(
    NamedDataset(
        "digits",
        "speech",
        "spoken digit strings (3-7 digits) and 40 commands by espeak-ng and flite voices, "
        "noise at 5-20 dB; test voices held out (6,000 train, 300 val, 500 x 4 SNR test clips)",
        "synthesised with Debian's espeak-ng and flite (apt), seed 0",
        "generated audio; espeak-ng GPL-3, flite BSD-style (the voices' output is unrestricted)",
        load_digits,
    )
)
