"""Sampling tunes from a trained ``music`` run, and ``compose``: .abc, .mid and .png per tune.

The model samples token by token after ``<s>``; the meter and mode tokens are forced when
asked for (they are how a tune is conditioned), and the tune is then moved from C to the
asked key. Padding, ``<s>`` and ``<unk>`` are never drawn.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from rnnkit.data.abc import Key, TuneError, parse_key, parse_meter
from rnnkit.data.abc_clock import BarClock
from rnnkit.data.abc_rules import TuneRules
from rnnkit.errors import RnnkitError
from rnnkit.generate.constraints import TokenRules
from rnnkit.generate.filters import filter_logits
from rnnkit.generate.sampling import draw
from rnnkit.tasks.music.vocab import BOS, EOS, MAX_TUNE_TOKENS, PAD, UNK, run_model


class RulesById:
    """``TuneRules`` over token ids of a vocabulary (what the samplers draw), counting the
    draws it refuses (each sampler asks once per draw): the ``TokenRules`` of
    ``rnnkit.generate.constraints``."""

    def __init__(self, vocab: list[str]) -> None:
        self.vocab, self.rules = vocab, TuneRules(vocab)
        self.redraws = 0

    def allows(self, i: int) -> bool:
        ok = self.rules.allows(self.vocab[i])
        self.redraws += not ok
        return ok

    def push(self, i: int) -> None:
        self.rules.push(self.vocab[i])


def _obey(ruled: list[TokenRules], ids: Tensor, logits: Tensor, done: list[bool],
          temperature: float, gen: torch.Generator | None,
          allowed: Tensor | None = None) -> None:  # fmt: skip
    """Replace in place each id of ``ids`` (B,) that its tune's rules refuse by one drawn again
    from its row of ``logits`` (B, V) without the refused ids (nor those ``allowed`` (V,)
    bans), and push the ids kept."""
    for i, r in enumerate(ruled):
        if done[i]:
            continue
        ok = None  # made only when a draw is refused, which is rare
        while not r.allows(int(ids[i])):
            if ok is None:
                ok = torch.ones(1, logits.shape[-1], dtype=torch.bool, device=logits.device)
                ok = ok if allowed is None else ok & allowed  # (1, V)
            ok[0, ids[i]] = False
            if torch.isneginf(filter_logits(logits[i : i + 1], allowed=ok)).all():
                break  # nothing is allowed (a vocabulary with no section line): keep the draw
            ids[i] = draw(logits[i : i + 1], temperature, allowed=ok, generator=gen)[0]
        r.push(int(ids[i]))


@torch.no_grad()
def sample_tunes(model: nn.Module, task: Any, n: int, seed: int | None = None,
                 prefix: list[str] = (), temperature: float = 1.0,
                 max_tokens: int | None = None, rules: bool = False,
                 redraws: list[int] | None = None) -> list[tuple[list[str], bool]]:  # fmt: skip
    """``n`` tunes drawn in one batch: (tokens after <s> up to </s>, whether </s> came).

    ``prefix`` (e.g. ``["M:6/8", "K:Cmaj"]``) is forced after ``<s>``; temperature 0 is greedy.
    A model given bar classes has each sample's own ``BarClock`` run on what it draws. With
    ``rules``, a token that ``rnnkit.data.abc_rules.TuneRules`` refuses is never drawn: each
    tune is drawn from the model's distribution restricted to the tokens its rules allow;
    ``redraws``, when given, is extended with how many draws each tune's rules refused.
    """
    model.eval()
    index = task.index
    max_tokens = max_tokens or MAX_TUNE_TOKENS
    gen = torch.Generator().manual_seed(seed) if seed is not None else None
    start = torch.tensor([[index[BOS]] + [index[t] for t in prefix]] * n)  # (n, 1 + P)
    clocks = [BarClock() for _ in range(n)] if task.model.position_dim else None
    positions = None
    if clocks is not None:
        first = [[c.class_after(t) for t in (BOS, *prefix)] for c in clocks]
        positions = torch.tensor(first)  # (n, 1 + P)
    logits, state = run_model(model, start, positions)  # (n, 1 + P, V)
    last = logits[:, -1]  # (n, V)
    playable = torch.ones(len(task.vocab), dtype=torch.bool, device=last.device)  # (V,)
    playable[[index[t] for t in (PAD, BOS, UNK)]] = False
    drawn = [list(prefix) for _ in range(n)]
    done = [False] * n
    ruled = [RulesById(task.vocab) for _ in range(n)] if rules else None
    for r in ruled or ():
        for t in prefix:
            r.push(index[t])
    for _ in range(max_tokens - len(prefix)):
        ids = draw(last, temperature, allowed=playable, generator=gen)  # (n,)
        if ruled is not None:
            _obey(ruled, ids, last, done, temperature, gen, playable)
        for i, tok in enumerate(ids.tolist()):
            if not done[i]:
                if tok == index[EOS]:
                    done[i] = True
                else:
                    drawn[i].append(task.vocab[tok])
        if all(done):
            break
        if clocks is not None:
            toks = [task.vocab[t] for t in ids.tolist()]
            after = [[c.class_after(t)] for c, t in zip(clocks, toks, strict=True)]
            positions = torch.tensor(after)  # (n, 1)
        logits, state = run_model(model, ids[:, None], positions, state)  # (n, 1, V)
        last = logits[:, -1]
    if redraws is not None and ruled is not None:
        redraws += [r.redraws for r in ruled]
    return list(zip(drawn, done, strict=True))


def conditioning(task: Any, meter: str | None, key: str | None) -> tuple[list[str], Key | None]:
    """The forced tokens for ``meter`` and ``key`` (checked against the vocabulary) and the
    asked key."""
    vocab = set(task.vocab)
    meters = sorted(t[2:] for t in vocab if t.startswith("M:"))
    modes = sorted(t[3:] for t in vocab if t.startswith("K:"))
    prefix: list[str] = []
    if meter is not None:
        try:
            meter = parse_meter(meter)
        except TuneError as exc:
            raise RnnkitError(f"--meter: {exc}") from None
        if f"M:{meter}" not in vocab:
            raise RnnkitError(f"meter {meter} never occurs in the training tunes; choose from "
                              f"{', '.join(meters)}")  # fmt: skip
        prefix.append(f"M:{meter}")
    asked = None
    if key is not None:
        try:
            asked = parse_key(key)
        except TuneError as exc:
            raise RnnkitError(f"--key: {exc} (e.g. Dmaj, Emin, Ador, Gmix)") from None
        if f"K:C{asked.mode}" not in vocab:
            raise RnnkitError(f"mode {asked.mode} never occurs in the training tunes; choose from "
                              f"{', '.join(modes)}")  # fmt: skip
        if meter is None:
            raise RnnkitError("--key needs --meter too (the meter token comes first)")
        prefix.append(f"K:C{asked.mode}")
    return prefix, asked


def ngram_tunes(task: Any, kn: Any, n: int, seed: int, prefix: list[str] = (),
                temperature: float = 1.0, rules: bool = False,
                redraws: list[int] | None = None) -> list[tuple[list[str], bool]]:  # fmt: skip
    """``n`` tunes drawn from the Kneser-Ney model ``kn`` as ``sample_tunes`` draws them from a
    network: after the forced ``prefix``, at ``temperature``, with or without the bar rules
    (and how many draws they refused, into ``redraws``)."""
    import numpy as np

    rng, end = np.random.default_rng(seed), task.index[EOS]
    forced = [task.index[t] for t in prefix]
    drawn = []
    for _ in range(n):
        ruled = RulesById(task.vocab) if rules else None
        for t in forced if ruled is not None else ():
            ruled.push(t)
        ids = kn.sample(rng, end, MAX_TUNE_TOKENS - len(forced), temperature, forced, ruled)
        drawn.append(task.decode(forced + ids))
        if redraws is not None and ruled is not None:
            redraws.append(ruled.redraws)
    return drawn
