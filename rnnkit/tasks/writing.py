"""What every task that writes text shares: an attentional decoder (a step model of
``rnnkit.generate.search``) writes tokens of one output vocabulary, decoded as a ``Decoding``
says (``rnnkit.generate.decoding``: beam search, greedily or by sampling, optionally with an
n-gram repetition block and several samples reranked by mutual information), and the output is
scored against references beside the task's baselines.

A subclass says what differs: how its sources (texts, images) go to the decoder in batches
(``decode_batches``), how long an output may grow (``max_length``), the tokens a source has
(``source_tokens``: none for an image), the beam it decodes with by default (``default_beam``)
or the whole decoding (``default_decoding``), what an output is scored against and how
(``sources``, ``references``, ``figures``), its baselines, the decodings its test reports
(``test_decodings``), its pictures of the test (``plot_test``), its rows of examples and
predictions, and, for reranking by mutual information, a language model of its outputs
(``output_logprobs``). ``TextToTextTask`` (texts in) and ``CaptionTask`` (images in) are the
two.

Unknown words: when the model emits ``<unk>`` and the source has tokens, the output takes the
source token it attended to most at that step (Luong et al. 2015's unk replacement).

The test decodes the test split in each of the task's decodings (the one the run uses first)
and runs the baselines (``{key: (description, examples -> outputs)}``) beside them, through the
test phase (``rnnkit.tasks.phase``: the same chunks for every pass, a progress bar each, and a
time budget and item limit that stop all of them at the same item), keeps the first examples,
draws the task's pictures and the curve of the monitored validation figure beside the
baselines' lines. Validation decodes greedily (quicker than the beam; it only picks the best
checkpoint) and scores BLEU with sacrebleu's effective order (``rnnkit.scoring.bleu``), so
that outputs shorter than four tokens still rank checkpoints.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import Tensor, nn
from tqdm import tqdm

from rnnkit.errors import RnnkitError
from rnnkit.generate.constraints import AllOf, NoRepeatNgram, NotEmpty
from rnnkit.generate.decoding import Decoding
from rnnkit.generate.rerank import Candidate, mmi_best
from rnnkit.generate.search import Hypothesis, beam_search, greedy, sample
from rnnkit.models.seq2seq import BOS, EOS, UNK
from rnnkit.plots.curves import plot_curve
from rnnkit.tasks.base import DECODING, Splits, Task
from rnnkit.tasks.phase import TestPhase, partial_figure, scored_note

BEAM = 5  # the beam width of decoding unless a task or a run chooses another
DECODE_BATCH = 64
Baseline = tuple[str, Callable[[list[Any]], list[str]]]  # (description, examples -> outputs)


def bars(batches: list[tuple[Tensor, Tensor]], bar: tqdm) -> Iterator[tuple[Tensor, Tensor]]:
    """The batches, ``bar`` moved on by each one's rows after it is decoded, closed at the end."""
    with bar:
        for batch in batches:
            yield batch
            bar.update(batch[0].shape[0])


def rounded(attention: Tensor | None) -> list[list[float]] | None:
    """Attention weights (T_out, S) as JSON-ready rows, to 4 decimals."""
    return None if attention is None else [[round(x, 4) for x in row] for row in attention.tolist()]


def results_table(
    r: dict[str, Any], count: str, notes: list[str], columns: list[tuple[str, str, str]],
    decodings: list[tuple[str, dict[str, Any]]],
) -> str:  # fmt: skip
    """The console table of a writing task's results: the split, ``notes``, then one row per
    decoding and per baseline with ``columns`` ((key, heading, format) each; "-" where a row
    lacks the figure)."""
    s = r["split"]
    named = decodings + [(f"baseline: {b['name']}", b) for b in r.get("baselines", {}).values()]
    width = max(44, *(len(name) for name, _ in named))  # a row's name is never cut
    header = f"{'':{width}s}" + "".join(f" {heading:>8s}" for _, heading, _ in columns)
    lines = [f"test split: {s['test']} {count} (train {s['train']}, val {s['val']})",
             *scored_note(r.get("test_scored"), count), *notes, header]  # fmt: skip
    for name, t in named:
        cells = (f" {t[k]:{fmt}}" if k in t else f" {'-':>8s}" for k, _, fmt in columns)
        lines.append(f"{name:{width}s}" + "".join(cells))
    return "\n".join(lines)


