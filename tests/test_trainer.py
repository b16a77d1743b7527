"""The Trainer: exact resume, carried state, clipping, early stopping, damaged checkpoints."""

import json
import time
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

from rnnkit.data import TokenStream
from rnnkit.errors import RnnkitError
from rnnkit.models import LanguageModel, LanguageModelConfig
from rnnkit.tasks.lm import lm_loss
from rnnkit.train.checkpoint import (
    latest_checkpoint,
    load_train_state,
    load_weights,
    prepare_run_dir,
    resolve_checkpoint,
)
from rnnkit.train.steps import ListBatches, StepOutput
from rnnkit.train.trainer import TrainConfig, Trainer

V = 11


def stream(bs=4, T=6):
    g = torch.Generator().manual_seed(5)
    return TokenStream(torch.randint(0, V, (600,), generator=g), bs, T)


def model(seed=0, cell="lstm"):
    torch.manual_seed(seed)
    cfg = LanguageModelConfig(
        vocab_size=V, cell=cell, hidden_size=12, num_layers=2, embed_dim=5, dropout=0.3
    )
    return LanguageModel(cfg)


def cfg(**kw):
    base = dict(eval_every=3, log_every=2, progress=False, schedule="cosine", warmup_steps=2)
    return TrainConfig(**{**base, **kw})


def run(out, steps, resume=False, total=None, cell="lstm", average=0):
    """Train up to ``steps`` with a schedule planned for ``total`` steps (a kill mid-run)."""
    m = model(cell=cell)
    c = cfg(max_steps=total or steps, average=average)
    if not resume:
        prepare_run_dir(out, "test", False)
    t = Trainer(m, lm_loss, stream(), stream(2, 6), config=c, out_dir=out, resume=resume)
    t.on_step = lambda tr: setattr(tr.config, "max_steps", steps) if tr.step >= steps else None
    t.fit()
    return m, t


@pytest.mark.parametrize(("cell", "average"), [("lstm", 0), ("jordan", 0), ("lstm", 3)])
def test_resume_is_exact(tmp_path, cell, average):
    # 12 steps straight vs 6 steps, a fresh process state, and 6 more resumed from disk; with
    # checkpoint averaging, the ranking carries over and the average is the same.
    straight, a = run(tmp_path / "a", 12, cell=cell, average=average)
    run(tmp_path / "b", 6, total=12, cell=cell, average=average)
    torch.manual_seed(1234)  # a resumed run must not depend on the RNG it starts with
    resumed, t = run(tmp_path / "b", 12, resume=True, cell=cell, average=average)
    assert t.resumed_from == 6
    for (k, a_), b in zip(
        straight.state_dict().items(), resumed.state_dict().values(), strict=True
    ):
        assert torch.equal(a_, b), k
    saved = load_weights(latest_checkpoint(tmp_path / "b"))
    assert all(torch.equal(saved[k], v) for k, v in straight.state_dict().items())
    assert t.ranked == a.ranked
    if average:
        # the same average, kept or left out (worse than the best alone) the same way
        assert resolve_checkpoint(tmp_path / "b").name == resolve_checkpoint(tmp_path / "a").name
        one, two = (load_weights(resolve_checkpoint(tmp_path / d)) for d in "ab")
        assert all(torch.equal(v, two[k]) for k, v in one.items())


def test_the_best_checkpoints_are_kept_and_averaged(tmp_path):
    """With average 3: the three best of six validations stay on disk, their weights' mean
    (computed here from the weights after each step) is validated and, scoring better than
    the best alone, becomes ``best``; the model keeps its own weights and a later run of the
    same folder can resume."""
    values = iter([3.0, 1.0, 2.5, 1.5, 2.0, 4.0, 0.5])  # best three: steps 2, 4, 5

    def metrics_fn(m, data):
        return {"score": next(values)}

    m = model()
    after = {}
    prepare_run_dir(tmp_path, "test", False)
    t = Trainer(m, lm_loss, stream(), stream(2, 6), out_dir=tmp_path, metrics_fn=metrics_fn,
                config=cfg(max_steps=6, eval_every=1, patience=None, monitor="val_score",
                           average=3))  # fmt: skip
    t.on_step = lambda tr: after.update(
        {tr.step: {k: v.clone() for k, v in m.state_dict().items()}}
    )
    summary = t.fit()
    assert summary["best_step"] == 2 and summary["averaged"]["steps"] == [2, 4, 5]
    assert summary["averaged"]["val_score"] == 0.5  # the average was validated, last
    assert summary["averaged"]["kept"]
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == [
        "average", "step-000000002", "step-000000004", "step-000000005", "step-000000006"
    ]  # fmt: skip
    best = load_weights(resolve_checkpoint(tmp_path))
    for k, v in best.items():
        torch.testing.assert_close(v, (after[2][k] + after[4][k] + after[5][k]) / 3)
        assert torch.equal(m.state_dict()[k], after[6][k])
    records = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert records[-1]["averaged_steps"] == [2, 4, 5] and records[-1]["val_score"] == 0.5


