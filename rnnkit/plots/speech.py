"""Speech: an utterance's log-mel spectrogram and where each CTC character fires."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from torch import Tensor

from rnnkit.data import audio
from rnnkit.plots.figure import save_figure


def plot_alignment(
    feats: Tensor, log_probs: Tensor, ids: list[int], fires: list[int], symbols: list[str],
    ref: str, out: str, path: Path, R: int, blank: int = 0,
) -> None:  # fmt: skip
    """Two panels over time: the utterance's normalised log-mels (T, n_mels), and the CTC
    posteriors per model frame (``log_probs`` (T', V): blank, best character) with each output
    character ``ids[i]`` drawn at the model frame ``fires[i]`` where it fires on the output's
    most probable alignment (``rnnkit.generate.ctc.ctc_align``); ``R`` input frames make one
    model frame."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    T = feats.shape[0]
    seconds = T * audio.HOP / audio.SAMPLE_RATE
    fig, (a1, a2) = plt.subplots(2, 1, figsize=(max(8, seconds * 3), 6), sharex=True)
    a1.imshow(feats.T.numpy(), origin="lower", aspect="auto", cmap="magma",
              extent=(0, seconds, 0, feats.shape[1]))  # fmt: skip
    a1.set_ylabel("mel band")
    a1.set_title(f"reference: {ref[:90]}\noutput:    {out[:90]}", loc="left", fontsize=9,
                 family="monospace")  # fmt: skip
    probs = log_probs.exp().numpy()  # (T', V)
    step = R * audio.HOP / audio.SAMPLE_RATE  # seconds per model frame
    times = (np.arange(probs.shape[0]) + 0.5) * step
    a2.plot(times, probs[:, blank], color="0.75", lw=1, label="blank")
    chars = np.delete(probs, blank, axis=1)
    a2.plot(times, chars.max(1), color="tab:blue", lw=1, label="best character")
    for k, t in zip(ids, fires, strict=False):
        label = symbols[k] if symbols[k] != " " else "\u2423"
        a2.annotate(label, (times[t], probs[t, k]), ha="center", va="bottom", fontsize=9,
                    color="tab:red")  # fmt: skip
        a2.axvline(times[t], color="tab:red", lw=0.4, alpha=0.5)
    a2.set_ylim(0, 1.15)
    a2.set_xlabel("seconds")
    a2.set_ylabel("CTC posterior")
    a2.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)
