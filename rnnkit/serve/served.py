"""A run as the server serves it: its name, what it takes and returns, its uploads checked
against the limits, and its predictions through ``rnnkit.runs.predict`` (the path of
``rnnkit predict``), so a row from the server is the row the command line writes."""

from __future__ import annotations

import base64
import re
import secrets
import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rnnkit.errors import RnnkitError
from rnnkit.runs.driver import LoadedRun, load_run
from rnnkit.runs.predict import DECODING_RANGES, check_decoding, parse_inputs
from rnnkit.serve.limits import Limits

# what each task's inputs are; a task not named here takes lines of text
TAKES = {"caption": "image", "speech": "audio", "forecast": "series"}
RETURNS = {
    "lm": "the text's log-probability and the five likeliest next tokens",
    "classify": "the label, its probability and every label's probability",
    "tag": "each token with its tag",
    "forecast": "the next values with the model's interval",
    "reorder": "the words in the model's order, with the attention",
    "translate": "the translation, its log-probability, tokens and attention map",
    "summarize": "the summary, its log-probability, tokens and attention map",
    "chat": "the reply, its log-probability, tokens and attention map",
    "speech": "the transcript with its CTC alignment, the clip's length and pieces decoded",
    "caption": "the caption, its log-probability, tokens and attention over the image",
    "music": "the opening's log-probability and the five likeliest next tokens; composed "
    "tunes (POST .../compose) as ABC, notation, notes and MIDI",
}
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def run_name(folder: Path) -> str:
    """The name a run is served under: its folder's name, which must be URL-safe."""
    name = folder.resolve().name
    if not NAME.match(name):
        raise RnnkitError(
            f"{folder}: a served run's folder name must be letters, digits, '.', '_' or '-' "
            f"(it names the run in URLs), got {name!r}"
        )
    return name