@pytest.mark.parametrize(("average_value", "kept"), [(1.0, True), (1.2, False)])
def test_an_average_worse_than_the_best_checkpoint_is_not_used(tmp_path, average_value, kept):
    """An average that validates worse than the best checkpoint alone (a tie keeps it) is
    logged but not installed: ``best`` still names the single best checkpoint."""
    values = iter([3.0, 1.0, 2.5, 1.5, average_value])  # best: step 2, averaged: 2, 4, 3

    def metrics_fn(m, data):
        return {"score": next(values)}

    prepare_run_dir(tmp_path, "test", False)
    t = Trainer(model(), lm_loss, stream(), stream(2, 6), out_dir=tmp_path, metrics_fn=metrics_fn,
                config=cfg(max_steps=4, eval_every=1, patience=None, monitor="val_score",
                           average=3))  # fmt: skip
    summary = t.fit()
    assert summary["averaged"]["steps"] == [2, 4, 3] and summary["averaged"]["kept"] is kept
    assert resolve_checkpoint(tmp_path).name == ("average" if kept else "step-000000002")
    assert (tmp_path / "ckpt" / "average").is_dir() is kept
    records = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert records[-1]["kept"] is kept and records[-1]["val_score"] == average_value


def test_plateau_decay_goes_back_to_the_best_and_on_slower(tmp_path):
    """After each validation worse than the best: the model and the optimiser back to the
    best checkpoint, lr times plateau_decay from the next step (on top of the schedule); the
    scale is saved with the checkpoint for --resume and the log says what happened."""
    values = iter([1.0, 2.0, 0.5, 3.0])  # worse than the best at the 2nd and 4th validation
    rates, after = [], {}
    t = None

    def metrics_fn(m, data):
        rates.append(t.optimizer.param_groups[0]["lr"])  # the rate the last step used
        return {"score": next(values)}

    m = model()
    prepare_run_dir(tmp_path, "test", False)
    t = Trainer(m, lm_loss, stream(), stream(2, 6), out_dir=tmp_path, metrics_fn=metrics_fn,
                config=cfg(max_steps=4, eval_every=1, patience=None, monitor="val_score",
                           lr=0.1, schedule="constant", plateau_decay=0.5))  # fmt: skip
    t.on_step = lambda tr: after.update(
        {tr.step: {k: v.clone() for k, v in m.state_dict().items()}}
    )
    t.fit()
    assert rates == pytest.approx([0.1, 0.1, 0.05, 0.05])
    assert t.optimizer.param_groups[0]["lr"] == pytest.approx(0.025) and t.lr_scale == 0.25
    for k, v in m.state_dict().items():  # back to step 3's weights after the 4th validation
        assert torch.equal(v, after[3][k]) and not torch.equal(v, after[4][k])
    assert load_train_state(latest_checkpoint(tmp_path))["lr_scale"] == 0.25
    records = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    backs = [(r["step"], r["back_to_step"], r["lr_scale"]) for r in records if "lr_scale" in r]
    assert backs == [(2, 1, 0.5), (4, 3, 0.25)]


def test_state_is_carried_across_chunks_and_detached():
    seen = []

    def loss_fn(m, batch, state):
        seen.append(state)
        out = lm_loss(m, batch, state)
        return out

    src = stream()
    t = Trainer(model(), loss_fn, src, config=cfg(max_steps=len(src) + 2, eval_every=1000))
    t.fit()
    assert seen[0] is None and seen[len(src)] is None  # reset at each epoch
    h, c = seen[1]
    assert h.shape == (2, 4, 12) and not h.requires_grad and h.abs().sum() > 0


def test_gradients_are_clipped_by_total_norm():
    norms = []
    w = torch.nn.Parameter(torch.ones(3))

    class Big(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = w

    m = Big()

    def loss_fn(model, batch, state):
        return StepOutput((model.w * 1000.0).sum(), 1)

    opt_steps = []
    t = Trainer(
        m,
        loss_fn,
        ListBatches([0]),
        config=cfg(
            max_steps=1,
            optimizer="sgd",
            lr=1.0,
            momentum=0.0,
            clip=0.5,
            warmup_steps=0,
            schedule="constant",
        ),
    )
    t.on_step = lambda tr: opt_steps.append(w.detach().clone())
    t.fit()
    # SGD with lr 1: the step equals the clipped gradient, whose norm is the clip value.
    norms.append(float((torch.ones(3) - opt_steps[0]).norm()))
    assert norms[0] == pytest.approx(0.5, rel=1e-6)


def test_early_stopping_and_best_checkpoint(tmp_path):
    values = iter([3.0, 2.0, 2.5, 2.6, 2.7, 2.8])

    def metrics_fn(m, data):
        return {"score": next(values)}

    prepare_run_dir(tmp_path, "test", False)
    t = Trainer(
        model(),
        lm_loss,
        stream(),
        stream(2, 6),
        out_dir=tmp_path,
        metrics_fn=metrics_fn,
        config=cfg(max_steps=100, eval_every=1, patience=2, monitor="val_score"),
    )
    summary = t.fit()
    assert summary["steps"] == 4 and summary["stop_reason"]["rule"] == "patience"
    assert summary["best_step"] == 2 and summary["best_value"] == 2.0
    assert resolve_checkpoint(tmp_path).name == "step-000000002"
    records = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["val_score"] for r in records if "val_score" in r] == [3.0, 2.0, 2.5, 2.6]
    assert (tmp_path / "loss.png").read_bytes()[:4] == b"\x89PNG"


