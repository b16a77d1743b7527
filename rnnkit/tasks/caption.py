"""Image captioning: an image in, a sentence out, with a CNN encoder and the attentional decoder
of seq2seq (``rnnkit.models.captioner``), decoded, tested and used as every task that writes
text is (``rnnkit.tasks.writing``).

Data: ``--data`` a captions file (image, caption: .tsv/.csv/.jsonl; several rows per image for
several captions) or a folder holding one (``rnnkit.data.images``); or ``--dataset scenes``
(the default) / ``emoji``, whose splits hold out compositions (``rnnkit.data.named.scenes``,
``emoji``). A user's images are split by image (every caption of an image in one split).

Captions are lowercased and tokenised into words (hyphenated words and apostrophes kept whole,
punctuation apart); the vocabulary is fitted on the training captions, words seen fewer than
``min_count`` times are ``<unk>``. Each (image, training caption) is one training pair.

Scores on a split, every hypothesis against all its image's references
(``rnnkit.scoring.captions``): BLEU-4, object recall (the share of the things an image holds
that the caption names) and exact match.

Baselines on the same split: the most frequent training caption for every image, and the first
training caption of the nearest training image in the trained CNN's feature space (cosine of
the encoder's summary vectors).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from rnnkit.config import Settings, setting
from rnnkit.data.images import (
    CAPTION_NAMES,
    CaptionedImage,
    list_images,
    read_captioned_folder,
    read_captions,
    read_image,
)
from rnnkit.data.splits import batched, split_indices
from rnnkit.data.tokenizers import WordTokenizer
from rnnkit.errors import RnnkitError
from rnnkit.generate.decoding import Decoding
from rnnkit.models.captioner import Captioner, CaptionerConfig
from rnnkit.models.seq2seq import PAD, SPECIALS, teacher_forced_loss
from rnnkit.plots.captions import plot_attention_grid, plot_captions
from rnnkit.scoring.captions import caption_scores, caption_words
from rnnkit.tasks.base import Splits, check_source, exactly_one_source, register_task
from rnnkit.tasks.phase import CHOICE_SHARE
from rnnkit.tasks.writing import (
    BEAM,
    DECODE_BATCH,
    Baseline,
    WritingTask,
    results_table,
    rounded,
)
from rnnkit.train.steps import ListBatches, StepOutput

DEFAULT_DATASET = "scenes"
DEFAULT_IMAGE_SIZE = 64  # a user's images, when --image-size is not given
Batch = tuple[Tensor, Tensor, Tensor, Tensor]  # images (B, C, S, S) uint8, ones (B,), tgt, lengths
COLUMNS = [("bleu", "BLEU-4", "8.2f"), ("recall", "recall", "8.3f"), ("exact", "exact", "8.3f")]


class CaptionTokenizer(WordTokenizer):
    """Lowercased words; a hyphenated word ("medium-dark") or one with an apostrophe is one
    token, as sacrebleu's tokeniser and the concepts read it."""

    @staticmethod
    def _split(text: str, lowercase: bool) -> list[str]:
        return caption_words(text)

    def to_dict(self) -> dict:
        return {"level": "caption-word", "vocab": self.vocab}


def decoding_name(beam: int) -> str:
    return "greedy" if beam == 1 else f"beam {beam}"


