"""A dialogue model: one speaker's line in, the next speaker's reply out (sequence to
sequence), beside a retrieval baseline that answers with the reply to the most similar
training line (TF-IDF cosine) and a word trigram Kneser-Ney model of the replies.

Data: the user's (line, reply) pairs (``--data``: a table, or two aligned text files with
``--tgt-file``) or the named ``shakespeare-plays`` (the default: adjacent speeches of two
speakers in 38 plays, split by scene; ``shakespeare-dialogue`` reads the bundled eight).
Validation loss picks the best checkpoint.

Figures on the test split: perplexity of the reference replies per word (exp of their total
negative log-likelihood, end tokens included, over their words plus one end each), for the model
and for the Kneser-Ney baseline (``rnnkit.baselines.word_lm``, fitted on the training replies
and saved in the run as ``reply_lm.json``), so a model of BPE tokens and one of words stand on
one scale; the model's perplexity per BPE token too; BLEU; distinct-1/2 (the share of distinct
words and word pairs among all the replies' words and pairs: generic replies such as "I know
not" score low); and ``top_reply_share``, the share of the most frequent reply.

Decoding. Beam search alone answers every line alike (a generic reply is the likeliest one
for any line). After training the run picks its decoding on the validation split from
``decoding_grid()``: beam 5 with no 3-gram of tokens twice (``NoRepeatNgram``); one nucleus
sample (top_p 0.9, same block); and the best of 8 nucleus samples by mutual information (Li et
al. 2016, MMI-antiLM: log p(T|S) - lambda log p_LM(T) + gamma |T|, p_LM the Kneser-Ney model
of the replies, lambda in 0..0.75, gamma in 0..1 per word). ``choose`` keeps the one with the
highest validation BLEU among those that meet the dialogue bars (distinct-1 and distinct-2 at
least the retrieval baseline's on the same validation pairs, no reply more than 5% of the
replies); if none does, the one that falls least short of them (the shortfalls of the three
summed, all shares). BLEU is a weak judge of replies, so it only ranks decodings that already
answer with variety. The choice is recorded in results.json ("decoding") and used afterwards
by ``rnnkit predict``, ``evaluate`` and ``chat``; draws come from a generator seeded with the
decoding's seed, so the same run answers the same way.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import Any

from torch import nn

from rnnkit.baselines.word_lm import WordKneserNey
from rnnkit.errors import RnnkitError
from rnnkit.generate.decoding import Decoding
from rnnkit.generate.rerank import mmi_best
from rnnkit.scoring.bleu import bleu_chrf
from rnnkit.scoring.distinct import distinct, top_reply_share
from rnnkit.scoring.perplexity import perplexity_per_word
from rnnkit.tasks.base import Splits, register_task
from rnnkit.tasks.phase import CHOICE_SHARE
from rnnkit.tasks.text.base import Pair, TextToTextTask
from rnnkit.tasks.writing import BEAM, Baseline, results_table
from rnnkit.train.steps import ListBatches

REPLY_LM = "reply_lm.json"
MAX_SHARE = 0.05  # the most any one reply may be of all the replies
BEAM_BLOCKED = Decoding(beam=BEAM, no_repeat=3)
NUCLEUS = Decoding(temperature=1.0, top_p=0.9, no_repeat=3, seed=0)
SAMPLES = 6  # candidates per line for MMI reranking
CHOOSE_PAIRS = 600  # validation pairs the choice decodes at most (every k-th: all scenes)
MMI_LAMBDAS = (0.0, 0.25, 0.5, 0.75)
LENGTH_BONUSES = (0.0, 0.5, 1.0)
CHOSEN_BY = (
    f"the best BLEU of those with distinct-1/2 at least the retrieval baseline's and no reply "
    f"over {MAX_SHARE:.0%} of the replies (else the least short of that)"
)
COLUMNS = [("perplexity_word", "ppl/word", "8.1f"), ("perplexity_token", "ppl/tok", "8.1f"),
           ("bleu", "BLEU", "8.2f"), ("distinct1", "dist-1", "8.3f"),
           ("distinct2", "dist-2", "8.3f"), ("top_reply_share", "top-rep", "8.3f")]  # fmt: skip


class NearestReplies:
    """For each line, the reply to the training line most similar to it (TF-IDF cosine),
    fitted once on the training pairs."""

    def __init__(self, train: list[Pair]):
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.train = train
        self.vectorizer = TfidfVectorizer(lowercase=True, sublinear_tf=True)
        self.known = self.vectorizer.fit_transform([s for s, _ in train])  # (N_train, V)

    def __call__(self, lines: list[str]) -> list[str]:
        best = (self.vectorizer.transform(lines) @ self.known.T).argmax(axis=1).A1  # (N,)
        return [self.train[i][1] for i in best]


def nearest_replies(train: list[Pair], lines: list[str]) -> list[str]:
    """For each line, the reply to the training line most similar to it (TF-IDF cosine)."""
    return NearestReplies(train)(lines)


def decoding_grid() -> list[Decoding]:
    """The decodings the run chooses from on the validation split (module docstring)."""
    reranked = [replace(NUCLEUS, samples=SAMPLES, mmi=lam, length_bonus=gamma)
                for lam in MMI_LAMBDAS for gamma in LENGTH_BONUSES]  # fmt: skip
    return [BEAM_BLOCKED, NUCLEUS, *reranked]


def shortfall(figures: dict[str, float], retrieval: dict[str, float]) -> float:
    """How far ``figures`` fall short of the bars, 0 when they meet them all: distinct-1 and
    distinct-2 below the retrieval baseline's, the top reply's share above ``MAX_SHARE``."""
    return (max(retrieval["distinct1"] - figures["distinct1"], 0.0)
            + max(retrieval["distinct2"] - figures["distinct2"], 0.0)
            + max(figures["top_reply_share"] - MAX_SHARE, 0.0))  # fmt: skip


def choose(figures: dict[str, dict[str, float]], retrieval: dict[str, float]) -> str:
    """The key of ``figures`` (validation figures per decoding) the run uses: the highest BLEU
    of those that meet the bars, else the least ``shortfall`` (BLEU breaks a tie, then the
    order given)."""
    return max(figures, key=lambda k: (-shortfall(figures[k], retrieval), figures[k]["bleu"]))


@register_task
class ChatTask(TextToTextTask):
    name = "chat"
    help = "train a dialogue model (default data: shakespeare-plays)"
    description = (
        "Train an attention encoder-decoder to reply to a line: (line, reply) pairs from a "
        ".csv/.tsv/.jsonl table, two aligned text files, or the named shakespeare-plays "
        "(38 plays) or shakespeare-dialogue (the bundled eight). Chooses its decoding on the "
        "validation split (beam with an n-gram block, or nucleus samples reranked by mutual "
        "information) and prints test perplexity per word and per token, BLEU, distinct-1/2 "
        "and the share of the most frequent reply beside a TF-IDF retrieval baseline and a "
        "word Kneser-Ney model of the replies. `rnnkit chat RUN` talks with the result."
    )
    default_dataset = "shakespeare-plays"
    monitor = ("val_loss", "min")
    defaults = {
        "data": {"max_tokens": 80, "val": 0.05, "test": 0.1},
        "model": {"hidden_size": 256, "embed_dim": 128, "dropout": 0.3},
        "train": {"epochs": 30, "lr": 2e-3, "eval_every": 200, "patience": 5},
    }

    lm_file: dict[str, Any] | None = None  # reply_lm.json as the run holds it
    lm: WordKneserNey | None = None  # built from lm_file on first use
    chosen: Decoding | None = None  # picked on the validation split after training

    def from_named(self, rows: Any) -> tuple[list[Pair], list[str]]:
        pairs, groups = rows
        return pairs, groups

    # -- the replies' language model -----------------------------------------------------------

    def prepare(self) -> Splits:
        splits = super().prepare()
        if self.lm_file is None and self.lm is None:  # not restored from the run
            self.lm = WordKneserNey().fit([t for _, t in splits.train])
        return splits

    def artefacts(self) -> dict[str, Any]:
        return {**super().artefacts(), REPLY_LM: self.lm_file or self.reply_lm().to_dict()}

    def restore(self, files: dict[str, Any]) -> None:
        super().restore(files)
        self.lm_file, self.lm = files.get(REPLY_LM), None  # a run from before it has none

    def reply_lm(self) -> WordKneserNey:
        if self.lm is None:
            if self.lm_file is None:
                raise RnnkitError(
                    f"this chat run has no {REPLY_LM} (it predates it): MMI reranking needs it; "
                    "decode with --beam or --temperature"
                )
            self.lm = WordKneserNey.from_dict(self.lm_file)
        return self.lm

    def output_logprobs(self, texts: list[str]) -> list[float]:
        lm = self.reply_lm()
        return [lm.logprob(t) for t in texts]

    # -- decoding ------------------------------------------------------------------------------

    def default_decoding(self) -> Decoding:
        return self.chosen or BEAM_BLOCKED

    def choose_decoding(self, model: nn.Module, splits: Splits) -> dict[str, Any]:
        """Decode the validation split in every decoding of ``decoding_grid()`` and keep the
        one ``choose`` picks (module docstring). Reranked decodings that differ only in lambda
        and gamma share one pool of samples: the pool that each of them draws alone. The
        decodings run through the test phase (up to ``CHOICE_SHARE`` of its time budget), so
        each has a bar and all of them decode the same validation pairs."""
        val = splits.val[:: max(1, math.ceil(len(splits.val) / CHOOSE_PAIRS))]
        nearest = NearestReplies(splits.train)
        passes: dict[str, Any] = {"retrieval": lambda pairs: nearest(self.sources(pairs))}
        pools: dict[Decoding, str] = {}  # a pool's decoding (mmi 0, gamma 0) -> its pass
        for decoding in decoding_grid():
            if decoding.samples == 1:
                passes[decoding.name()] = self.decoding_pass(model, decoding)
                continue
            key = replace(decoding, mmi=0.0, length_bonus=0.0)
            if key not in pools:
                pools[key] = f"{key.samples} samples of {replace(key, samples=1).name()}"
                passes[pools[key]] = self.pool_pass(model, key)
        scored = self.phase.run(val, passes, "choosing the decoding", "pairs", CHOICE_SHARE)
        refs = self.references(scored.pick(val))
        retrieval = self.figures(scored.outputs["retrieval"], refs, selection=True)
        figures, by_name = {}, {}
        for decoding in decoding_grid():
            if decoding.samples == 1:
                rows = scored.outputs[decoding.name()]
            else:
                pool_rows = scored.outputs[pools[replace(decoding, mmi=0.0, length_bonus=0.0)]]
                best = mmi_best([c for _, c in pool_rows], decoding.mmi, decoding.length_bonus)
                rows = [group[i] for (group, _), i in zip(pool_rows, best, strict=True)]
            figures[decoding.name()] = self.figures([r["text"] for r in rows], refs, True)
            by_name[decoding.name()] = decoding
        self.chosen = by_name[choose(figures, retrieval)]
        return {"chosen": self.chosen.to_dict(), "name": self.chosen.name(),
                "chosen_by": CHOSEN_BY, "validation_pairs": len(scored.indices),
                "validation": figures, "validation_retrieval": retrieval}  # fmt: skip

    def pool_pass(self, model: nn.Module, decoding: Decoding) -> Any:
        """A pass of the choice: pairs -> per pair, (its ``decoding.samples`` candidate rows,
        their MMI scores), the draws of every chunk from one generator."""
        generator = self.generator(model, decoding)

        def run(pairs: list[Pair]) -> list[tuple[list[dict], list]]:
            pool = self.candidates(model, self.sources(pairs), decoding, generator)
            return list(zip(pool, self.scored(pool, with_lm=True), strict=True))

        return run

    def restore_results(self, results: dict[str, Any]) -> None:
        decoding = results.get("decoding") if isinstance(results, dict) else None
        if decoding is not None:  # a run from before the choice has none
            chosen = decoding.get("chosen") if isinstance(decoding, dict) else None
            self.chosen = Decoding.from_dict(chosen)

    def test_decodings(
        self, model: nn.Module, splits: Splits
    ) -> list[tuple[str, Decoding, str | None]]:
        # the chosen decoding alone: the others' validation figures are in results.json, and
        # decoding 3,000 test lines again in each would cost minutes on a CPU
        chosen = self.default_decoding()
        return [("test", chosen, chosen.name())]

    # -- scores --------------------------------------------------------------------------------

    def metrics(self, model: nn.Module, val: ListBatches, examples: list[Pair]) -> dict[str, float]:
        return {}  # validation loss decides; decoding every evaluation would only cost time

    def figures(
        self, outputs: list[str], references: list[str], selection: bool = False
    ) -> dict[str, float]:
        return {"bleu": bleu_chrf(outputs, references, effective_order=selection)["bleu"],
                "distinct1": distinct(outputs, 1), "distinct2": distinct(outputs, 2),
                "top_reply_share": top_reply_share(outputs)}  # fmt: skip

    def perplexities(self, model: nn.Module, pairs: list[Pair]) -> dict[str, float]:
        """The model's perplexity of the references per word and per target token."""
        tokens = sum(len(self.tgt_tok.encode(t)) + 1 for _, t in pairs)  # each with its end
        nll = self.mean_loss(model, pairs) * tokens
        return {"perplexity_word": perplexity_per_word(nll, self.references(pairs)),
                "perplexity_token": math.exp(nll / tokens)}  # fmt: skip

    def baselines(self, model: nn.Module, splits: Splits) -> dict[str, Baseline]:
        nearest = NearestReplies(splits.train)
        return {"retrieval": ("reply to the nearest training line (TF-IDF)",
                              lambda pairs: nearest([s for s, _ in pairs]))}  # fmt: skip

    def test(self, model: nn.Module, splits: Splits, run_dir: Path) -> dict[str, Any]:
        decoding = self.choose_decoding(model, splits)
        result = super().test(model, splits, run_dir)
        examples = result.pop("examples")
        return {"decoding": decoding, **result, "examples": examples}

    def add_figures(self, model: nn.Module, pairs: list[Pair], result: dict[str, Any]) -> None:
        result["test"].update(self.perplexities(model, pairs))
        refs = self.references(pairs)
        nll = -sum(self.output_logprobs(refs))
        lm = self.reply_lm()
        result["baselines"]["kneser_ney"] = {
            "name": f"word {lm.order}-gram Kneser-Ney LM",
            "perplexity_word": perplexity_per_word(nll, refs),
        }

    def score(self, model: nn.Module, examples: list[Pair]) -> dict[str, Any]:
        return {**super().score(model, examples), **self.perplexities(model, examples)}

    @staticmethod
    def format_results(r: dict[str, Any]) -> str:
        test, chosen = r["test"], r["decoding"]
        beam = chosen["validation"].get(BEAM_BLOCKED.name(), {})
        pairs = chosen["validation_pairs"]
        notes = [f"decoding: {test['decoding']}",
                 f"  chosen on {pairs} validation pairs: {chosen['chosen_by']}"]  # fmt: skip
        if beam:  # what the beam alone does, for comparison
            d1, top = beam["distinct1"], beam["top_reply_share"]
            notes.append(f"  validation, {BEAM_BLOCKED.name()}: distinct-1 {d1:.3f}, "
                         f"top reply {top:.3f}")  # fmt: skip
        return results_table(r, "pairs", notes, COLUMNS, [("seq2seq, chosen decoding", test)])