def test_list_batches_shuffle_is_a_seeded_permutation():
    src = ListBatches(list(range(10)), seed=3)
    e0 = [src.batch(0, i) for i in range(10)]
    assert sorted(e0) == list(range(10)) and e0 == [src.batch(0, i) for i in range(10)]
    assert e0 != [src.batch(1, i) for i in range(10)]


def test_damaged_checkpoints_are_refused(tmp_path):
    run(tmp_path, 3)
    ck = latest_checkpoint(tmp_path)
    resolve_checkpoint(tmp_path)
    data = (ck / "model.safetensors").read_bytes()
    (ck / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(RnnkitError, match="truncated or was modified"):
        resolve_checkpoint(tmp_path)
    (ck / "model.safetensors").write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    with pytest.raises(RnnkitError, match="truncated or was modified"):
        Trainer(model(), lm_loss, stream(), config=cfg(max_steps=5), out_dir=tmp_path, resume=True)


def test_run_dir_rules(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "precious.txt").write_text("keep me")
    with pytest.raises(RnnkitError, match="already holds files"):
        prepare_run_dir(tmp_path / "x", "lm", False)
    with pytest.raises(RnnkitError, match="no rnnkit run"):
        prepare_run_dir(tmp_path / "x", "lm", True)
    assert (tmp_path / "x" / "precious.txt").read_text() == "keep me"


@pytest.mark.parametrize(
    "kw",
    [
        dict(lr=-1.0, max_steps=1),
        dict(clip=-1.0, max_steps=1),
        dict(),
        dict(max_steps=0),
        dict(optimizer="lbfgs", max_steps=1),
        dict(max_time=float("nan")),
        dict(average=-1, max_steps=1),
    ],
)
def test_bad_config_values(kw):
    with pytest.raises(RnnkitError):
        TrainConfig(**kw).validate()


def test_loss_is_a_weighted_mean_in_evaluation():
    m = model()
    src = stream(2, 7)
    t = Trainer(m, lm_loss, src, src, config=cfg(max_steps=1))
    got = t.evaluate()["val_loss"]
    # Independent: one pass over each row, state carried by the layer itself.
    m.eval()
    with torch.no_grad():
        x = src.data[:, :-1]
        y = src.data[:, 1:]
        logits, _ = m(x)
        want = F.cross_entropy(logits.reshape(-1, V), y.reshape(-1)).item()
    assert got == pytest.approx(want, rel=1e-5)


def test_time_budget_stops_the_run_and_decays_the_rate(monkeypatch):
    # a clock that advances 10 ms at each reading, so the step count does not depend on how busy
    # the machine is: a step reads it twice, the budget holds 30 steps
    now = iter(i * 0.01 for i in range(10**6))
    clock = SimpleNamespace(perf_counter=lambda: next(now), monotonic=time.monotonic)
    monkeypatch.setattr("rnnkit.train.trainer.time", clock)
    lrs = []
    t = Trainer(model(), lm_loss, stream(), config=cfg(max_time=0.3, eval_every=1000))
    t.on_step = lambda tr: lrs.append(tr.optimizer.param_groups[0]["lr"])
    summary = t.fit()
    assert summary["stop_reason"]["rule"] == "max_time" and summary["elapsed_s"] >= 0.3
    assert lrs[-1] < lrs[len(lrs) // 2] <= 2e-3


def test_a_validation_cut_short_does_not_pick_the_best(tmp_path):
    # the third validation covers fewer items (a time budget stopped its decoding): its better
    # figure is logged but not compared with the full ones
    values = iter([3.0, 2.0, {"score": 1.0, "partial": 1.0}, 2.5])

    def metrics_fn(m, data):
        v = next(values)
        return v if isinstance(v, dict) else {"score": v}

    prepare_run_dir(tmp_path, "test", False)
    t = Trainer(model(), lm_loss, stream(), stream(2, 6), out_dir=tmp_path, metrics_fn=metrics_fn,
                config=cfg(max_steps=4, eval_every=1, monitor="val_score"))  # fmt: skip
    summary = t.fit()
    assert summary["best_step"] == 2 and summary["best_value"] == 2.0
    records = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r.get("val_partial", 0) for r in records if "val_score" in r] == [0, 0, 1, 0]


def test_a_deadline_stops_training_after_one_step_at_least():
    t = Trainer(model(), lm_loss, stream(), config=cfg(max_time=1000, eval_every=1000),
                stop_at=time.monotonic() - 1)  # fmt: skip
    summary = t.fit()
    assert summary["steps"] == 1 and summary["stop_reason"]["rule"] == "max_time"
