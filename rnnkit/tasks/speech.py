"""Speech recognition: audio in, characters out, with a bidirectional recurrent CTC model, beside
a per-frame classifier of about the same size trained the same way (the recurrence taken out).
Both second models are companions (``rnnkit.tasks.base``): the driver trains the per-frame
classifier into ``RUN/baseline`` before the test and loads the ``--lm`` run.

Data: ``--data`` a transcript table (path, text: .tsv/.csv/.jsonl) or a folder holding one
(``rnnkit.data.transcripts``), or ``--dataset digits`` / ``tuxpaint-es``. Each clip is read as
16 kHz mono (``rnnkit.data.audio``), turned into per-utterance normalised log-mels once, and
masked afresh by SpecAugment in every training step. Transcripts are normalised (lowercase,
punctuation dropped) and the character set is fitted on the training split; characters that
only appear elsewhere cannot be produced and count as errors.

Splits: fixed by the named datasets (held-out voices, stamps); for a user's table, by speaker
when it has a ``speaker`` column, else by utterance.

Scores (``jiwer``): word and character error rates, overall and per ``condition`` (the SNR of
``digits``) and ``kind`` (digit strings or commands); decoding is prefix beam search
(``--beam``, 1 = greedy), optionally fused with a character language model trained by
``rnnkit train lm`` (``--lm RUN --lm-weight W``).
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from rnnkit.config import Settings, setting
from rnnkit.data import audio
from rnnkit.data.splits import batched, split_indices
from rnnkit.data.text import input_file
from rnnkit.data.transcripts import Clip, list_audio, normalise_text, read_transcript
from rnnkit.errors import RnnkitError
from rnnkit.generate.ctc import (
    Hypothesis,
    RunLM,
    ctc_align,
    ctc_spans,
    frame_runs,
    greedy_decode,
    prefix_beam_search,
)
from rnnkit.models.acoustic import (
    BLANK,
    AcousticConfig,
    AcousticModel,
    ctc_loss,
    fits,
    model_frames,
)
from rnnkit.plots.speech import plot_alignment
from rnnkit.scoring.speech import error_rates
from rnnkit.tasks.base import (
    Companion,
    LoadedCompanion,
    LoadedModel,
    Splits,
    Task,
    TrainedCompanion,
    TrainedModel,
    exactly_one_source,
    register_task,
)
from rnnkit.tasks.phase import partial_figure
from rnnkit.train.steps import ListBatches, StepOutput

CHUNK_SECONDS = 20.0  # `predict` cuts longer files into pieces at pauses (audio.chunk)
MIN_SECONDS = 0.1  # shortest file `transcribe` takes: 10 feature frames, about one short sound
Batch = tuple[Tensor, Tensor, Tensor, Tensor]  # feats (B, T, F), lengths (B,), targets, lengths


@dataclass
class Utterance:
    """A clip ready for the model: features (T, F), the normalised transcript and its ids."""

    feats: Tensor
    text: str
    ids: list[int]
    key: str
    condition: str = ""
    kind: str = ""


@dataclass(kw_only=True)
class SpeechData(Settings):
    data: str | None = setting(
        None, "transcript table (path, text: .tsv/.csv/.jsonl) or a folder with one",
        metavar="FILE",
    )  # fmt: skip
    dataset: str | None = setting(None, "named dataset (see docs/speech.md)", metavar="NAME")
    path_col: str | None = setting(None, "audio path column (default: guessed)", metavar="COL")
    text_col: str | None = setting(None, "transcript column (default: guessed)", metavar="COL")
    n_mels: int = setting(40, "mel bands of the log-mel features", lo=8, hi=128)
    keep_case: bool = setting(False, "keep upper and lower case apart in transcripts")
    max_seconds: float = setting(
        30.0, "training clips longer than this are skipped", lo=0.5, hi=600
    )
    spec_augment: bool = setting(True, "SpecAugment time and frequency masks in training")
    val: float = setting(0.1, "validation fraction (user data)", lo=0, hi=1, lo_open=True)
    test: float = setting(0.1, "test fraction (user data)", lo=0, hi=1, lo_open=True)
    split_seed: int = setting(0, "seed of the split (user data)", lo=0, hi=2**63 - 1)
    batch_size: int = setting(32, "utterances per step", lo=1, hi=65536)
    beam: int = setting(8, "beam of the CTC prefix search (1: greedy)", lo=1, hi=1024)
    lm: str | None = setting(
        None, "character LM run (`rnnkit train lm`) fused into the beam", metavar="RUN"
    )
    lm_weight: float = setting(0.3, "weight of the LM's log-probability", lo=0, hi=10)
    length_bonus: float = setting(0.0, "score added per character (with --lm)", lo=-10, hi=10)
    baseline_steps: int | None = setting(
        None, "steps of the per-frame baseline (0: none; default: as many as the model)",
        lo=0, hi=10**9,
    )  # fmt: skip


@register_task
class SpeechTask(Task):
    name = "speech"
    help = "train a CTC speech recogniser: audio files in, text out"
    description = (
        "Train a bidirectional LSTM/GRU with CTC over characters on audio files and their "
        "transcripts (--data TABLE|FOLDER, or --dataset digits|tuxpaint-es). Prints word and "
        "character error rates (per condition and kind) beside a per-frame classifier of the "
        "same size, and writes alignment.png (a test utterance's spectrogram and where each "
        "character fires). Use the run with `rnnkit transcribe RUN FILE.wav...`."
    )
    Data = SpeechData
    Model = AcousticConfig
    defaults = {"train": {"max_time": 900.0, "lr": 2e-3, "eval_every": 200, "patience": 6,
                          "warmup_steps": 100}}  # fmt: skip
    monitor = ("val_cer", "min")
    unit = "chars"
    input_settings = ("path_col", "text_col", "lm")  # (numbers: `rnnkit transcribe` flags)

    symbols: list[str] | None = None
    lm: RunLM | None = None  # the --lm run, handed over by the driver (use_companions)
    baseline: TrainedModel | None = None  # the per-frame classifier, trained by the driver

    # -- data ----------------------------------------------------------------------------------

    def clips(self) -> tuple[list[Clip], str, int]:
        d = self.data
        named, source = exactly_one_source(d.data, d.dataset, "speech")
        if named is not None:
            return named, source, 0
        clips, skipped = read_transcript(d.data, d.path_col, d.text_col)
        return clips, source, skipped

    def split(self, clips: list[Clip]) -> tuple[list[Clip], list[Clip], list[Clip]]:
        d = self.data
        if all(c.split for c in clips):
            parts = {s: [c for c in clips if c.split == s] for s in ("train", "val", "test")}
            return parts["train"], parts["val"], parts["test"]
        speakers = sorted({c.speaker for c in clips})
        if all(c.speaker for c in clips) and len(speakers) >= 3:
            tr, va, te = split_indices(len(speakers), d.val, d.test, d.split_seed)
            where = {speakers[i]: s for s, idx in (("train", tr), ("val", va), ("test", te))
                     for i in idx}  # fmt: skip
            return tuple([c for c in clips if where[c.speaker] == s]
                         for s in ("train", "val", "test"))  # fmt: skip
        tr, va, te = split_indices(len(clips), d.val, d.test, d.split_seed)
        return [clips[i] for i in tr], [clips[i] for i in va], [clips[i] for i in te]

    def text(self, raw: str) -> str:
        return normalise_text(raw, self.data.keep_case)

    def encode(self, text: str) -> list[int]:
        """Ids of the characters the model knows (others dropped: they cannot be produced)."""
        index = {s: i for i, s in enumerate(self.symbols)}
        return [index[c] for c in text if c in index]

    def utterance(self, clip: Clip) -> Utterance:
        x = audio.read_audio(clip.path)
        if clip.noise is not None:
            kind, snr, seed = clip.noise
            noise = audio.make_noise(kind, len(x), np.random.default_rng(seed))
            x = audio.mix_at_snr(x, noise, snr)
        text = self.text(clip.text)
        feats = audio.features(x, self.data.n_mels)  # (T, F)
        return Utterance(feats, text, self.encode(text), clip.path, clip.condition, clip.kind)

    def prepare(self) -> Splits:
        d = self.data
        clips, source, skipped = self.clips()
        train_clips, val_clips, test_clips = self.split(clips)
        if not train_clips or not val_clips or not test_clips:
            raise RnnkitError(
                f"{source}: {len(clips)} clips do not make a train, val and test split"
            )
        if self.symbols is None:
            chars = sorted({c for clip in train_clips for c in self.text(clip.text)})
            self.symbols = ["<blank>", *chars]
            self.model.vocab_size = len(self.symbols)
        self.model.n_mels = d.n_mels
        t0 = time.perf_counter()
        train, too_long, no_fit = [], 0, 0
        for clip in train_clips:
            if audio.duration(clip.path) > d.max_seconds:
                too_long += 1
                continue
            u = self.utterance(clip)
            if not u.ids or not fits(u.ids, model_frames(len(u.feats), self.model)):
                no_fit += 1
                continue
            train.append(u)
        if not train:
            raise RnnkitError(f"{source}: no training clip is usable (too long or too short)")
        val = [self.utterance(c) for c in val_clips]
        test = [self.utterance(c) for c in test_clips]
        seconds = sum(len(u.feats) for u in train) * audio.HOP / audio.SAMPLE_RATE
        info = {
            "source": source,
            "split": {"train": len(train), "val": len(val), "test": len(test)},
            "train_hours": round(seconds / 3600, 3),
            "symbols": len(self.symbols) - 1,
            "skipped": {"empty_rows": skipped, "too_long": too_long, "too_short": no_fit},
            "features_s": round(time.perf_counter() - t0, 1),
        }
        return Splits(train, val, test, info)

    def artefacts(self) -> dict[str, Any]:
        return {"symbols.json": self.symbols}

    def restore(self, files: dict[str, Any]) -> None:
        symbols = files.get("symbols.json")
        if not isinstance(symbols, list) or not symbols or symbols[0] != "<blank>":
            raise RnnkitError("symbols.json of the run is not a speech character set")
        self.symbols = symbols

    def make_batch(self, rows: list[Utterance]) -> Batch:
        lengths = torch.tensor([len(u.feats) for u in rows])  # (B,)
        feats = torch.zeros(len(rows), int(lengths.max()), self.data.n_mels)  # (B, T, F)
        for r, u in enumerate(rows):
            feats[r, : len(u.feats)] = u.feats
        targets = torch.tensor([i for u in rows for i in u.ids], dtype=torch.long)  # (sum L,)
        target_lengths = torch.tensor([len(u.ids) for u in rows])  # (B,)
        return feats, lengths, targets, target_lengths

    def batches(self, rows: list[Utterance], batch_size: int) -> tuple[list[Batch], list[int]]:
        return batched(rows, batch_size, lambda u: len(u.feats), self.make_batch)

    def batch_sources(self, splits: Splits, rank: int, world: int, seed: int):
        train, _ = self.batches(splits.train, self.data.batch_size)
        val, _ = self.batches(splits.val, 64)
        return ListBatches(train, seed=seed, rank=rank, world=world), ListBatches(val, False)

    def build_model(self) -> AcousticModel:
        return AcousticModel(self.model)

    # -- training ------------------------------------------------------------------------------

    def loss(self, model: nn.Module, batch: Batch, state: Any) -> StepOutput:
        """CTC loss per character; SpecAugment masks drawn from torch's CPU generator (whose
        state every checkpoint keeps) while training."""
        feats, lengths, targets, target_lengths = batch
        if model.training and self.data.spec_augment:
            F = feats.shape[-1]
            feats = audio.spec_augment(feats, lengths, freq_width=max(1, F // 5))
        log_probs, out_lengths = model(feats, lengths)  # (B, T', V)
        loss = ctc_loss(log_probs, out_lengths, targets, target_lengths)
        return StepOutput(loss, int(target_lengths.sum()))

    # -- companions ----------------------------------------------------------------------------

    def companions(self, purpose: str) -> list[Companion]:
        """The LM run when a beam search fuses it; for the test, the per-frame classifier,
        trained like the model for ``baseline_steps`` (default: the model's steps)."""
        out: list[Companion] = []
        if self.data.lm is not None and self.data.beam > 1:  # greedy decoding needs no LM
            out.append(LoadedCompanion("lm", self.data.lm, task="lm"))
        if purpose == "test" and self.data.baseline_steps != 0:
            per_frame = replace(self.model, recurrent=False)
            out.append(TrainedCompanion("baseline", lambda: AcousticModel(per_frame),
                                        steps=self.data.baseline_steps))  # fmt: skip
        return out

    def use_companions(self, given: dict[str, TrainedModel | LoadedModel]) -> None:
        lm = given.get("lm")
        self.lm = None if lm is None else RunLM(lm.model, lm.task.tokenizer, self.symbols)
        self.baseline = given.get("baseline")

    # -- decoding and scores -------------------------------------------------------------------

    @torch.no_grad()
    def decode(
        self, model: nn.Module, rows: list[Utterance], beam: int | None = None
    ) -> list[tuple[Hypothesis, Tensor]]:
        """Per utterance, in the order given: the best hypothesis and the log-probabilities
        (T', V) it was decoded from."""
        model.eval()
        beam = self.data.beam if beam is None else beam
        lm = self.lm if beam > 1 else None
        device = next(model.parameters()).device
        batches, order = self.batches(rows, 64)
        out: list[Any] = [None] * len(rows)
        positions = iter(order)
        for feats, lengths, _, _ in batches:
            log_probs, out_lengths = model(feats.to(device), lengths.to(device))
            for lp, n in zip(log_probs.cpu(), out_lengths.tolist(), strict=True):
                lp = lp[:n]
                if beam == 1:
                    hyp = greedy_decode(lp)
                else:
                    hyp = prefix_beam_search(lp, beam=beam, lm=lm, lm_weight=self.data.lm_weight,
                                             length_bonus=self.data.length_bonus)  # fmt: skip
                out[next(positions)] = (hyp, lp)
        return out

    def words(self, hyp: Hypothesis) -> str:
        return " ".join("".join(self.symbols[i] for i in hyp.ids).split())

    def scores(self, rows: list[Utterance], hyps: list[str]) -> dict[str, Any]:
        """WER and CER overall, and per condition and kind when the rows have them."""
        result = {"utterances": len(rows), **error_rates([u.text for u in rows], hyps)}
        for field in ("condition", "kind"):
            groups: dict[str, list[int]] = defaultdict(list)
            for i, u in enumerate(rows):
                groups[getattr(u, field)].append(i)
            if len(groups) > 1 or "" not in groups:
                result[f"by_{field}"] = {
                    g: error_rates([rows[i].text for i in idx], [hyps[i] for i in idx])
                    for g, idx in sorted(groups.items(), key=lambda kv: condition_order(kv[0]))
                }
        if "by_condition" in result and "by_kind" in result:  # e.g. digit strings per SNR
            both: dict[tuple[str, str], list[int]] = defaultdict(list)
            for i, u in enumerate(rows):
                both[u.kind, u.condition].append(i)
            ordered = sorted(both.items(), key=lambda kv: (kv[0][0], condition_order(kv[0][1])))
            result["by_kind_condition"] = {
                f"{k}, {c}": error_rates([rows[i].text for i in idx], [hyps[i] for i in idx])
                for (k, c), idx in ordered
            }
        return result

    def metrics(
        self, model: nn.Module, val: ListBatches, examples: list[Utterance]
    ) -> dict[str, float]:
        """Greedy decoding of the validation split (quicker than the beam; picks the best)."""
        scored = self.phase.validate(
            examples, lambda xs: self.decode(model, xs, beam=1), "utterances"
        )
        hyps = [self.words(h) for h, _ in scored.outputs["validation"]]
        figures = error_rates([u.text for u in scored.pick(examples)], hyps)
        return {**figures, **partial_figure(scored)}

    def score(self, model: nn.Module, examples: list[Utterance]) -> dict[str, Any]:
        hyps = [self.words(h) for h, _ in self.decode(model, examples)]
        return self.scores(examples, hyps)

    def test(self, model: nn.Module, splits: Splits, run_dir: Path) -> dict[str, Any]:
        decoded = self.decode(model, splits.test)
        hyps = [self.words(h) for h, _ in decoded]
        greedy = [self.words(h) for h, _ in self.decode(model, splits.test, beam=1)]
        first = splits.test[0]
        hyp, log_probs = decoded[0]
        plot_alignment(first.feats, log_probs, hyp.ids, ctc_align(log_probs, hyp.ids), self.symbols,
                       first.text, hyps[0], run_dir / "alignment.png", model.R, BLANK)  # fmt: skip
        results: dict[str, Any] = {
            "test": self.scores(splits.test, hyps),
            "greedy": error_rates([u.text for u in splits.test], greedy),
            "parameters": model.num_parameters(),
            "examples": [
                {"text": u.text, "output": h}
                for u, h in zip(splits.test[:5], hyps[:5], strict=False)
            ],  # fmt: skip
        }
        if self.baseline is not None:
            base = self.baseline
            base_hyps = [self.words(h) for h, _ in self.decode(base.model, splits.test)]
            results["baseline"] = {
                "name": "per-frame classifier (no recurrence), same features, CTC",
                "parameters": base.model.num_parameters(), "steps": base.steps,
                "train_s": round(base.seconds, 1), **self.scores(splits.test, base_hyps),
            }  # fmt: skip
        return results

    @staticmethod
    def format_results(r: dict[str, Any]) -> str:
        s = r["split"]
        lines = [f"test split: {s['test']} utterances (train {s['train']}, val {s['val']}; "
                 f"{r.get('train_hours', 0):.2f} h of training audio)",
                 f"{'':44s} {'WER':>7s} {'CER':>7s}"]  # fmt: skip
        rows = [("BiRNN + CTC, beam", r["test"]), ("BiRNN + CTC, greedy", r["greedy"])]
        if "baseline" in r:
            rows.append(("baseline: per-frame classifier, beam", r["baseline"]))
        for name, t in rows:
            lines.append(f"{name:44s} {t['wer']:7.2%} {t['cer']:7.2%}")
        for key in ("by_condition", "by_kind", "by_kind_condition"):
            if key in r["test"]:
                for g, t in r["test"][key].items():
                    b = r.get("baseline", {}).get(key, {}).get(g)
                    extra = f"   baseline {b['wer']:7.2%} {b['cer']:7.2%}" if b else ""
                    lines.append(f"  {g:42s} {t['wer']:7.2%} {t['cer']:7.2%}{extra}")
        return "\n".join(lines)

    def format_scores(self, r: dict[str, Any]) -> str:
        return f"{r['utterances']} utterances  WER {r['wer']:.2%}  CER {r['cer']:.2%}"

    # -- using a trained model -----------------------------------------------------------------

    def read_examples(self, path: str) -> list[Utterance]:
        clips, _ = read_transcript(path, self.data.path_col, self.data.text_col)
        return [self.utterance(c) for c in clips]

    def parse_input(self, text: str) -> str:
        return str(input_file(text, "audio file"))

    def read_inputs(self, path: str) -> list[str]:
        """A folder's audio files, a transcript table's paths, or a list of paths (one a line)."""
        p = Path(path)
        if p.is_dir():
            return [str(f) for f in list_audio(p)]
        if p.suffix.lower() in (".tsv", ".csv", ".jsonl"):
            return [c.path for c in read_transcript(p, self.data.path_col, self.data.text_col)[0]]
        if p.suffix.lower() in audio.AUDIO_SUFFIXES:
            return [self.parse_input(path)]
        from rnnkit.data.tables import read_lines

        return [self.parse_input(line.strip()) for line in read_lines(p)]

    def transcribe(self, model: nn.Module, path: str) -> dict[str, Any]:
        """One file: read (any length up to an hour), cut at pauses into pieces of at most
        ``CHUNK_SECONDS``, decoded piece by piece and joined. The row also says where the text
        came from: ``alignment``, per character of the text ``[char, start, end]`` in seconds,
        the frames it holds on the text's most probable CTC alignment (``ctc_spans``); and
        ``frame_best``, the most probable symbol of each model frame as runs ``[symbol, start,
        end]``, blanks left out (``frame_runs``: what greedy decoding reads)."""
        x = audio.read_audio(path)
        if len(x) < MIN_SECONDS * audio.SAMPLE_RATE:  # it would be an empty transcript, exit 0
            raise RnnkitError(
                f"{path}: {1000 * len(x) / audio.SAMPLE_RATE:.1f} ms of audio; a file shorter "
                f"than {MIN_SECONDS:g} s holds no word to transcribe"
            )
        pieces = audio.chunk(x, CHUNK_SECONDS)
        rows = [Utterance(audio.features(p, self.data.n_mels), "", [], path) for p in pieces]
        decoded = self.decode(model, rows)
        text = " ".join(t for t in (self.words(h) for h, _ in decoded) if t)
        frame_s = model.R * audio.HOP / audio.SAMPLE_RATE  # one model frame, in seconds
        cuts = np.cumsum([0, *map(len, pieces)])[:-1] / audio.SAMPLE_RATE  # each piece's start
        timed, best = [], []
        for (hyp, lp), cut in zip(decoded, cuts, strict=True):
            spans = ctc_spans(lp, hyp.ids)  # a decoded text always fits its frames
            timed.append([(self.symbols[k], cut + a * frame_s, cut + (b + 1) * frame_s)
                          for k, (a, b) in zip(hyp.ids, spans, strict=True)])  # fmt: skip
            best += [[self.symbols[k], ms(cut + a * frame_s), ms(cut + (b + 1) * frame_s)]
                     for k, a, b in frame_runs(lp)]  # fmt: skip
        alignment = [[c, ms(a), ms(b)] for c, a, b in as_words(timed, cuts.tolist())]
        return {"path": path, "text": text, "seconds": round(len(x) / audio.SAMPLE_RATE, 2),
                "pieces": len(pieces), "alignment": alignment, "frame_best": best}  # fmt: skip

    def predict(self, model: nn.Module, inputs: list[Any]) -> list[dict[str, Any]]:
        return [self.transcribe(model, str(p)) for p in inputs]

    def format_prediction(self, row: dict[str, Any]) -> str:
        return f"{row['path']}\t{row['text']}"


def ms(seconds: float) -> float:
    return round(float(seconds), 3)


def as_words(
    pieces: list[list[tuple[str, float, float]]], cuts: list[float]
) -> list[tuple[str, float, float]]:
    """Each piece's characters with their (start, end) seconds, as the transcript writes them
    (``SpeechTask.words``: a run of spaces as one space, none at the ends; the pieces joined
    by one space, put at the cut between them): one entry per character of the row's text."""
    out: list[tuple[str, float, float]] = []
    for piece, cut in zip(pieces, cuts, strict=True):
        seq: list[tuple[str, float, float]] = []
        gap: tuple[float, float] | None = None  # the first space since the last character
        for c, a, b in piece:
            if c.isspace():
                gap = gap or (a, b)
                continue
            if gap is not None and seq:
                seq.append((" ", *gap))
            gap = None
            seq.append((c, a, b))
        if out and seq:
            out.append((" ", cut, cut))
        out += seq
    return out


def condition_order(name: str) -> tuple[int, float, str]:
    """Clean first, then SNRs from high to low, then anything else by name."""
    if name == "clean":
        return (0, 0.0, name)
    if name.endswith(" dB"):
        try:
            return (1, -float(name[:-3]), name)
        except ValueError:
            pass
    return (2, 0.0, name)
