"""ONNX export at real sizes: onnxruntime against PyTorch for default-size models at long
sequences, and for trained runs given on the command line (written to a temporary folder).

    .venv/bin/python bench/onnx_export.py
    .venv/bin/python bench/onnx_export.py --run runs/chat --steps 200
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from rnnkit.models import exportable
from rnnkit.models.classifier import ClassifierConfig, SequenceClassifier
from rnnkit.models.language_model import LanguageModel, LanguageModelConfig
from rnnkit.models.seq2seq import Seq2Seq, Seq2SeqConfig
from rnnkit.runs.export import _to_onnx, check_graph, export_onnx

RECURRENT_OPS = ("LSTM", "GRU", "RNN")


def default_models() -> dict[str, torch.nn.Module]:
    torch.manual_seed(0)
    return {
        "lm lstm 2x256": LanguageModel(LanguageModelConfig(vocab_size=65)),
        "lm jordan 2x256": LanguageModel(LanguageModelConfig(vocab_size=65, cell="jordan")),
        "classify bi-lstm, n-grams": SequenceClassifier(ClassifierConfig(
            vocab_size=5000, num_classes=2, bidirectional=True, ngram_buckets=16384)),
        "seq2seq lstm 256, copy, feed": Seq2Seq(Seq2SeqConfig(
            src_vocab_size=4000, tgt_vocab_size=4000, hidden_size=256, copy=True,
            input_feed=True)),
    }  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", action="append", default=[], help="a trained run to export too")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--steps", type=int, default=200)
    args = p.parse_args()
    for name, model in default_models().items():
        model.eval()
        for g in exportable.export_graphs(model):
            with torch.no_grad():
                data = _to_onnx(g, g.example(2, 5, torch.Generator().manual_seed(1)))
            c = check_graph(data, g, seed=2, shape=(args.batch, args.steps))
            ops = [o for o in c["operators"] if o in RECURRENT_OPS]
            worst = max(c["max_abs_diff"].values())
            print(f"{name:30s} {g.name:8s} B={args.batch} T={args.steps}: "
                  f"max |ort - torch| {worst:.2e}, {ops}", flush=True)  # fmt: skip
    for run in args.run:
        out = Path(tempfile.mkdtemp(prefix="rnnkit-onnx-"))
        t0 = time.perf_counter()
        manifest = export_onnx(run, out, force=True)
        diffs = {k: f"{max(v['max_abs_diff'].values()):.2e}" for k, v in manifest["graphs"].items()}
        print(f"{run}: exported to {out} in {time.perf_counter() - t0:.1f} s, {diffs}")


if __name__ == "__main__":
    main()
