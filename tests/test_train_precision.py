"""The trainer's ``precision`` setting: bf16 autocast with float32 weights, gradients, loss and
optimiser state; ``auto`` from the CPU's flags, said once."""

from __future__ import annotations

import pytest
import torch

from rnnkit.data import TokenStream
from rnnkit.errors import RnnkitError
from rnnkit.models import LanguageModel, LanguageModelConfig
from rnnkit.tasks.lm import lm_loss
from rnnkit.train import precision as amp
from rnnkit.train.steps import StepOutput
from rnnkit.train.trainer import TrainConfig, Trainer

V = 11


def stream(bs=4, T=6):
    g = torch.Generator().manual_seed(5)
    return TokenStream(torch.randint(0, V, (600,), generator=g), bs, T)


def lm(cell="lstm"):
    torch.manual_seed(0)
    return LanguageModel(
        LanguageModelConfig(vocab_size=V, cell=cell, hidden_size=12, num_layers=2, embed_dim=5)
    )


def test_unknown_precision_is_one_clear_error():
    with pytest.raises(RnnkitError, match="precision must be one of fp32, bf16, auto"):
        TrainConfig(max_steps=1, precision="fp8").validate()


@pytest.mark.parametrize(
    "flags,expected",
    [(["amx_bf16"], torch.bfloat16), (["avx512_bf16"], torch.bfloat16), ([], None)],
)
def test_auto_follows_the_cpu_flags(monkeypatch, flags, expected):
    monkeypatch.setattr(amp, "cpu_bf16_flags", lambda: flags)
    dtype, text = amp.resolve("auto", torch.device("cpu"))
    assert dtype == expected
    assert text.startswith(f"precision auto -> {'bf16' if expected else 'fp32'}")


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_bf16_training_keeps_float32_state(cell, capsys):
    model = lm(cell)
    seen = {}

    def loss_fn(m, batch, state):
        out = lm_loss(m, batch, state)
        seen.setdefault("state_in", state)
        if state is not None:
            seen["state_in"] = state
        seen["loss"] = out.loss.dtype
        seen["autocast"] = torch.is_autocast_enabled("cpu")
        return StepOutput(out.loss, out.count, out.state)

    config = TrainConfig(max_steps=4, eval_every=2, progress=False, precision="bf16")
    trainer = Trainer(model, loss_fn, stream(), stream(2, 6), config=config)
    assert "rnnkit: precision bf16" in capsys.readouterr().err
    before = [p.detach().clone() for p in model.parameters()]
    trainer.fit()
    assert seen["autocast"] and seen["loss"] == torch.float32
    carried = seen["state_in"]
    carried = carried if isinstance(carried, tuple) else (carried,)
    assert all(s.dtype == torch.float32 for s in carried)  # a bf16 state is not carried
    for p, b in zip(model.parameters(), before, strict=True):
        assert p.dtype == torch.float32 and p.grad.dtype == torch.float32
        assert not torch.equal(p, b)
    for state in trainer.optimizer.state.values():
        assert all(v.dtype == torch.float32 for v in state.values() if v.is_floating_point())


def test_bf16_loss_follows_fp32():
    """A few steps in bf16 follow the float32 run closely (same data, same initialisation)."""
    losses = {}
    for precision in ("fp32", "bf16"):
        config = TrainConfig(max_steps=6, eval_every=6, progress=False, precision=precision)
        out = Trainer(lm(), lm_loss, stream(), stream(2, 6), config=config).fit()
        losses[precision] = out["val_loss"]
    assert abs(losses["bf16"] - losses["fp32"]) < 0.02 * losses["fp32"]


@pytest.mark.parametrize("task", ["classify", "tag", "forecast", "lm", "reorder"])
def test_every_task_trains_in_bf16(task, tmp_path, capsys):
    """--precision bf16 is a flag of every task and trains it to a finite result."""
    import json

    from rnnkit.cli.main import main
    from tests.test_task_contract import CASES

    flags, _, _, _ = CASES[task](tmp_path)
    flags = [str(f) for f in flags]
    if "--epochs" in flags:  # one pass is enough to show it runs
        flags[flags.index("--epochs") + 1] = "1"
    argv = ["train", task, *flags, "--hidden-size", "12", "--num-layers", "1",
            "--precision", "bf16", "--out", str(tmp_path / "run"), "--quiet", "--json"]  # fmt: skip
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "precision bf16" in captured.err
    results = json.loads(captured.out)
    assert results["training"]["steps"] >= 1
