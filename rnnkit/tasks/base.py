"""The task contract: what a task says about itself so that one driver can train, test,
evaluate and use it (after fairseq's ``FairseqTask``).

A task is one class in one file, registered by name::

    @register_task
    class ClassifyTask(Task):
        name = "classify"
        Data = ClassifyData                    # data settings (rnnkit.config.Settings)
        Model = ClassifierConfig               # the model's settings
        ...

and one line in ``rnnkit/tasks/__init__.py`` naming that file. Everything else (run folder,
config and artefact files inside the checksum manifest, device, data parallelism, the
Trainer, the best-checkpoint reload, results.json, ``rnnkit train NAME``, ``evaluate`` and
``predict`` with their flags) comes from ``rnnkit.runs.driver`` and ``rnnkit.cli``.

What a task supplies, in the order the driver uses it:

- ``prepare()``: read the data its ``Data`` settings name, split it, fit its artefacts (a
  vocabulary, the label set, the scaling) on the training split, and fill in the model settings
  that come from the data (``vocab_size``...). Returns ``Splits``. On resume and for a loaded
  run the artefacts are restored first (``restore``) and not fitted again.
- ``artefacts()`` / ``restore(files)``: the fitted artefacts as JSON-ready objects, one per file.
- ``build_model()``: the model from ``self.model`` settings.
- ``batch_sources(splits, rank, world, seed)``: the Trainer's training and validation batch
  sources (``rank``'s share of the training batches, shuffled from ``seed``).
- ``loss(model, batch, state)`` and optionally ``metrics(model, val, examples)``: figures on
  the validation split at each evaluation, from its batch source ``val`` or from its examples
  as ``prepare`` made them (``splits.val``: texts, images, words outside the vocabulary, which
  the batches no longer hold); ``monitor`` names the validation figure that picks the best
  checkpoint.
- ``test(model, splits, run_dir)``: figures on the test split beside the task's baselines;
  a choice it makes on the validation split (a decoding) goes into results.json and comes back
  through ``restore_results(results)`` when the run is loaded. A task whose test decodes runs
  its decodings and baselines through ``self.phase`` (``rnnkit.tasks.phase``: a progress bar
  per pass, and the time budget and item limit the driver sets from ``--test-time`` and
  ``--test-limit``).
- ``read_examples(path)`` and ``score(model, examples)``: figures on labelled data from a file
  (``rnnkit evaluate RUN --data FILE``); ``test`` uses the same ``score``.
- ``parse_input(text)``, ``read_inputs(path)``, ``predict(model, inputs, **decoding)``:
  unlabelled inputs in, one JSON-ready row out per input (``rnnkit predict``). ``decoding``
  names the options of ``predict`` that choose how an output is decoded, from ``beam``,
  ``temperature``, ``top_p`` and ``seed`` (``rnnkit predict RUN --beam N --temperature T
  --top-p P --seed S``); a task takes only those it names, and none by default.
- ``format_results``, ``format_prediction``: what the console shows.

Companions: a task whose figures or outputs need a second model declares it in
``companions(purpose)`` (purpose ``"test"``, ``"score"`` or ``"predict"``) rather than building
a Trainer or loading a run itself:

- ``TrainedCompanion(name, build, steps)``: a model the driver trains after the run's own (for
  ``"test"`` only), built by ``build()`` after ``torch.manual_seed(seed)`` and trained exactly
  like it (the run's training settings, ``loss``, ``batch_sources``, ``metrics`` and
  ``monitor``) for ``steps`` steps (None: as many as the run's own training took) into
  ``run_dir/<name>``; its best validation checkpoint comes back as a ``TrainedModel``
  (speech's per-frame baseline).
- ``LoadedCompanion(name, run, task)``: a run folder of task ``task`` that the driver loads
  (refusing a run of any other task); it comes back as a ``LoadedModel`` (speech's fusion LM,
  ``--lm RUN``).
- ``Refit(name, build, batches)``: the run's model trained again after early stopping, on more
  of the data than validation allowed (a forecaster's windows up to the test origin, as the M4
  entries refitted on the whole series): fresh from ``build()`` after ``torch.manual_seed(seed)``,
  on the training source ``batches(seed)``, with the run's settings for its whole planned
  schedule (``epochs`` or ``max_steps``), without validation or early stopping (validation on a
  few windows stops a forecaster's run early, and a refit that short forecast worse: measured in
  docs/tasks.md); its last weights come back as a ``TrainedModel``. It lives in
  ``run_dir/<name>`` with the run, so a loaded run has it for ``"score"`` and ``"predict"``
  too; the task decides where it replaces the run's model (a choice made on validation keeps
  the run's own, whose validation was out of sample).

Pretraining: a task whose model can start from weights learnt on another objective first
(classify's encoder read as a language model, ULMFiT's recipe) returns a ``Pretraining`` from
``pretraining(splits)``; the driver trains that model with its own loss and batches for its
``steps`` into ``run_dir/<name>`` before the run's own training, and hands its best
validation weights to ``start_from(model, weights)`` on the freshly built model in each
process. A resumed run whose checkpoint exists starts from the checkpoint instead.

The driver hands them over by name in ``use_companions({name: TrainedModel | LoadedModel})``
right before each ``test``, ``score`` and ``predict`` (of ``fit`` and of a loaded run, whose
settings may have changed since it was loaded, so a loaded run asks again at each use).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from torch import nn

from rnnkit.config import Settings
from rnnkit.errors import RnnkitError
from rnnkit.tasks.phase import TestPhase
from rnnkit.train.steps import StepOutput


@dataclass
class TrainedCompanion:
    """A model the driver trains beside the run's own into ``run_dir/<name>``."""

    name: str
    build: Callable[[], nn.Module]  # called after torch.manual_seed(the run's seed)
    steps: int | None = None  # None: as many as the run's own training took; 0: not trained


