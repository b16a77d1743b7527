"""The task contract: every registered task through one driver (fit, load_run, evaluate on a
new file, predict from a file into JSON lines or CSV), settings spelled once, a task added
from outside the package, and the library boundary of ``import rnnkit``."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from rnnkit.cli.main import main
from rnnkit.config import Settings, setting
from rnnkit.data import read_text
from rnnkit.errors import RnnkitError
from rnnkit.models.recurrent import TaskModel
from rnnkit.runs.driver import fit, load_run
from rnnkit.tasks.base import TASKS, Splits, Task, register_task, task_names
from rnnkit.train.steps import ListBatches, StepOutput
from rnnkit.train.trainer import TrainConfig
from tests.speech_data import write_tone_corpus
from tests.test_classify import write_reviews
from tests.test_cli_lm import assert_user_error, cli
from tests.test_forecast import write_series
from tests.test_tag import write_conll

TINY = {"hidden_size": 12, "num_layers": 1}


# Per task: the training command's data flags, a new labelled file for `evaluate`, and a file
# of inputs for `predict` with how many rows it should give.
def classify_case(d: Path):
    write_reviews(d / "train.csv", n=200)
    write_reviews(d / "new.csv", n=40, seed=5)
    (d / "inputs.txt").write_text("a great film\nawful plot\n\nthe story was great\n")
    flags = ["--data", d / "train.csv", "--epochs", "3", "--embed-dim", "8"]
    return flags, d / "new.csv", d / "inputs.txt", 3


def tag_case(d: Path):
    write_conll(d / "train.conll", n=120)
    write_conll(d / "new.conll", n=30, seed=4)
    (d / "inputs.txt").write_text("Alice met Jordan in New York\nBob saw Carol\n")
    flags = ["--data", d / "train.conll", "--epochs", "2", "--embed-dim", "8"]
    return flags, d / "new.conll", d / "inputs.txt", 2


def forecast_case(d: Path):
    write_series(d / "train.csv", n=300)
    write_series(d / "new.csv", n=120, seed=3)
    flags = ["--data", d / "train.csv", "--column", "value", "--date-col", "day",
             "--horizon", "4", "--window", "24", "--epochs", "2"]  # fmt: skip
    return flags, d / "new.csv", d / "new.csv", 1


def lm_case(d: Path):
    text = read_text(None)
    (d / "train.txt").write_text(text[:12000])
    (d / "new.txt").write_text(text[20000:23000])
    (d / "inputs.txt").write_text("ROMEO:\nTo be, or not\n")
    flags = ["--data", d / "train.txt", "--max-steps", "6", "--seq-len", "16",
             "--batch-size", "4", "--embed-dim", "8"]  # fmt: skip
    return flags, d / "new.txt", d / "inputs.txt", 2


def reorder_case(d: Path):
    text = read_text(None)
    (d / "train.txt").write_text(text[:15000])
    (d / "new.txt").write_text(text[40000:42000])
    (d / "inputs.txt").write_text("king the of denmark\nam I reading\n")
    flags = ["--data", d / "train.txt", "--max-steps", "4", "--embed-dim", "8"]
    return flags, d / "new.txt", d / "inputs.txt", 2


def pairs_case(d: Path):
    from tests.test_translate import write_pairs

    write_pairs(d / "train.tsv", 120)
    write_pairs(d / "new.tsv", 10, seed=2)
    (d / "inputs.txt").write_text("the big cat sees a dog.\n\na small bird.\n")
    flags = ["--data", d / "train.tsv", "--tokens", "word", "--max-steps", "4", "--embed-dim",
             "8", "--val", "0.1", "--test", "0.1"]  # fmt: skip
    return flags, d / "new.tsv", d / "inputs.txt", 2


def speech_case(d: Path):
    write_tone_corpus(d / "train", n=40)
    new = write_tone_corpus(d / "new", n=8, seed=5)
    (d / "inputs.txt").write_text(f"{d / 'train/audio/000.wav'}\n{d / 'new/audio/001.wav'}\n")
    flags = ["--data", d / "train", "--max-steps", "4", "--batch-size", "8",
             "--baseline-steps", "2"]  # fmt: skip
    return flags, new, d / "inputs.txt", 2


def caption_case(d: Path):
    from tests.caption_data import write_caption_folder

    write_caption_folder(d / "train", n=30)
    new = write_caption_folder(d / "new", n=6, seed=3)
    (d / "inputs.txt").write_text(f"{d / 'train/000.png'}\n{d / 'new/001.png'}\n")
    flags = ["--data", d / "train", "--max-steps", "4", "--width", "4", "--stages", "2",
             "--image-size", "16", "--embed-dim", "8", "--batch-size", "8"]  # fmt: skip
    return flags, new, d / "inputs.txt", 2


def music_case(d: Path):
    from tests.music_data import write_tunes

    write_tunes(d / "train.abc", 60)
    write_tunes(d / "new.abc", 10, seed=5)
    (d / "inputs.txt").write_text("M:6/8 K:Cmaj\n\nM:2/4 K:Cdor |: c\n")
    flags = ["--data", d / "train.abc", "--max-steps", "4", "--embed-dim", "8", "--batch-size",
             "8", "--eval-tunes", "2", "--no-music21-check", "--ngram-order", "3"]  # fmt: skip
    return flags, d / "new.abc", d / "inputs.txt", 2


CASES = {"classify": classify_case, "tag": tag_case, "forecast": forecast_case, "lm": lm_case,
         "reorder": reorder_case, "translate": pairs_case, "summarize": pairs_case,
         "chat": pairs_case, "speech": speech_case, "caption": caption_case,
         "music": music_case}  # fmt: skip
FIGURE = {"classify": "accuracy", "tag": "token_accuracy", "forecast": "mase", "lm": "loss",
          "reorder": "exact_match", "translate": "bleu", "summarize": "rougeL",
          "chat": "perplexity_word", "speech": "cer", "caption": "bleu",
          "music": "nll"}  # fmt: skip
PREDICTION = {"classify": "label", "tag": "tokens", "forecast": "forecast", "lm": "next",
              "reorder": "output", "translate": "output", "summarize": "output",
              "chat": "output", "speech": "path", "caption": "caption",
              "music": "next"}  # fmt: skip


@pytest.fixture(scope="module", params=sorted(CASES))
def trained(request, tmp_path_factory):
    task = request.param
    d = tmp_path_factory.mktemp(task)
    flags, new, inputs, n_rows = CASES[task](d)
    tiny = ["--hidden-size", "12", "--num-layers", "1", "--eval-every", "5"]
    out = d / "run"
    argv = ["train", task, *flags, *tiny, "--out", out, "--quiet", "--json"]
    assert main([str(a) for a in argv]) == 0
    return task, out, new, inputs, n_rows


def test_every_built_in_task_is_registered_with_cli_flags(capsys):
    assert set(CASES) <= set(task_names())
    for name in CASES:
        code, out, _ = cli(capsys, "train", name, "--help")
        assert code == 0
        cls = TASKS[name]
        for section in (cls.Data, cls.Model, TrainConfig):
            for f in section.__dataclass_fields__.values():
                if f.metadata.get("cli", True):
                    assert "--" + f.name.replace("_", "-") in out, (name, f.name)


def test_results_and_run_folder_are_the_same_for_every_task(trained):
    task, out, *_ = trained
    results = json.loads((out / "results.json").read_text())
    assert results["task"] == task and "test" in results and "source" in results
    assert results["training"]["stop_reason"]["rule"] in ("max_steps", "epochs", "patience")
    config = json.loads((out / "config.json").read_text())
    assert set(config) == {"task", "data", "model", "train"}
    info = json.loads((out / "run.json").read_text())
    manifest = json.loads(next((out / "ckpt").glob("*/manifest.json")).read_text())
    for name in ["config.json", *info["artefacts"]]:
        assert (out / name).is_file() and name in manifest["sha256"]


def test_evaluate_on_a_new_labelled_file(trained, capsys):
    task, out, new, *_ = trained
    code, text, err = cli(capsys, "evaluate", out, "--data", new, "--json")
    assert code == 0, err
    r = json.loads(text)
    assert r["data"] == str(new)
    figure = FIGURE
    assert r[figure[task]] >= 0
    default = load_run(out).evaluate()  # the run's own test split, re-read
    assert default["data"] == "the run's test split"
    results = json.loads((out / "results.json").read_text())
    assert default[figure[task]] == pytest.approx(results["test"][figure[task]], rel=1e-5)


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_predict_from_a_file_into_jsonl_or_csv(trained, suffix, capsys):
    task, out, _, inputs, n_rows = trained
    target = out.parent / f"pred-{task}{suffix}"
    target.unlink(missing_ok=True)
    code, text, err = cli(capsys, "predict", out, "--input", inputs, "--output", target)
    assert code == 0, err
    if suffix == ".jsonl":
        rows = [json.loads(line) for line in target.read_text().splitlines()]
    else:
        rows = list(csv.DictReader(target.open()))
    assert len(rows) == n_rows
    key = PREDICTION[task]
    assert all(r[key] for r in rows)
    before = target.read_bytes()
    code, _, err = cli(capsys, "predict", out, "--input", inputs, "--output", target)
    assert code == 2 and "exists" in err and target.read_bytes() == before


def test_predict_from_arguments_matches_the_library(trained, capsys):
    task, out, *_ = trained
    arg = {"classify": "a great film", "tag": "Alice met Bob", "forecast": " ".join(
        str(v) for v in range(40)), "lm": "ROMEO:", "reorder": "king the",
        "translate": "a cat.", "summarize": "a cat.", "chat": "a cat.",
        "speech": str(out.parent / "train" / "audio" / "000.wav"),
        "caption": str(out.parent / "train" / "000.png"),
        "music": "M:6/8 K:Cmaj"}[task]  # fmt: skip
    code, text, err = cli(capsys, "predict", out, arg, "--json")
    assert code == 0, err
    run = load_run(out)
    assert json.loads(text) == json.loads(json.dumps(run.predict([run.task.parse_input(arg)])))


def test_a_decoding_flag_the_task_does_not_take_is_refused(trained, capsys):
    task, out, *_ = trained
    takes = TASKS[task].decoding
    for flag, value in (("--beam", "2"), ("--temperature", "0.5"), ("--top-p", "0.9"),
                        ("--seed", "1")):  # fmt: skip
        if flag[2:].replace("-", "_") not in takes:
            assert_user_error(cli(capsys, "predict", out, "x", flag, value),
                              f"a {task} run takes no {flag}")  # fmt: skip


def test_resume_keeps_settings_and_takes_new_stop_rules(tmp_path):
    write_reviews(tmp_path / "r.csv", n=120)
    kw = dict(data={"data": str(tmp_path / "r.csv")}, model=TINY, out=tmp_path / "run")
    first = fit("classify", **kw, train={"max_steps": 4, "eval_every": 2, "progress": False})
    assert first["training"]["steps"] == 4
    with pytest.raises(RnnkitError, match="resume keeps the run's settings"):
        fit("classify", out=tmp_path / "run", resume=True, model={"hidden_size": 64})
    again = fit("classify", out=tmp_path / "run", resume=True, train={"max_steps": 6})
    assert again["training"]["steps"] == 6
    assert again["training"]["stop_reason"] == {"rule": "max_steps", "limit": 6}


def test_load_run_errors_are_one_clear_line(trained, tmp_path):
    _, out, *_ = trained
    with pytest.raises(RnnkitError, match="not found"):
        load_run(tmp_path / "nowhere")
    (tmp_path / "file").write_text("x")
    with pytest.raises(RnnkitError, match="is a file"):
        load_run(tmp_path / "file")
    (tmp_path / "empty").mkdir()
    with pytest.raises(RnnkitError, match="not an rnnkit run"):
        load_run(tmp_path / "empty")


def test_settings_are_validated_by_name():
    with pytest.raises(RnnkitError, match=r"hidden_size must be in \[1, 16384\], got 0"):
        fit("classify", data={"dataset": "digits-rows"}, model={"hidden_size": 0}, out="x")
    with pytest.raises(RnnkitError, match="unknown ClassifyData setting"):
        fit("classify", data={"colour": "red"}, out="x")
    with pytest.raises(RnnkitError, match="lr must be in"):
        TrainConfig.from_dict({"lr": float("nan"), "max_steps": 1})
    with pytest.raises(RnnkitError, match="unknown task 'painting'"):
        fit("painting", out="x")
    c = TrainConfig(max_steps=3)
    assert TrainConfig.from_dict(c.to_dict()) == c


# -- a task from outside the package: its own file plus one registration ----------------------


@dataclass(kw_only=True)
class ParityData(Settings):
    length: int = setting(8, "bits per sequence", lo=1, hi=64)
    examples: int = setting(256, "sequences generated", lo=8, hi=10**6)


@dataclass(kw_only=True)
class ParityModelConfig(Settings):
    hidden_size: int = setting(16, "hidden units", lo=1, hi=1024)


class ParityModel(TaskModel):
    def __init__(self, config: ParityModelConfig):
        super().__init__()
        self.config = config
        self.rnn = nn.GRU(1, config.hidden_size, batch_first=True)
        self.head = nn.Linear(config.hidden_size, 2)

    def forward(self, x):
        return self.head(self.rnn(x[..., None])[0][:, -1])


class ParityTask(Task):
    """Is the number of ones odd? Generated data, no artefacts."""

    name = "test-parity"
    help = description = "parity of a bit string"
    Data, Model = ParityData, ParityModelConfig
    defaults = {"train": {"max_steps": 30, "eval_every": 10, "lr": 0.02}}
    monitor = ("val_accuracy", "max")

    def prepare(self) -> Splits:
        g = torch.Generator().manual_seed(0)
        x = torch.randint(0, 2, (self.data.examples, self.data.length), generator=g).float()
        y = x.sum(1).long() % 2
        n = len(x) // 4
        return Splits((x[2 * n :], y[2 * n :]), (x[:n], y[:n]), (x[n : 2 * n], y[n : 2 * n]))

    def build_model(self):
        return ParityModel(self.model)

    def batch_sources(self, splits, rank, world, seed):
        x, y = splits.train
        batches = [(x[i : i + 32], y[i : i + 32]) for i in range(0, len(x), 32)]
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
        return {"accuracy": float((model(x).argmax(1) == y).float().mean())}

    def parse_input(self, text):
        return torch.tensor([float(c) for c in text])

    def predict(self, model, inputs):
        return [{"odd": bool(model(x[None]).argmax(1))} for x in inputs]

    @staticmethod
    def format_results(results):
        return f"accuracy {results['test']['accuracy']:.3f}"

    def format_prediction(self, row):
        return str(row["odd"])


def test_a_new_task_is_its_own_class_plus_one_registration(tmp_path, capsys):
    register_task(ParityTask)
    try:
        results = fit("test-parity", out=tmp_path / "run", train={"progress": False})
        assert results["training"]["steps"] == 30 and 0 <= results["test"]["accuracy"] <= 1
        run = load_run(tmp_path / "run")
        assert run.predict([run.task.parse_input("0110")]) == [{"odd": run.predict(
            [torch.tensor([0.0, 1, 1, 0])])[0]["odd"]}]  # fmt: skip
        code, out, err = cli(capsys, "predict", tmp_path / "run", "0111", "--json")
        assert code == 0, err
        assert list(json.loads(out)[0]) == ["odd"]
    finally:
        TASKS.pop("test-parity")


@pytest.mark.parametrize("task", ["classify", "translate"])
def test_every_task_trains_data_parallel(tmp_path, task):
    """Two processes (gloo) for tasks other than the language model: a classifier, and an
    encoder-decoder whose loss reads the model's settings through the DDP wrapper."""
    if task == "classify":
        write_reviews(tmp_path / "r.csv", n=160)
        data = {"data": str(tmp_path / "r.csv")}
    else:
        from tests.test_translate import write_pairs

        write_pairs(tmp_path / "p.tsv", 120)
        data = {"data": str(tmp_path / "p.tsv"), "tokens": "word", "val": 0.1, "test": 0.1}
    results = fit(task, data=data, model=TINY,
                  train={"max_steps": 4, "eval_every": 2, "progress": False},
                  out=tmp_path / "run", nproc=2)  # fmt: skip
    assert results["training"]["steps"] == 4


