"""Companion models (``rnnkit.tasks.base``): a task declares a second model and the driver
trains it (into the run folder, like the run's own) or loads it (refusing a run of another
task), and hands it over before ``test``, ``score`` and ``predict``; speech's baseline and LM are
declared so; the CTC fusion adapter takes a model and a tokenizer; no task trains or loads."""

from __future__ import annotations

import ast
import math
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from rnnkit.config import Settings, setting
from rnnkit.data.tokenizers import CharTokenizer, fit_tokenizer
from rnnkit.errors import RnnkitError
from rnnkit.generate.ctc import RunLM
from rnnkit.models.acoustic import AcousticModel
from rnnkit.models.language_model import LanguageModel, LanguageModelConfig
from rnnkit.models.recurrent import TaskModel
from rnnkit.runs.driver import fit, load_run, make_task
from rnnkit.tasks.base import (
    TASKS,
    LoadedCompanion,
    Splits,
    Task,
    TrainedCompanion,
    register_task,
)
from rnnkit.train import checkpoint as ckpt
from rnnkit.train.steps import ListBatches, StepOutput

HANDED: list[dict] = []  # what each `use_companions` call was given, for the tests to check


@dataclass(kw_only=True)
class TwinData(Settings):
    teacher: str | None = setting(None, "a run loaded beside this one", metavar="RUN")
    teacher_task: str = setting("test-twin", "the task the teacher run must be of")
    shadow_steps: int | None = setting(None, "steps of the shadow model", lo=0, hi=1000)
    shadow_size: int = setting(4, "hidden units of the shadow model", lo=1, hi=1024)


@dataclass(kw_only=True)
class TwinModelConfig(Settings):
    hidden_size: int = setting(12, "hidden units", lo=1, hi=1024)


class TwinModel(TaskModel):
    def __init__(self, config: TwinModelConfig):
        super().__init__()
        self.config = config
        self.rnn = nn.GRU(1, config.hidden_size, batch_first=True)
        self.head = nn.Linear(config.hidden_size, 2)

    def forward(self, x):
        return self.head(self.rnn(x[..., None])[0][:, -1])


class TwinTask(Task):
    """Parity of a bit string, with a smaller shadow model trained beside it for the test and
    optionally a teacher run loaded for the test and for predictions."""

    name = "test-twin"
    help = description = "parity, with companions"
    Data, Model = TwinData, TwinModelConfig
    defaults = {"train": {"max_steps": 10, "eval_every": 3, "lr": 0.02, "progress": False}}
    monitor = ("val_accuracy", "max")
    given: dict = {}

    def prepare(self) -> Splits:
        g = torch.Generator().manual_seed(0)
        x = torch.randint(0, 2, (128, 6), generator=g).float()
        y = x.sum(1).long() % 2
        return Splits((x[64:], y[64:]), (x[:32], y[:32]), (x[32:64], y[32:64]))

    def build_model(self):
        return TwinModel(self.model)

    def batch_sources(self, splits, rank, world, seed):
        x, y = splits.train
        batches = [(x[i : i + 16], y[i : i + 16]) for i in range(0, len(x), 16)]
        return ListBatches(batches, seed=seed, rank=rank, world=world), ListBatches(
            [splits.val], shuffle=False
        )

    def loss(self, model, batch, state):
        x, y = batch
        return StepOutput(F.cross_entropy(model(x), y), len(y))

    def metrics(self, model, val, examples):
        return self.score(model, examples)

    def score(self, model, examples):
        x, y = examples
        figures = {"accuracy": float((model(x).argmax(1) == y).float().mean())}
        if "teacher" in self.given:
            figures["teacher"] = self.score_of(self.given["teacher"].model, examples)
        return figures

    @staticmethod
    def score_of(model, examples):
        x, y = examples
        return float((model(x).argmax(1) == y).float().mean())

    def companions(self, purpose):
        out = []
        if self.data.teacher is not None:
            out.append(LoadedCompanion("teacher", self.data.teacher, self.data.teacher_task))
        if purpose == "test" and self.data.shadow_steps != 0:
            small = replace(self.model, hidden_size=self.data.shadow_size)
            out.append(TrainedCompanion("shadow", lambda: TwinModel(small),
                                        steps=self.data.shadow_steps))  # fmt: skip
        return out

    def use_companions(self, given):
        self.given = dict(given)
        HANDED.append(self.given)

    def test(self, model, splits, run_dir):
        results = {"test": self.score(model, splits.test)}
        shadow = self.given.get("shadow")
        if shadow is not None:
            results["shadow"] = {
                "steps": shadow.steps, "seconds": shadow.seconds,
                "parameters": shadow.model.num_parameters(), "training": shadow.model.training,
                "accuracy": self.score_of(shadow.model, splits.test),
            }  # fmt: skip
        return results

    def parse_input(self, text):
        return torch.tensor([float(c) for c in text])

    def predict(self, model, inputs):
        teacher = self.given.get("teacher")
        return [
            {"odd": bool(model(x[None]).argmax(1)),
             "teacher": None if teacher is None else bool(teacher.model(x[None]).argmax(1))}
            for x in inputs
        ]  # fmt: skip

    @staticmethod
    def format_results(results):
        return f"accuracy {results['test']['accuracy']:.3f}"

    def format_prediction(self, row):
        return str(row["odd"])