@dataclass
class LoadedCompanion:
    """A trained run the driver loads: the run folder and the task it must be a run of."""

    name: str
    run: str
    task: str


@dataclass
class Refit:
    """The run's model trained again on more of the data (see the module docstring)."""

    name: str
    build: Callable[[], nn.Module]  # called after torch.manual_seed(the run's seed)
    batches: Callable[[int], Any]  # the training batch source for a seed


Companion = TrainedCompanion | LoadedCompanion | Refit


@dataclass
class Pretraining:
    """A model the driver trains into ``run_dir/<name>`` before the run's own, from which the
    run's model starts (``Task.start_from``). Trained with the run's training settings but
    ``steps`` steps, ``loss``, the batch sources ``batches(seed)`` returns (training,
    validation) and ``monitor`` to pick its best checkpoint; no averaging."""

    name: str
    build: Callable[[], nn.Module]  # called after torch.manual_seed(the run's seed)
    loss: Callable[[nn.Module, Any, Any], StepOutput]
    batches: Callable[[int], tuple[Any, Any]]
    steps: int
    monitor: tuple[str, str] = ("val_loss", "min")
    unit: str = "tokens"


@dataclass
class TrainedModel:
    """A trained companion: its best validation checkpoint (a refit: its last) loaded (eval
    mode), the steps it was trained for and the seconds its training took."""

    model: nn.Module
    steps: int
    seconds: float


@dataclass
class LoadedModel:
    """A loaded companion run: its model (eval mode) and its task (settings and artefacts)."""

    model: nn.Module
    task: Task


@dataclass
class Splits:
    """A task's data after ``prepare``: train / validation / test examples (any picklable
    objects the task understands) and facts for results.json (source, sizes, skipped rows)."""

    train: Any
    val: Any
    test: Any
    info: dict[str, Any] = field(default_factory=dict)


