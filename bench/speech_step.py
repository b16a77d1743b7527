"""One training step of the speech acoustic model (forward + CTC + backward, float32, 1 thread)
on rnnkit's recurrent layers and on torch.nn's, same weights, interleaved in one process.

    OMP_NUM_THREADS=1 python bench/speech_step.py
"""

from __future__ import annotations

import time

import torch

from rnnkit.models.acoustic import AcousticConfig, AcousticModel, ctc_loss


def main(reps: int = 6) -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    x = torch.randn(32, 200, 40)  # (B, T, F): 2 s clips
    lengths = torch.randint(150, 201, (32,))
    lengths[0] = 200
    target_lengths = torch.full((32,), 15)
    targets = torch.randint(1, 29, (32 * 15,))
    models = {b: AcousticModel(AcousticConfig(hidden_size=160, num_layers=3, n_mels=40,
                                              vocab_size=29, backend=b, dropout=0.0))
              for b in ("rnnkit", "torch")}  # fmt: skip
    models["torch"].load_state_dict(models["rnnkit"].state_dict())
    times: dict[str, list[float]] = {b: [] for b in models}
    for _ in range(reps):
        for b, m in models.items():
            m.zero_grad()
            t0 = time.perf_counter()
            log_probs, out_lengths = m(x, lengths)
            ctc_loss(log_probs, out_lengths, targets, target_lengths).backward()
            times[b].append(time.perf_counter() - t0)
    for b, t in times.items():
        t = sorted(t[1:])  # the first is warm-up
        print(f"{b:6s} median {t[len(t) // 2] * 1000:5.0f} ms a step (batch 32 x 200 frames)")


if __name__ == "__main__":
    main()