@pytest.fixture
def twin():
    register_task(TwinTask)
    HANDED.clear()
    try:
        yield
    finally:
        TASKS.pop("test-twin")


def test_a_trained_companion_is_trained_by_the_driver_into_its_folder_and_handed_to_test(
    twin, tmp_path
):
    r = fit("test-twin", data={"shadow_steps": 6}, out=tmp_path / "run")
    shadow = r["shadow"]
    assert shadow["steps"] == 6 and shadow["seconds"] > 0 and not shadow["training"]
    assert shadow["parameters"] == TwinModel(TwinModelConfig(hidden_size=4)).num_parameters()
    best = ckpt.best_checkpoint(tmp_path / "run" / "shadow")
    assert best is not None and best.name.startswith("step-")
    handed = HANDED[-1]["shadow"].model.state_dict()  # the best checkpoint, not the last step
    for k, v in ckpt.load_weights(best).items():
        assert torch.equal(handed[k], v), k
    # the default budget is the run's own step count; 0 trains none
    r = fit("test-twin", out=tmp_path / "same")
    assert r["shadow"]["steps"] == r["training"]["steps"] == 10
    r = fit("test-twin", data={"shadow_steps": 0}, out=tmp_path / "none")
    assert "shadow" not in r and not (tmp_path / "none" / "shadow").exists()


def test_a_trained_companion_the_size_of_the_model_is_the_model(twin, tmp_path):
    """Built after torch.manual_seed(the run's seed), trained on the same batches with the same
    settings for as many steps: a shadow of the model's size ends where the model did."""
    fit("test-twin", data={"shadow_size": 12}, out=tmp_path / "run")
    own = ckpt.load_weights(ckpt.latest_checkpoint(tmp_path / "run"))
    shadow = ckpt.load_weights(ckpt.latest_checkpoint(tmp_path / "run" / "shadow"))
    assert set(own) == set(shadow)
    for k, v in own.items():
        assert torch.equal(shadow[k], v), k