class Task:
    """Base of every task; see the module docstring for the contract."""

    name: ClassVar[str]
    help: ClassVar[str]
    description: ClassVar[str]
    Data: ClassVar[type[Settings]]
    Model: ClassVar[type[Settings]]
    defaults: ClassVar[dict[str, dict[str, Any]]] = {}  # {"data"|"model"|"train": {name: value}}
    # what a setting missing from a saved run's config meant (one added since, whose default
    # changed the behaviour): {"data"|"model": {name: value}}
    absent: ClassVar[dict[str, dict[str, Any]]] = {}
    monitor: tuple[str, str] = ("val_loss", "min")  # (figure, "min" | "max"), read after prepare
    unit: ClassVar[str] = "items"  # what a loss's count counts, for the items/s figure
    input_settings: ClassVar[tuple[str, ...]] = ()  # Data settings that also apply to new files
    decoding: ClassVar[tuple[str, ...]] = ()  # keyword options of `predict` (see DECODING)
    # how `test` may run (bars, time budget, item limit): set by the driver before the test;
    # a task that decodes its test split runs its passes through it (rnnkit.tasks.phase)
    phase: TestPhase = TestPhase()

    def __init__(self, data: Settings, model: Settings):
        self.data = data
        self.model = model

    # -- training ------------------------------------------------------------------------------

    def prepare(self) -> Splits:
        raise NotImplementedError

    def artefacts(self) -> dict[str, Any]:
        return {}

    def restore(self, files: dict[str, Any]) -> None:
        """Take back what ``artefacts`` returned (read from the run folder)."""

    def build_model(self) -> nn.Module:
        raise NotImplementedError

    def batch_sources(self, splits: Splits, rank: int, world: int, seed: int) -> tuple[Any, Any]:
        raise NotImplementedError

    def loss(self, model: nn.Module, batch: Any, state: Any) -> StepOutput:
        raise NotImplementedError

    # (model, val batch source, examples=splits.val) -> figures, or None: the loss alone
    metrics: ClassVar[Callable[..., dict] | None] = None

    def test(self, model: nn.Module, splits: Splits, run_dir: Path) -> dict[str, Any]:
        """Figures on the test split with the baselines beside them (default: ``score``)."""
        return {"test": self.score(model, splits.test)}

    def restore_results(self, results: dict[str, Any]) -> None:
        """Take back what ``test`` chose on the validation split (a decoding, say) from the
        run's results.json, so that a loaded run is used as it was tested."""

    @staticmethod
    def format_results(results: dict[str, Any]) -> str:
        raise NotImplementedError

    # -- companion models ----------------------------------------------------------------------

    def companions(self, purpose: str) -> list[Companion]:
        """The second models ``purpose`` (``"test"``, ``"score"``, ``"predict"``) needs; a
        ``TrainedCompanion`` only for ``"test"``, a ``Refit`` for any. Default: none."""
        return []

    def use_companions(self, given: dict[str, TrainedModel | LoadedModel]) -> None:
        """Take the companions that ``companions(purpose)`` declared, by name, trained or
        loaded by the driver, before ``test``, ``score`` or ``predict``."""

    # -- pretraining ---------------------------------------------------------------------------

    def pretraining(self, splits: Splits) -> Pretraining | None:
        """The model to train before the run's own (see the module docstring). Default: none."""
        return None

    def start_from(self, model: nn.Module, weights: dict[str, Any]) -> None:
        """Copy what ``model`` takes from the pretrained ``weights`` (a state dict) into it."""
        raise NotImplementedError

    # -- using a trained model -----------------------------------------------------------------

    def read_examples(self, path: str) -> Any:
        raise NotImplementedError

    def score(self, model: nn.Module, examples: Any) -> dict[str, Any]:
        raise NotImplementedError

    def format_scores(self, scores: dict[str, Any]) -> str:
        return "  ".join(f"{k} {v:.4f}" for k, v in scores.items() if isinstance(v, float))

    def parse_input(self, text: str) -> Any:
        return text

    def read_inputs(self, path: str) -> list[Any]:
        from rnnkit.data.tables import read_lines

        return read_lines(path)

    def predict(self, model: nn.Module, inputs: list[Any], **decoding: Any) -> list[dict[str, Any]]:
        raise NotImplementedError

    def format_prediction(self, row: dict[str, Any]) -> str:
        raise NotImplementedError


# the options a task's `decoding` may name: beam width (1: greedy), sampling temperature (0: no
# sampling), nucleus of the sampling distribution, seed of the sampling
DECODING = ("beam", "temperature", "top_p", "seed")

TASKS: dict[str, type[Task]] = {}


def register_task(cls: type[Task]) -> type[Task]:
    """Class decorator: make ``cls`` reachable by its ``name`` (``rnnkit train NAME``)."""
    if cls.name in TASKS:
        raise ValueError(f"two tasks are called {cls.name!r}")
    TASKS[cls.name] = cls
    return cls


def get_task(name: str) -> type[Task]:
    from rnnkit.tasks import load_tasks

    load_tasks()
    if name not in TASKS:
        raise RnnkitError(f"unknown task {name!r}; choose from {', '.join(sorted(TASKS))}")
    return TASKS[name]


def task_names() -> list[str]:
    from rnnkit.tasks import load_tasks

    load_tasks()
    return sorted(TASKS)


def check_source(data: str | None, dataset: str | None, has_default: bool = False) -> None:
    """The source rule of a task that reads a user's file (``data``) or a named ``dataset``:
    exactly one of the two; for a task with a default dataset (read when neither is given), at
    most one."""
    if not has_default and (data is None) == (dataset is None):
        raise RnnkitError("give exactly one of data (a file) or dataset (a name)")
    if data is not None and dataset is not None:
        raise RnnkitError("give either data (a file) or dataset (a name), not both")


def exactly_one_source(
    data: str | None, dataset: str | None, task: str, default_dataset: str | None = None
) -> tuple[Any, str]:
    """(what a named dataset loads, its name), or (None, the file path) for a user file, as
    ``check_source`` allows. A task whose ``dataset`` setting has a default (it always names
    one, read when no data is given) passes that setting as ``default_dataset``."""
    check_source(data, dataset, has_default=default_dataset is not None)
    if data is None:
        from rnnkit.data import named

        name = dataset or default_dataset
        return named.get(name, task).load(), name
    return None, str(data)
