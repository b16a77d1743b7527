"""LM fusion for a speech run: pick the LM weight and length bonus on the validation split, then
score the test split once with the pick (docs/speech.md).

    OMP_NUM_THREADS=1 python bench/speech_lm_fusion.py runs/digits runs/digits-lm
"""

from __future__ import annotations

import json
import sys
import time

import torch

from rnnkit.runs.driver import load_run

GRID = [(0.0, 0.0), (0.3, 0.0), (0.3, 0.5), (0.5, 0.5), (0.5, 1.0), (0.8, 1.0), (0.8, 1.5)]


def main(run_dir: str, lm_dir: str) -> None:
    torch.set_num_threads(1)
    run = load_run(run_dir)
    task = run.task
    splits = task.prepare()  # features once, for every setting
    val = {}
    for w, b in GRID:
        task.data = task.data.replace(lm=None if w == 0 else lm_dir, lm_weight=w, length_bonus=b)
        t0 = time.perf_counter()
        r = task.score(run.model, splits.val)
        val[w, b] = r["wer"]
        print(f"val lm_weight {w} length_bonus {b}: WER {r['wer']:.4f} CER {r['cer']:.4f} "
              f"({time.perf_counter() - t0:.0f} s)", flush=True)  # fmt: skip
    w, b = min(GRID[1:], key=lambda g: val[g])
    task.data = task.data.replace(lm=lm_dir, lm_weight=w, length_bonus=b)
    print(f"test with lm_weight {w} length_bonus {b}:")
    print(json.dumps(task.score(run.model, splits.test), indent=1))


if __name__ == "__main__":
    main(*sys.argv[1:3])