def test_a_loaded_companion_is_loaded_refused_for_another_task_and_kept_once(twin, tmp_path):
    fit("test-twin", data={"shadow_steps": 0}, out=tmp_path / "teacher")
    teacher = load_run(tmp_path / "teacher")
    r = fit("test-twin", data={"shadow_steps": 0, "teacher": str(tmp_path / "teacher")},
            train={"max_steps": 2}, out=tmp_path / "pupil")  # fmt: skip
    test_x = teacher.task.prepare().test
    assert r["test"]["teacher"] == TwinTask.score_of(teacher.model, test_x)
    run = load_run(tmp_path / "pupil")
    inputs = [run.task.parse_input(s) for s in ("0110", "0111", "1")]
    rows = run.predict(inputs)
    assert [row["teacher"] for row in rows] == [row["odd"] for row in teacher.predict(inputs)]
    run.predict(inputs)
    assert len(run.loaded) == 1  # loaded once for both calls
    assert run.evaluate()["teacher"] == r["test"]["teacher"]
    run.task.data = run.task.data.replace(teacher_task="lm")
    with pytest.raises(RnnkitError, match=r"holds a 'test-twin' run, not a 'lm' run"):
        run.predict(inputs)
    run.task.data = run.task.data.replace(teacher=None)
    assert run.predict(inputs)[0]["teacher"] is None and HANDED[-1] == {}


def test_speech_declares_its_baseline_for_the_test_and_its_lm_for_a_beam():
    task = make_task("speech", {"data": "x", "lm": "runs/lm"}, {})
    test = task.companions("test")
    assert [type(c) for c in test] == [LoadedCompanion, TrainedCompanion]
    lm, baseline = test
    assert (lm.name, lm.run, lm.task) == ("lm", "runs/lm", "lm")
    assert baseline.name == "baseline" and baseline.steps is None
    built = baseline.build()
    assert isinstance(built, AcousticModel) and not built.config.recurrent
    assert [c.name for c in task.companions("predict")] == ["lm"]
    greedy = make_task("speech", {"data": "x", "lm": "runs/lm", "beam": 1,
                                  "baseline_steps": 0}, {})  # fmt: skip
    assert greedy.companions("test") == [] and greedy.companions("score") == []


def tiny_lm(vocab: int) -> LanguageModel:
    torch.manual_seed(0)
    cfg = LanguageModelConfig(vocab_size=vocab, hidden_size=8, num_layers=1, embed_dim=4)
    return LanguageModel(cfg).eval()


def test_run_lm_adapts_a_character_model_and_its_tokenizer():
    tok = CharTokenizer(sorted("\nabc "))
    model = tiny_lm(len(tok))
    symbols = ["<blank>", " ", "c", "a"]
    lm = RunLM(model, tok, symbols)
    nl = tok.index["\n"]
    with torch.no_grad():
        logp, _ = model(torch.tensor([[nl]]))  # (1, 1, V_lm): after a line break
        logp2, _ = model(torch.tensor([[nl, tok.index["c"]]]))  # (1, 2, V_lm)
    full = logp[0, 0].log_softmax(-1)
    expected = torch.stack([full[tok.index[s]] for s in symbols[1:]])
    assert torch.allclose(lm.next_logp(lm.start())[1:], expected, atol=1e-6)
    (after_c,) = lm.advance([lm.start()], [2])
    assert math.isclose(lm.end(after_c), float(logp2[0, 1].log_softmax(-1)[nl]), abs_tol=1e-5)


def test_run_lm_refuses_a_word_model_or_missing_characters_in_one_line():
    words = fit_tokenizer("a b c\n", "word")
    with pytest.raises(RnnkitError, match="must be a character-level `rnnkit train lm` run$"):
        RunLM(tiny_lm(len(words)), words, ["<blank>", "a"])
    chars = CharTokenizer(sorted("\nab"))
    with pytest.raises(RnnkitError, match=r"lacks character\(s\) 'c'"):
        RunLM(tiny_lm(len(chars)), chars, ["<blank>", "a", "c"])


def test_no_task_module_imports_the_trainer_the_checkpoints_or_the_driver():
    """What lint-imports checks, for each file under rnnkit/tasks (imports inside functions
    too): the driver trains and loads; speech was the last one to do it itself."""
    forbidden = ("rnnkit.train.trainer", "rnnkit.train.checkpoint", "rnnkit.runs")
    tasks = Path(__file__).resolve().parent.parent / "rnnkit" / "tasks"
    for path in sorted(tasks.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            else:
                continue
            bad = [n for n in names if n.startswith(forbidden)]
            assert not bad, f"{path.name} imports {bad}"