def test_import_rnnkit_loads_the_layers_only():
    """``import rnnkit`` adds nothing of the training stack to what ``import torch`` loads
    (torch itself imports tqdm, through torch.hub)."""
    code = (
        "import sys, torch; before = set(sys.modules); import rnnkit; "
        "print(' '.join(sorted(set(sys.modules) - before)))"
    )
    added = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True).stdout.split()  # fmt: skip
    heavy = ("rnnkit.train", "rnnkit.tasks", "rnnkit.cli", "rnnkit.data", "rnnkit.models",
             "tqdm", "safetensors", "tokenizers", "sklearn", "pandas", "matplotlib")  # fmt: skip
    assert not [m for m in added if m.startswith(heavy)], added
    assert "torch._dynamo" not in added, "import rnnkit imported Dynamo (2 s of every start)"
    lazy = "import rnnkit; print(rnnkit.fit.__module__, rnnkit.load_run.__module__)"
    out = subprocess.run([sys.executable, "-c", lazy], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["rnnkit.runs.driver", "rnnkit.runs.driver"]


def test_the_command_line_starts_without_the_libraries_only_some_commands_need():
    """``rnnkit --help`` (every command's parser built) loads neither Dynamo nor pandas nor
    matplotlib: together 3 of the 7 seconds every command took to start (AMD EPYC Zen 3)."""
    code = (
        "import sys, runpy; sys.argv = ['rnnkit', '--help']\n"
        "try:\n    runpy.run_module('rnnkit.cli.main', run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
        "print('LOADED', ' '.join(sorted(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = out.stdout.rsplit("LOADED", 1)[1].split()
    heavy = ("torch._dynamo", "pandas", "matplotlib")
    assert not [m for m in loaded if m.split(".")[0] in heavy or m.startswith(heavy)], [
        m for m in loaded if m.startswith(heavy)
    ]
