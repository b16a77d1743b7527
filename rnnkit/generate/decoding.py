"""One way of decoding a step model, as a value: beam search (greedy at beam 1) or sampling
(temperature, nucleus), an n-gram repetition block (``NoRepeatNgram``), and optionally several
sampled candidates per source of which the one with the best mutual-information score is kept
(``rnnkit.generate.rerank``). ``rnnkit.tasks.writing`` decodes with it; a run records the one it
chose in results.json (``to_dict``) and takes it back when loaded (``from_dict``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from rnnkit.config import check_value
from rnnkit.errors import RnnkitError

# each field's (type, range, may be None)
LIMITS: dict[str, tuple[type, dict[str, Any], bool]] = {
    "beam": (int, {"lo": 1, "hi": 256}, False),
    "temperature": (float, {"lo": 0, "hi": 100}, False),
    "top_p": (float, {"lo": 0, "hi": 1, "lo_open": True}, False),
    "no_repeat": (int, {"lo": 0, "hi": 100}, False),
    "samples": (int, {"lo": 1, "hi": 1000}, False),
    "mmi": (float, {"lo": 0, "hi": 100}, False),
    "length_bonus": (float, {"lo": -100, "hi": 100}, False),
    "seed": (int, {"lo": 0, "hi": 2**63 - 1}, True),
}


@dataclass(frozen=True)
class Decoding:
    """``beam`` (1: greedy) unless ``temperature`` is above 0, then a draw from the nucleus
    ``top_p`` of p ** (1 / temperature), from a generator seeded with ``seed`` (None: unseeded);
    ``no_repeat`` n > 0: no n-gram of tokens twice in an output; ``samples`` above 1 (sampling
    only): that many draws per source, the one of best log p(T|S) - ``mmi`` log p_LM(T) +
    ``length_bonus`` |T| kept."""

    beam: int = 5
    temperature: float = 0.0
    top_p: float = 1.0
    no_repeat: int = 0
    samples: int = 1
    mmi: float = 0.0
    length_bonus: float = 0.0
    seed: int | None = None

    def __post_init__(self) -> None:
        for name, (kind, limits, optional) in LIMITS.items():
            check_value(name, getattr(self, name), limits, kind, optional)
        if self.samples > 1 and self.temperature == 0:
            raise RnnkitError("several samples per source need a temperature above 0")
        if (self.mmi or self.length_bonus) and self.samples == 1:
            raise RnnkitError("mmi and length_bonus rerank samples: give samples above 1")

    @property
    def sampling(self) -> bool:
        return self.temperature > 0

    def name(self) -> str:
        """What it does, for tables: "beam 5, no-repeat 3", "best of 8 nucleus 0.9 samples by
        MMI (lambda 0.5, gamma 0)"."""
        if self.sampling:
            text = f"nucleus {self.top_p:g}" if self.top_p < 1 else "sampling"
            if self.temperature != 1:
                text += f" at T {self.temperature:g}"
            if self.samples > 1:
                text = (f"best of {self.samples} {text} samples by MMI "
                        f"(lambda {self.mmi:g}, gamma {self.length_bonus:g})")  # fmt: skip
        else:
            text = "greedy" if self.beam == 1 else f"beam {self.beam}"
        return text + (f", no-repeat {self.no_repeat}" if self.no_repeat else "")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Any) -> Decoding:
        """The decoding ``to_dict`` wrote; anything else is a one-line RnnkitError."""
        names = {f.name for f in fields(cls)}
        if not isinstance(d, dict) or not set(d) <= names:
            raise RnnkitError(f"not a decoding: {str(d)[:80]}")
        return cls(**d)