class WritingTask(Task):
    """Base of the tasks that write text; see the module docstring."""

    unit = "tokens"
    decoding = DECODING
    # runs saved before the setting existed fed the attentional vector back in
    absent: ClassVar[dict[str, dict[str, Any]]] = {"model": {"input_feed": True}}
    count: ClassVar[str]  # what the test split's size counts in results.json: "pairs", "images"
    shown: ClassVar[int] = 5  # test examples kept in results.json

    # -- what a subclass says ------------------------------------------------------------------

    @property
    def output_tokenizer(self) -> Any:
        """The tokenizer of the outputs (``token(id)``, ``detokenize(tokens)``)."""
        raise NotImplementedError

    def decode_batches(self, sources: list[Any]) -> tuple[list[tuple[Tensor, Tensor]], list[int]]:
        """The decoder's (source batch, lengths (B,)) batches and which source each row is."""
        raise NotImplementedError

    def max_length(self, lengths: Tensor) -> int:
        """The most tokens an output of a batch with these source lengths may have."""
        raise NotImplementedError

    def source_tokens(self, source: Any) -> list[str] | None:
        """The tokens the decoder attends over (for unknown-word replacement); None: none."""
        return None

    def default_beam(self) -> int:
        return BEAM

    def default_decoding(self) -> Decoding:
        """The decoding the run uses unless told otherwise (``predict``, ``score``, the test's
        first): beam ``default_beam()``."""
        return Decoding(beam=self.default_beam())

    def sources(self, examples: list[Any]) -> list[Any]:
        """What the decoder reads of each example."""
        raise NotImplementedError

    def references(self, examples: list[Any]) -> Any:
        """What ``figures`` scores the outputs of ``examples`` against."""
        raise NotImplementedError

    def figures(
        self, outputs: list[str], references: Any, selection: bool = False
    ) -> dict[str, float]:
        """The task's scores of outputs against references; ``selection``: as they pick a
        checkpoint or a decoding (BLEU over the orders the outputs have, ``rnnkit.scoring.bleu``:
        never stuck at 0 for outputs under four tokens)."""
        raise NotImplementedError

    def baselines(self, model: nn.Module, splits: Splits) -> dict[str, Baseline]:
        """{key: (description, test examples -> one output each)}: the task's baselines, fitted
        (on the training split) before they are returned; the test phase runs them chunk by
        chunk beside the decodings."""
        return {}

    def test_decodings(
        self, model: nn.Module, splits: Splits
    ) -> list[tuple[str, Decoding, str | None]]:
        """(results key, decoding, its name in results.json or None) of each decoding the test
        reports; the first, under "test", is the one the run uses."""
        return [("test", self.default_decoding(), None), ("greedy", Decoding(beam=1), None)]

    def output_logprobs(self, texts: list[str]) -> list[float]:
        """log p_LM(T) of each output text under the task's language model of its outputs, which
        reranking by mutual information needs (``Decoding.mmi`` above 0)."""
        raise RnnkitError(f"a {self.name} run has no language model of its outputs for MMI")

    def example(self, example: Any, output: str) -> dict[str, Any]:
        """A test example with its output, as results.json shows it."""
        raise NotImplementedError

    def plot_test(self, examples: list[Any], rows: list[dict], run_dir: Path) -> None:
        """The task's pictures of the test split's decoded ``rows``."""

    def source_of(self, parsed: Any) -> Any:
        """What the decoder reads of a parsed input (``parse_input``'s result)."""
        return parsed

    def prediction_row(self, parsed: Any, row: dict[str, Any]) -> dict[str, Any]:
        """One JSON-ready row of ``predict`` from a parsed input and its decoded ``row``."""
        raise NotImplementedError

    # -- decoding ------------------------------------------------------------------------------

    @torch.no_grad()
    def decode(
        self,
        model: nn.Module,
        sources: list[Any],
        beam: int | None = None,
        temperature: float = 0.0,
        top_p: float = 1.0,
        generator: torch.Generator | None = None,
        no_repeat: int = 0,
        progress: str | None = None,
    ) -> list[dict]:
        """Per source: the output text, its log-probability, the output tokens, the attention
        (T_out, S) (None without attention) and the source's tokens when it has any, in the
        order given. ``beam=1`` is greedy (default ``default_beam()``); a ``temperature`` above
        0 samples instead (nucleus ``top_p``, from ``generator``); ``no_repeat`` n > 0: no
        n-gram of output tokens twice (``NoRepeatNgram``); ``progress``: a passing progress bar
        headed so."""
        model.eval()
        beam = self.default_beam() if beam is None else beam
        device = next(model.parameters()).device
        batches, order = self.decode_batches(sources)
        out: list[dict] = [{} for _ in sources]
        positions = iter(order)
        V = len(self.output_tokenizer)
        bar = tqdm(total=len(sources), desc=progress, unit="items", leave=False,
                   disable=progress is None, dynamic_ncols=True, mininterval=0.5)  # fmt: skip
        for src, lengths in bars(batches, bar):
            src = src.to(device)
            max_len = self.max_length(lengths)
            block = NotEmpty(src.shape[0], V, EOS, device)  # (N, V) rows, no empty output
            if no_repeat:
                block = AllOf(block, NoRepeatNgram(no_repeat, src.shape[0], V, EOS, device))
            if temperature > 0:
                hyps = sample(model, src, lengths, BOS, EOS, max_len, temperature=temperature,
                              top_p=top_p, constraint=block, generator=generator)  # fmt: skip
            elif beam == 1:
                hyps = greedy(model, src, lengths, BOS, EOS, max_len, constraint=block)
            else:
                hyps = beam_search(model, src, lengths, BOS, EOS, max_len, beam=beam,
                                   constraint=block)  # fmt: skip
            for h in hyps:
                i = next(positions)
                out[i] = self.written(h, self.source_tokens(sources[i]))
        return out

    def decode_with(
        self,
        model: nn.Module,
        sources: list[Any],
        decoding: Decoding,
        generator: torch.Generator | None = None,
    ) -> list[dict]:
        """Per source, a row as ``decode`` gives it, decoded as ``decoding`` says: with several
        samples, the one of best MMI score (``rnnkit.generate.rerank``). Draws come from
        ``generator``, else from one seeded with the decoding's seed (else unseeded)."""
        pool = self.candidates(model, sources, decoding, generator)
        if decoding.samples == 1:
            return [group[0] for group in pool]
        scored = self.scored(pool, decoding.mmi > 0)
        best = mmi_best(scored, decoding.mmi, decoding.length_bonus)
        return [group[i] for group, i in zip(pool, best, strict=True)]

    def candidates(
        self,
        model: nn.Module,
        sources: list[Any],
        decoding: Decoding,
        generator: torch.Generator | None = None,
    ) -> list[list[dict]]:
        """``decoding.samples`` rows per source (one unless sampling), drawn as ``decode_with``
        draws them: what its reranking chooses from, whatever ``mmi`` and ``length_bonus``."""
        if generator is None and decoding.sampling and decoding.seed is not None:
            device = next(model.parameters()).device
            generator = torch.Generator(device).manual_seed(decoding.seed)
        n = decoding.samples
        rows = self.decode(model, [s for s in sources for _ in range(n)], decoding.beam,
                           decoding.temperature, decoding.top_p, generator,
                           decoding.no_repeat)  # fmt: skip
        return [rows[i * n : (i + 1) * n] for i in range(len(sources))]

    def scored(self, pool: list[list[dict]], with_lm: bool) -> list[list[Candidate]]:
        """The candidates of ``pool`` as MMI scores them: the model's log-probability, the
        output LM's (0 unless ``with_lm``) and the length in words."""
        texts = [r["text"] for group in pool for r in group]
        lm = iter(self.output_logprobs(texts) if with_lm else [0.0] * len(texts))
        return [[Candidate(r["logprob"], next(lm), len(r["text"].split())) for r in group]
                for group in pool]  # fmt: skip

    def decoding_for(
        self,
        beam: int | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        seed: int | None = None,
    ) -> Decoding:
        """The decoding ``predict``'s options ask for: given none of ``beam``, ``temperature``
        and ``top_p``, the run's own (``default_decoding``, drawing from ``seed`` when given);
        else exactly those (beam ``default_beam()``, temperature 0, top_p 1 where not given)."""
        if beam is None and temperature is None and top_p is None:
            own = self.default_decoding()
            return own if seed is None else replace(own, seed=seed)
        beam = self.default_beam() if beam is None else beam
        return Decoding(beam=beam, temperature=temperature or 0.0,
                        top_p=1.0 if top_p is None else top_p, seed=seed)  # fmt: skip

    def written(self, h: Hypothesis, source_tokens: list[str] | None) -> dict[str, Any]:
        """A hypothesis as text, an ``<unk>`` replaced by the source token it looked at most."""
        tok = self.output_tokenizer
        tokens = [tok.token(t) for t in h.tokens]
        if source_tokens is not None and h.attention is not None:
            looked = h.attention[:, : len(source_tokens)].argmax(-1).tolist()
            tokens = [source_tokens[looked[j]] if t == UNK else tokens[j]
                      for j, t in enumerate(h.tokens)]  # fmt: skip
        row = {"text": tok.detokenize(tokens), "logprob": h.logprob, "tokens": tokens,
               "attention": h.attention}  # fmt: skip
        if source_tokens is not None:
            row["source_tokens"] = source_tokens
        return row

    # -- scores --------------------------------------------------------------------------------

    def metrics(self, model: nn.Module, val: Any, examples: list[Any]) -> dict[str, float]:
        """Greedy decoding of the validation split (quicker than the beam; picks the best), with
        a passing bar when the run shows one (a first validation of an untrained model decodes
        every output to its longest: minutes on a large split); the same sample each time, cut
        short by a time budget only (``TestPhase.validate``)."""
        progress = "validation: greedy" if self.phase.progress else None
        scored = self.phase.validate(
            examples, lambda xs: self.decode(model, self.sources(xs), beam=1, progress=progress)
        )
        texts = [r["text"] for r in scored.outputs["validation"]]
        figures = self.figures(texts, self.references(scored.pick(examples)), selection=True)
        return {**figures, **partial_figure(scored)}

    def generator(self, model: nn.Module, decoding: Decoding) -> torch.Generator | None:
        """The generator a sampling decoding with a seed draws from (None otherwise)."""
        if not (decoding.sampling and decoding.seed is not None):
            return None
        device = next(model.parameters()).device
        return torch.Generator(device).manual_seed(decoding.seed)

    def decoding_pass(self, model: nn.Module, decoding: Decoding) -> Callable[[list], list[dict]]:
        """A pass of the test phase: examples -> their rows decoded as ``decoding`` says, the
        draws of every chunk from one generator (seeded with the decoding's seed)."""
        generator = self.generator(model, decoding)
        return lambda examples: self.decode_with(model, self.sources(examples), decoding,
                                                 generator)  # fmt: skip

    def add_figures(self, model: nn.Module, examples: list[Any], result: dict[str, Any]) -> None:
        """Figures the test adds to ``result`` beyond its decodings' (the test examples it
        scored, in the split's order): none by default."""

    def score(self, model: nn.Module, examples: list[Any]) -> dict[str, Any]:
        # through the test phase's chunks, unbounded: the test's own decodings, to the bit
        passes = {"score": self.decoding_pass(model, self.default_decoding())}
        rows = TestPhase().run(examples, passes, "score").outputs["score"]
        return {self.count: len(examples),
                **self.figures([r["text"] for r in rows], self.references(examples))}  # fmt: skip

    def test(self, model: nn.Module, splits: Splits, run_dir: Path) -> dict[str, Any]:
        decodings = self.test_decodings(model, splits)
        baselines = self.baselines(model, splits)
        # one bar per pass, named as the user reads it; keys of `passes` are those labels
        labels = [d.name() if name is None else name for _, d, name in decodings]
        passes = {label: self.decoding_pass(model, d)
                  for label, (_, d, _) in zip(labels, decodings, strict=True)}  # fmt: skip
        passes.update({f"baseline, {description}": fn for description, fn in baselines.values()})
        scored = self.phase.run(splits.test, passes, "test", unit=self.count)
        examples = scored.pick(splits.test)
        refs = self.references(examples)
        result: dict[str, Any] = {}
        for k, ((key, _, name), label) in enumerate(zip(decodings, labels, strict=True)):
            rows = scored.outputs[label]
            head: dict[str, Any] = {self.count: len(examples)} if k == 0 else {}
            if name is not None:
                head["decoding"] = name
            result[key] = {**head, **self.figures([r["text"] for r in rows], refs)}
        used = scored.outputs[labels[0]]  # the decoding the run uses
        result["test_scored"] = scored.info()
        result["baselines"] = {}
        for key, (description, _) in baselines.items():
            outputs = scored.outputs[f"baseline, {description}"]
            result["baselines"][key] = {"name": description, **self.figures(outputs, refs)}
        self.add_figures(model, examples, result)
        n = self.shown
        result["examples"] = [self.example(e, r["text"])
                              for e, r in zip(examples[:n], used[:n], strict=True)]  # fmt: skip
        self.plot_test(examples, used, run_dir)
        figure = self.monitor[0].removeprefix("val_")
        lines = {v["name"]: v[figure] for v in result["baselines"].values() if figure in v}
        plot_curve(run_dir, figure, lines, run_dir / f"{figure}_curve.png")
        return result

    # -- using a trained model -----------------------------------------------------------------

    def predict(
        self,
        model: nn.Module,
        inputs: list[Any],
        beam: int | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        seed: int | None = None,
    ) -> list[dict[str, Any]]:
        """One row per input, decoded as ``decoding_for`` says: the run's own decoding, or with
        ``beam``, or sampled at ``temperature`` above 0 from the nucleus ``top_p`` (repeatably
        with ``seed``)."""
        parsed = [self.parse_input(x) for x in inputs]
        decoding = self.decoding_for(beam, temperature, top_p, seed)
        rows = self.decode_with(model, [self.source_of(x) for x in parsed], decoding)
        return [self.prediction_row(x, r) for x, r in zip(parsed, rows, strict=True)]