@dataclass(kw_only=True)
class CaptionData(Settings):
    data: str | None = setting(
        None, "captions file (image, caption: .tsv/.csv/.jsonl) or a folder holding one "
        f"({', '.join(CAPTION_NAMES)})", metavar="FILE|DIR",
    )  # fmt: skip
    dataset: str | None = setting(
        None, f"named named dataset (default {DEFAULT_DATASET} when no --data)",
        metavar="NAME",
    )  # fmt: skip
    image_col: str | None = setting(None, "image column (default: guessed)", metavar="NAME")
    caption_col: str | None = setting(None, "caption column (default: guessed)", metavar="NAME")
    image_size: int | None = setting(
        None, f"image side in pixels (default: the dataset's; {DEFAULT_IMAGE_SIZE} for --data)",
        lo=8, hi=1024,
    )  # fmt: skip
    min_count: int = setting(1, "training words seen fewer times become <unk>", lo=1, hi=10**6)
    max_words: int = setting(40, "training captions with more words are left out", lo=1,
                             hi=10**4)  # fmt: skip
    val: float = setting(0.1, "validation fraction of images (--data)", lo=0, hi=1, lo_open=True)
    test: float = setting(0.1, "test fraction of images (--data)", lo=0, hi=1, lo_open=True)
    split_seed: int = setting(0, "seed of the split (--data)", lo=0, hi=2**63 - 1)
    batch_size: int = setting(64, "(image, caption) pairs per step", lo=1, hi=65536)
    beam: int | None = setting(
        None, "beam width of decoding, 1: greedy (default: beam 5 or greedy, whichever gives the"
        " higher BLEU-4 on the validation images after training)", lo=1, hi=256,
    )  # fmt: skip

    def check(self) -> None:
        check_source(self.data, self.dataset, has_default=True)


