"""Measure the memory-task table (cells x lengths x tasks) with one process per run.

    python bench/memory_tasks.py --out docs/memory --jobs 3 --tasks adding \
        --hidden 64 --batch-size 64 --lr 5e-3 --max-steps 3000

Each run is ``rnnkit.analysis.memory.train_memory_task`` (what ``rnnkit memory-task`` calls) on
one thread; ``--jobs`` runs go side by side. Writes table.md, table.json and table.png under
--out (rewritten as runs finish). ``rnnkit memory-task --all`` computes the same table one run
after another.
"""

from __future__ import annotations

import argparse
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from rnnkit.analysis.memory import LENGTHS, train_memory_task, write_table
from rnnkit.analysis.plots import plot_memory_table


def one_run(task: str, cell: str, length: int, settings: dict) -> dict:
    import torch

    torch.set_num_threads(1)
    return train_memory_task(task, cell, length, progress=False, **settings)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--out", default="memory-table")
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    p.add_argument("--tasks", default="adding,copy")
    p.add_argument("--cells", default="rnn,lstm,gru")
    p.add_argument("--lengths", default=",".join(map(str, LENGTHS)))
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=5e-3)
    p.add_argument("--max-steps", type=int, default=3000)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    settings = dict(
        hidden=a.hidden, batch_size=a.batch_size, lr=a.lr, max_steps=a.max_steps, seed=a.seed
    )
    runs = [
        (task, cell, int(n))
        for task in a.tasks.split(",")
        for n in sorted(map(int, a.lengths.split(",")), reverse=True)  # longest first
        for cell in a.cells.split(",")
    ]
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    with ProcessPoolExecutor(max_workers=a.jobs) as pool:
        futures = [pool.submit(one_run, *run, settings) for run in runs]
        for f in as_completed(futures):
            r = f.result()
            rows.append(r)
            rows.sort(key=lambda r: (r["task"], r["cell"], r["length"]))
            write_table(rows, out)
            plot_memory_table(rows, out / "table.png")
            metric = r.get("test_mse", r.get("test_accuracy"))
            print(
                f"{r['task']} {r['cell']} T={r['length']}: {metric:.4f} solved={r['solved']} "
                f"({r['steps']} steps, {r['train_s']:.0f} s)",
                flush=True,
            )


if __name__ == "__main__":
    main()