@dataclass
class ServedRun:
    name: str
    run: LoadedRun
    limits: Limits
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)  # one user at a time

    @classmethod
    def load(cls, folder: str | Path, limits: Limits) -> ServedRun:
        folder = Path(folder)
        return cls(run_name(folder), load_run(folder), limits)

    @property
    def task(self) -> str:
        return self.run.task.name

    @property
    def takes(self) -> str:
        return TAKES.get(self.task, "text")

    def describe(self) -> dict[str, Any]:
        """What ``GET /v1/runs`` tells about the run."""
        options = {
            name: {"type": DECODING_RANGES[name][0].__name__, "min": DECODING_RANGES[name][1],
                   "max": DECODING_RANGES[name][2]}
            for name in self.run.task.decoding
        }  # fmt: skip
        upload = self.takes in ("image", "audio")
        return {
            "name": self.name,
            "task": self.task,
            "takes": self.takes,
            "how": (
                f"multipart/form-data: one or more files in the field 'files' ({self.takes}s)"
                if upload
                else 'application/json: {"inputs": [...]}'
                + (
                    " (each a series: numbers, or a text of numbers)"
                    if self.takes == "series"
                    else " (each a line of text)"
                )
            ),  # fmt: skip
            "returns": RETURNS.get(self.task, self.run.task.help),
            "decoding": options,
            "predict": f"/v1/runs/{self.name}/predict",
            **({"compose": f"/v1/runs/{self.name}/compose"} if self.task == "music" else {}),
        }

    def options(self, given: dict[str, Any]) -> dict[str, Any]:
        return check_decoding(self.run.task, given)

    def parse_texts(self, texts: list[Any]) -> list[Any]:
        """JSON inputs as the task's ``parse_input`` takes them (a series may be a list of
        numbers), each checked by it."""
        if self.takes in ("image", "audio"):
            raise RnnkitError(
                f"a {self.task} run takes {self.takes} files: send them as multipart/form-data "
                "in the field 'files'"
            )
        lines = []
        for i, x in enumerate(texts):
            if self.takes == "series" and isinstance(x, list):
                if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in x):
                    raise RnnkitError(f"inputs[{i}]: a series must hold numbers only")
                x = " ".join(repr(float(v)) for v in x)
            if not isinstance(x, str):
                raise RnnkitError(f"inputs[{i}] must be a string, got {type(x).__name__}")
            if len(x) > self.limits.max_input_chars:
                raise RnnkitError(
                    f"inputs[{i}] has {len(x)} characters; at most "
                    f"{self.limits.max_input_chars} are taken"
                )
            lines.append(x)
        return parse_inputs(self.run.task, lines)

    def parse_files(self, files: list[tuple[str, bytes]], folder: Path) -> list[Any]:
        """Uploaded files (name, bytes), written into ``folder`` under their own names, checked
        against the limits, and parsed as the task parses a path it is given."""
        if self.takes not in ("image", "audio"):
            raise RnnkitError(f"a {self.task} run takes JSON inputs, not uploaded files")
        paths = []
        for i, (filename, data) in enumerate(files):
            path = folder / f"{i:03d}" / upload_name(filename, i)
            path.parent.mkdir()
            path.write_bytes(data)
            if self.takes == "image":
                self.check_image(path)
            else:
                self.check_audio(path)
            paths.append(str(path))
        return parse_inputs(self.run.task, paths)

    def check_image(self, path: Path) -> None:
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(path) as img:
                w, h = img.size
        except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
            raise RnnkitError(f"{path.name}: not an image (PNG, JPEG, GIF, WebP...)") from None
        if w * h > self.limits.max_image_pixels:
            raise RnnkitError(
                f"{path.name}: {w}x{h} pixels; at most {self.limits.max_image_pixels} are taken"
            )

    def check_audio(self, path: Path) -> None:
        from rnnkit.data.audio import duration, read_audio

        seconds = duration(path)
        if seconds <= 0:
            read_audio(path)  # raises the reason: not audio, or no samples
            raise RnnkitError(f"{path.name}: holds no audio (0 s)")
        if seconds > self.limits.max_audio_seconds:
            raise RnnkitError(
                f"{path.name}: {seconds:.1f} s long; at most "
                f"{self.limits.max_audio_seconds:g} s is taken"
            )

    def predict(self, inputs: list[Any], options: dict[str, Any]) -> list[dict[str, Any]]:
        """Rows for parsed inputs (on the model's thread)."""
        with self.lock:
            return self.run.predict(inputs, **options)

    def compose(
        self, n: int = 1, meter: str | None = None, key: str | None = None,
        temperature: float = 1.0, seed: int | None = None, rules: bool = True,
    ) -> dict[str, Any]:  # fmt: skip
        """``n`` tunes from a music run, as ``rnnkit compose`` draws them (``draw_tunes``; a
        seed drawn here when none is given, and answered, so that ``rnnkit compose --seed``
        writes the same tunes): per tune its ABC text, key, meter, whether the model ended it,
        its notes as played (``[onset, length, MIDI pitch]`` in eighths, rests left out) and
        ``seconds_per_eighth``, the .mid file ``compose`` writes (base64) and the notation as
        SVG (``rnnkit.serve.notation``; None, with ``notation_error``, for a tune Verovio cannot
        read: a model's tune can be odd ABC, and it is still played and downloadable)."""
        from rnnkit.data.abc import header_of
        from rnnkit.runs.music import draw_tunes
        from rnnkit.scoring.tunes import perform
        from rnnkit.serve.notation import abc_svg
        from rnnkit.tasks.music.files import TEMPO_BPM, midi_bytes

        if self.task != "music":
            raise RnnkitError(f"a {self.task} run does not compose; a music run does")
        seed = secrets.randbelow(2**31) if seed is None else seed
        with self.lock:
            tunes, redrawn = draw_tunes(self.run, n, meter, key, temperature, seed, rules,
                                        source=self.name)  # fmt: skip
        out = []
        for tune in tunes:
            played = perform(tune.tokens)[0]
            try:
                svg, notation_error = abc_svg(tune.abc), None
            except RnnkitError as exc:  # the tune is still played, and its files given
                svg, notation_error = None, str(exc)
            out.append({
                "abc": tune.abc,
                "key": tune.key.abc(),
                "meter": header_of(tune.tokens)[0],
                "finished": tune.finished,
                "notes": [[float(p.onset), float(p.length), p.pitch] for p in played
                          if p.pitch is not None],
                "seconds_per_eighth": 30.0 / TEMPO_BPM,
                "midi": base64.b64encode(midi_bytes(tune.tokens)).decode("ascii"),
                "svg": svg,  # None when Verovio cannot engrave it: notation_error says why
                "notation_error": notation_error,
            })  # fmt: skip
        return {"run": self.name, "seed": seed, "redrawn": redrawn, "tunes": out}


def upload_name(filename: str, i: int) -> str:
    """An uploaded file's own name, without any folder, in safe characters (its suffix tells
    the readers its format); ``upload-<i>`` when nothing is left of it."""
    base = re.split(r"[\\/]", filename or "")[-1]
    base = re.sub(r"[^A-Za-z0-9._-]", "_", base).lstrip(".")[:100]
    return base or f"upload-{i}"


def unfold(value: Any, folder: Path, names: dict[str, str]) -> Any:
    """``value`` (a row, an error message) with each uploaded file's path under ``folder``
    replaced by the name it was uploaded as, so that nothing of the server's disk shows."""
    if isinstance(value, str):
        if str(folder) not in value:
            return value
        for path, name in names.items():
            value = value.replace(path, name)
        return value.replace(str(folder), "<upload>")
    if isinstance(value, list):
        return [unfold(v, folder, names) for v in value]
    if isinstance(value, dict):
        return {k: unfold(v, folder, names) for k, v in value.items()}
    return value


class UploadFolder:
    """A temporary folder for one request's uploads, removed when the request is answered."""

    def __enter__(self) -> Path:
        self.path = Path(tempfile.mkdtemp(prefix="rnnkit-serve-"))
        return self.path

    def __exit__(self, *exc: object) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
