"""Paired bootstrap of a summarize run's test ROUGE-L (beam 5) against the lead baseline on the
same pairs: the difference and its 95% interval over 2,000 resamples of the test pairs
(docs/seq2seq.md).

    OMP_NUM_THREADS=1 python bench/summarize_vs_lead.py runs/syn
"""

from __future__ import annotations

import sys

import numpy as np
from rouge_score import rouge_scorer

from rnnkit.runs.driver import load_run
from rnnkit.tasks.text.summarize import LEAD_WORDS

RESAMPLES = 2000


def main(run_dir: str) -> None:
    run = load_run(run_dir)
    test = run.task.prepare().test
    outputs = [r["text"] for r in run.task.decode(run.model, [s for s, _ in test])]
    leads = [" ".join(s.split()[:LEAD_WORDS]) for s, _ in test]
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)

    def per_pair(hyps: list[str]) -> np.ndarray:  # (N,) ROUGE-L F x100
        return 100 * np.array([scorer.score(t, h)["rougeL"].fmeasure
                               for (_, t), h in zip(test, hyps, strict=True)])  # fmt: skip

    model, lead = per_pair(outputs), per_pair(leads)
    rows = np.random.default_rng(0).integers(0, len(test), (RESAMPLES, len(test)))
    diff = model[rows].mean(1) - lead[rows].mean(1)  # (RESAMPLES,)
    lo, hi = np.percentile(diff, [2.5, 97.5])
    print(f"test pairs {len(test)}: ROUGE-L model {model.mean():.2f}, lead {lead.mean():.2f}, "
          f"difference {model.mean() - lead.mean():.2f} (95% interval {lo:.2f} to {hi:.2f}; "
          f"model ahead in {np.mean(diff > 0):.1%} of {RESAMPLES} resamples)")  # fmt: skip


if __name__ == "__main__":
    main(*sys.argv[1:])