@register_task
class CaptionTask(WritingTask):
    name = "caption"
    help = "train an image captioner: a CNN encoder and an attentional RNN decoder"
    description = (
        "Train a residual CNN and an LSTM/GRU decoder with attention over the image grid on "
        "captioned images (--data FILE|DIR with captions.tsv/.csv/.jsonl, or --dataset "
        "scenes|emoji). Prints BLEU-4 and object recall on the test split beside the most "
        "frequent training caption and the nearest training image's caption, and writes "
        "captions.png (test images with generated and reference captions) and, with attention, "
        "attention.png (where it looked for each word). Use the run with `rnnkit caption RUN "
        "IMAGE...`."
    )
    Data = CaptionData
    Model = CaptionerConfig
    defaults = {
        "model": {"hidden_size": 256, "embed_dim": 64, "dropout": 0.1},
        "train": {"max_time": 900.0, "lr": 2e-3, "eval_every": 200, "patience": 8},
    }
    monitor = ("val_bleu", "max")
    input_settings = ("image_col", "caption_col")
    count = "images"
    shown = 8

    tokenizer: CaptionTokenizer | None = None
    chosen_beam: int | None = None  # picked on the validation images after training

    # -- data ----------------------------------------------------------------------------------

    def load(self) -> tuple[list[CaptionedImage], str, dict[str, int]]:
        """(captioned images, where they came from, what was skipped)."""
        d = self.data
        items, source = exactly_one_source(d.data, d.dataset, self.name, DEFAULT_DATASET)
        if d.data is None:
            if d.image_size and d.image_size != items[0].image.shape[-1]:
                items = [resized(it, d.image_size) for it in items]
            return items, source, {}
        size = d.image_size or DEFAULT_IMAGE_SIZE
        items, skipped = read_captioned_folder(d.data, size, 3, d.image_col, d.caption_col)
        return items, d.data, skipped

    def prepare(self) -> Splits:
        d = self.data
        items, source, skipped = self.load()
        if all(it.split for it in items):
            parts = [[it for it in items if it.split == s] for s in ("train", "val", "test")]
        else:
            tr, va, te = split_indices(len(items), d.val, d.test, d.split_seed)
            parts = [[items[i] for i in idx] for idx in (tr, va, te)]
        train, val, test = parts
        if not train or not val or not test:
            raise RnnkitError(
                f"{source}: {len(items)} images do not make a train, val and test split"
            )
        if self.tokenizer is None:
            counts = Counter(w for it in train for c in it.training_captions()
                             for w in CaptionTokenizer._split(c, True))  # fmt: skip
            words = sorted((w for w, n in counts.items() if n >= d.min_count),
                           key=lambda w: (-counts[w], w))  # fmt: skip
            self.tokenizer = CaptionTokenizer([*SPECIALS, *words])
            self.model.vocab_size = len(self.tokenizer)
        C, S = train[0].image.shape[0], train[0].image.shape[-1]
        self.model.channels, self.model.image_size = C, S
        pairs = self.training_pairs(train)
        if not pairs:
            raise RnnkitError(f"every training caption has over max_words={d.max_words} words")
        info = {
            "source": source,
            "split": {"train": len(train), "val": len(val), "test": len(test)},
            "training_pairs": len(pairs),
            "image": {"channels": C, "size": S},
            "vocabulary": len(self.tokenizer),
            "skipped": skipped,
        }
        return Splits(train, val, test, info)

    def artefacts(self) -> dict[str, Any]:
        return {"tokenizer.json": self.tokenizer.to_dict()}

    def restore(self, files: dict[str, Any]) -> None:
        tok = files.get("tokenizer.json")
        vocab = tok.get("vocab") if isinstance(tok, dict) else None
        if (
            not isinstance(vocab, list)
            or tok.get("level") != "caption-word"
            or (tuple(vocab[: len(SPECIALS)]) != SPECIALS)
        ):
            raise RnnkitError("tokenizer.json of the run is not a caption vocabulary")
        self.tokenizer = CaptionTokenizer(vocab)

    def training_pairs(self, items: list[CaptionedImage]) -> list[tuple[Tensor, list[int]]]:
        """(image, caption ids) for every training caption of every image, long ones left out."""
        pairs = []
        for it in items:
            for c in it.training_captions():
                ids = self.tokenizer.encode(c)
                if 0 < len(ids) <= self.data.max_words:
                    pairs.append((it.image, ids))
        return pairs

    @staticmethod
    def make_batch(rows: list[tuple[Tensor, list[int]]]) -> Batch:
        images = torch.stack([im for im, _ in rows])  # (B, C, S, S) uint8
        lengths = torch.tensor([len(ids) for _, ids in rows])  # (B,)
        tgt = torch.full((len(rows), int(lengths.max())), PAD)  # (B, T)
        for r, (_, ids) in enumerate(rows):
            tgt[r, : len(ids)] = torch.tensor(ids)
        return images, torch.ones(len(rows), dtype=torch.long), tgt, lengths

    def batch_sources(self, splits: Splits, rank: int, world: int, seed: int):
        pairs = self.training_pairs(splits.train)
        train, _ = batched(pairs, self.data.batch_size, lambda p: len(p[1]), self.make_batch)
        val_pairs = self.training_pairs(splits.val)
        val, _ = batched(val_pairs, DECODE_BATCH, lambda p: len(p[1]), self.make_batch)
        return ListBatches(train, seed=seed, rank=rank, world=world), ListBatches(val, False)

    def build_model(self) -> Captioner:
        return Captioner(self.model)

    # -- training ------------------------------------------------------------------------------

    def loss(self, model: nn.Module, batch: Batch, state: Any) -> StepOutput:
        images, ones, tgt, lengths = batch
        loss = teacher_forced_loss(model, images, ones, tgt, lengths)
        return StepOutput(loss, int(lengths.sum()) + tgt.shape[0])

    # -- decoding and scores -------------------------------------------------------------------

    @property
    def output_tokenizer(self) -> CaptionTokenizer:
        return self.tokenizer

    def decode_batches(self, images: list[Tensor]) -> tuple[list[tuple[Tensor, Tensor]], list[int]]:
        """The images (C, S, S) in order, DECODE_BATCH at a time, each a source of length 1."""
        batches = []
        for i in range(0, len(images), DECODE_BATCH):
            x = torch.stack(images[i : i + DECODE_BATCH])  # (B, C, S, S)
            batches.append((x, torch.ones(x.shape[0], dtype=torch.long)))
        return batches, list(range(len(images)))

    def max_length(self, lengths: Tensor) -> int:
        return self.data.max_words + 1  # no training caption was longer

    def default_beam(self) -> int:
        return self.data.beam or self.chosen_beam or BEAM

    def sources(self, items: list[CaptionedImage]) -> list[Tensor]:
        return [it.image for it in items]

    def references(self, items: list[CaptionedImage]) -> list[CaptionedImage]:
        return items  # every caption of an image, and its concepts

    def figures(
        self, outputs: list[str], items: list[CaptionedImage], selection: bool = False
    ) -> dict[str, float]:
        return caption_scores(outputs, items, effective_order=selection)

    def baselines(self, model: nn.Module, splits: Splits) -> dict[str, Baseline]:
        """{key: (description, test images -> one caption each)}."""
        counts = Counter(c for it in splits.train for c in it.training_captions())
        frequent = max(counts, key=lambda c: (counts[c], c))
        train_f = self.features(model, splits.train)  # (N, D)

        def nearest(items: list[CaptionedImage]) -> list[str]:
            test_f = self.features(model, items)  # (M, D)
            best = (test_f @ train_f.T).argmax(1).tolist()  # cosine: both are unit vectors
            return [splits.train[j].training_captions()[0] for j in best]

        return {
            "frequent": ("most frequent training caption", lambda items: [frequent] * len(items)),
            "nearest": ("nearest training image (CNN features)", nearest),
        }

    @torch.no_grad()
    def features(self, model: nn.Module, items: list[CaptionedImage]) -> Tensor:
        """Unit-length encoder summaries (N, D) of the items' images."""
        model.eval()
        device = next(model.parameters()).device
        out = [model.features(torch.stack([it.image for it in items[i : i + 256]]).to(device))
               for i in range(0, len(items), 256)]  # fmt: skip
        return torch.nn.functional.normalize(torch.cat(out).float().cpu(), dim=1)

    def choose_decoding(self, model: nn.Module, val: list[CaptionedImage]) -> dict[str, Any]:
        """The decoding the run will use: ``--beam`` when given, else beam 5 or greedy,
        whichever captions the validation images with the higher BLEU-4 (recall breaks a
        tie). Beam search finds likelier captions, but a model trained by teacher forcing can
        score better greedily (emoji: validation BLEU 62.7 greedy, 59.8 beam 5), so the run
        asks its validation split rather than assume."""
        if self.data.beam is not None:
            return {"beam": self.data.beam, "chosen_by": "--beam"}
        names = {b: decoding_name(b) for b in (BEAM, 1)}
        passes = {names[b]: self.decoding_pass(model, Decoding(beam=b)) for b in names}
        scored = self.phase.run(val, passes, "choosing the decoding", "images", CHOICE_SHARE)
        items = scored.pick(val)
        figures = {b: self.figures([r["text"] for r in scored.outputs[names[b]]], items, True)
                   for b in names}  # fmt: skip
        best = max(figures, key=lambda b: (figures[b]["bleu"], figures[b].get("recall", 0), b))
        self.chosen_beam = best
        return {"beam": best, "chosen_by": "validation BLEU-4 (effective order)",
                "validation_images": len(items),
                "validation": {names[b]: f for b, f in figures.items()}}  # fmt: skip

    def restore_results(self, results: dict[str, Any]) -> None:
        decoding = results.get("decoding") if isinstance(results, dict) else None
        beam = decoding.get("beam") if isinstance(decoding, dict) else None
        if isinstance(beam, int) and beam >= 1:
            self.chosen_beam = beam

    def test_decodings(
        self, model: nn.Module, splits: Splits
    ) -> list[tuple[str, Decoding, str | None]]:
        chosen = self.default_beam()  # after choose_decoding
        other = 1 if chosen != 1 else BEAM
        return [("test", Decoding(beam=chosen), decoding_name(chosen)),
                ("other_decoding", Decoding(beam=other), decoding_name(other))]  # fmt: skip

    def test(self, model: nn.Module, splits: Splits, run_dir: Path) -> dict[str, Any]:
        decoding = self.choose_decoding(model, splits.val)
        result = super().test(model, splits, run_dir)
        examples = result.pop("examples")
        return {"decoding": decoding, **result, "parameters": model.num_parameters(),
                "examples": examples}  # fmt: skip

    def example(self, item: CaptionedImage, output: str) -> dict[str, Any]:
        return {"image": item.key, "references": item.captions[:3], "output": output}

    def plot_test(self, items: list[CaptionedImage], rows: list[dict], run_dir: Path) -> None:
        hyps = [r["text"] for r in rows[:12]]
        plot_captions([it.image for it in items[:12]], hyps,
                      [it.captions[0] for it in items[:12]], run_dir / "captions.png")  # fmt: skip
        if rows[0]["attention"] is not None:
            plot_attention_grid(items[0].image, rows[0]["tokens"], rows[0]["attention"],
                                run_dir / "attention.png")  # fmt: skip

    @staticmethod
    def format_results(r: dict[str, Any]) -> str:
        test, other = r["test"], r["other_decoding"]
        decodings = [(f"captioner, {test['decoding']} (used)", test),
                     (f"captioner, {other['decoding']}", other)]  # fmt: skip
        notes = [f"decoding: {test['decoding']}, chosen by {r['decoding']['chosen_by']}"]
        return results_table(r, "images", notes, COLUMNS, decodings)

    def format_scores(self, r: dict[str, Any]) -> str:
        recall = f"  recall {r['recall']:.3f}" if "recall" in r else ""
        return f"{r['images']} images  BLEU-4 {r['bleu']:.2f}{recall}  exact {r['exact']:.3f}"

    # -- using a trained model -----------------------------------------------------------------

    def read_examples(self, path: str) -> list[CaptionedImage]:
        items, _ = read_captioned_folder(path, self.model.image_size, self.model.channels,
                                         self.data.image_col, self.data.caption_col)  # fmt: skip
        return items

    def parse_input(self, text: str) -> str:
        """An image path, checked readable (one line naming the file if it is not)."""
        read_image(text, self.model.image_size, self.model.channels)
        return str(text)

    skipped_inputs: int = 0  # files of the last folder or captions file that were not images

    def read_inputs(self, path: str) -> list[str]:
        """A folder's images, a captions file's images, or a list of paths (one a line); in a
        folder or a captions file, files that are not images are skipped and counted."""
        p = Path(path)
        if p.is_dir():
            files = list_images(p)
        elif p.suffix.lower() in (".tsv", ".csv", ".jsonl"):
            files = list(read_captions(p, self.data.image_col, self.data.caption_col)[0])
        else:
            from rnnkit.data.tables import read_lines

            return [self.parse_input(line.strip()) for line in read_lines(p)]
        good = []
        for f in files:
            try:
                good.append(self.parse_input(str(f)))
            except RnnkitError:
                continue
        self.skipped_inputs = len(files) - len(good)
        if not good:
            raise RnnkitError(f"{path}: none of its {len(files)} image files can be read")
        return good

    def source_of(self, path: str) -> Tensor:
        return read_image(path, self.model.image_size, self.model.channels)

    def prediction_row(self, path: str, row: dict[str, Any]) -> dict[str, Any]:
        return {"image": path, "caption": row["text"], "logprob": round(row["logprob"], 4),
                "tokens": row["tokens"], "attention": rounded(row["attention"])}  # fmt: skip

    def format_prediction(self, row: dict[str, Any]) -> str:
        return f"{row['image']}\t{row['caption']}"


def resized(item: CaptionedImage, size: int) -> CaptionedImage:
    """The item with its image scaled to size x size (antialiased)."""
    from dataclasses import replace

    x = item.image[None].float()  # (1, C, S, S)
    y = torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", antialias=True)
    return replace(item, image=y[0].round().clamp(0, 255).to(torch.uint8))
