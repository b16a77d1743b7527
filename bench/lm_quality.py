"""Validation loss of the default language model after a fixed training time, rnnkit vs torch.nn.

Both runs use the same LanguageModel, driver, data, seed and time budget; only the recurrent
layers differ (the ``backend`` model setting). Validation is on the held-out last 5% of the
bundled Shakespeare corpus, in nats per character (bits per character = nats / ln 2).

    .venv/bin/python bench/lm_quality.py --minutes 2
    .venv/bin/python bench/lm_quality.py --minutes 20 --out runs/bench-lm-20
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from pathlib import Path

from rnnkit.runs.lm import train_lm


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=2.0, help="training time per backend")
    p.add_argument("--out", help="directory for the two runs (default: a temporary one)")
    p.add_argument("--cell", default="lstm", choices=["lstm", "gru", "rnn"])
    p.add_argument("--backends", default="rnnkit,torch", help="comma-separated, run in order")
    args = p.parse_args()
    root = Path(args.out or tempfile.mkdtemp(prefix="rnnkit-lm-quality-"))
    rows = []
    for backend in args.backends.split(","):
        t0 = time.time()
        results = train_lm(
            out=root / backend,
            cell=args.cell,
            backend=backend,
            max_time=args.minutes * 60,
            progress=False,
        )
        summary, ev = results["training"], results["test"]
        rows.append(
            {
                "backend": backend,
                "steps": summary["steps"],
                "train_s": summary["elapsed_s"],
                "wall_s": round(time.time() - t0, 1),
                "val_nats_per_char": round(ev["loss"], 4),
                "val_bits_per_char": round(ev["loss"] / math.log(2), 4),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    print(
        f"\ndefault model ({args.cell}, 2x256, embed 64, seq 100, batch 32), "
        f"{args.minutes:g} min each, runs in {root}"
    )
    print(f"{'backend':8} {'steps':>6} {'val nats/char':>14} {'bits/char':>10}")
    for r in rows:
        print(
            f"{r['backend']:8} {r['steps']:>6} {r['val_nats_per_char']:>14.4f} "
            f"{r['val_bits_per_char']:>10.4f}"
        )
    if len(rows) == 2:
        a, b = rows
        print(
            f"{a['backend']} - {b['backend']}: "
            f"{a['val_nats_per_char'] - b['val_nats_per_char']:+.4f} nats/char"
        )


if __name__ == "__main__":
    main()
