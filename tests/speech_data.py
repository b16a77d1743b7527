"""Audio written by the speech tests: a tiny "alphabet" of tone patterns that a CTC model can
learn in seconds (each letter a tone of its own pitch, words separated by longer pauses)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

TONES = {"a": 440.0, "b": 1000.0, "c": 2200.0}  # Hz
RATE = 16000


def tone_speech(text: str, rate: int = RATE, rng: np.random.Generator | None = None) -> np.ndarray:
    """``text`` over a-c and spaces as audio: 100 ms per letter, 50 ms between letters, 200 ms
    between words, a little noise; float32 (N,) at ``rate``."""
    rng = rng or np.random.default_rng(0)
    parts = [np.zeros(int(0.1 * rate))]
    for ch in text:
        if ch == " ":
            parts.append(np.zeros(int(0.2 * rate)))
            continue
        n = int(rng.uniform(0.08, 0.12) * rate)
        t = np.arange(n) / rate
        parts += [0.5 * np.sin(2 * np.pi * TONES[ch] * t) * np.hanning(n),
                  np.zeros(int(0.05 * rate))]  # fmt: skip
    parts.append(np.zeros(int(0.1 * rate)))
    x = np.concatenate(parts)
    return (x + 0.003 * rng.standard_normal(len(x))).astype(np.float32)


def random_words(rng: np.random.Generator) -> str:
    return " ".join("".join(rng.choice(list(TONES), int(rng.integers(1, 4))))
                    for _ in range(int(rng.integers(1, 3))))  # fmt: skip


def write_tone_corpus(folder: Path, n: int = 60, seed: int = 0, table: str = "transcript.tsv"):
    """``n`` WAV clips of random tone words and a transcript table in ``folder``."""
    import soundfile as sf

    rng = np.random.default_rng(seed)
    (folder / "audio").mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n):
        text = random_words(rng)
        sf.write(folder / "audio" / f"{i:03d}.wav", tone_speech(text, rng=rng), RATE)
        rows.append((f"audio/{i:03d}.wav", text))
    path = folder / table
    if table.endswith(".jsonl"):
        import json

        path.write_text("".join(json.dumps({"path": p, "text": t}) + "\n" for p, t in rows))
    else:
        sep = "\t" if table.endswith(".tsv") else ","
        path.write_text(f"path{sep}text\n" + "".join(f"{p}{sep}{t}\n" for p, t in rows))
    return path
