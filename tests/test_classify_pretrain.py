"""Pretraining the classifier's encoder as a language model (ULMFiT, ``--pretrain-steps``): no
prediction sees the token it predicts, the pretrained weights are the ones the classifier
starts from, the command end to end (the run loads without pickle and predicts), and bad
values answered with one line and exit code 2."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from rnnkit.cli.main import main
from rnnkit.errors import RnnkitError
from rnnkit.models.classifier import ClassifierConfig
from rnnkit.models.encoder_lm import IGNORE, EncoderLM
from rnnkit.runs.driver import load_run, make_task
from rnnkit.tasks.classify import lm_loss
from rnnkit.train import checkpoint as ckpt
from tests.test_classify import write_reviews


def _config(**kw) -> ClassifierConfig:
    base = {"vocab_size": 12, "embed_dim": 5, "hidden_size": 4, "bidirectional": True,
            "dropout": 0.0}  # fmt: skip
    return ClassifierConfig.from_dict({**base, **kw})


@pytest.mark.parametrize("bidirectional", [False, True])
def test_no_prediction_sees_its_target(bidirectional):
    """Change the token at step k: a forward prediction made before k (of a token up to k) and
    a backward one made after k (of a token from k on) must not move; padding adds nothing."""
    torch.manual_seed(0)
    model = EncoderLM(_config(bidirectional=bidirectional), outputs=10).eval()
    x = torch.tensor([[1, 2, 3, 4, 5, 6], [7, 8, 9, 0, 0, 0]])
    lengths = torch.tensor([6, 3])
    k = 3
    y = x.clone()
    y[0, k] = 11  # past `outputs`: that target is skipped
    a, ta = model(x, lengths)
    b, tb = model(y, lengths)
    n = 5 + 2  # predictions per direction: L - 1 per row
    assert a.shape == (n * (2 if bidirectional else 1), 10)
    # forward rows: row 0's steps 0..4 predict tokens 1..5, then row 1's steps 0..1
    assert ta[:n].tolist() == [2, 3, 4, 5, 6, 8, 9]
    assert tb[k - 1] == IGNORE
    torch.testing.assert_close(a[:k], b[:k])  # steps before k: they predict tokens 1..k
    assert not torch.allclose(a[k], b[k])  # step k reads the changed token
    torch.testing.assert_close(a[5:7], b[5:7])  # the other row
    if bidirectional:
        # backward rows: row 0's steps 1..5 predict tokens 0..4 (masked pairs, row-major)
        fwd_then_bwd = ta[n:].tolist()
        assert fwd_then_bwd == [1, 2, 3, 4, 5, 7, 8]
        torch.testing.assert_close(a[n + k :], b[n + k :])  # made after k: not moved
        assert not torch.allclose(a[n + k - 1], b[n + k - 1])  # step k predicts token k-1
    # padding: row 1 alone gives the same predictions
    alone, _ = model(x[1:, :3], lengths[1:])
    torch.testing.assert_close(alone[:2], a[5:7])


def test_loss_skips_targets_past_outputs_and_empty_batches():
    torch.manual_seed(0)
    model = EncoderLM(_config(), outputs=4)
    x = torch.tensor([[1, 2, 9, 3]])
    scores, targets = model(x, torch.tensor([4]))
    out = lm_loss(model, (x, torch.tensor([4]), None), None)
    keep = targets != IGNORE
    assert out.count == int(keep.sum()) == 4  # 9 skipped both ways
    torch.testing.assert_close(out.loss, F.cross_entropy(scores[keep], targets[keep]))
    single = lm_loss(model, (torch.tensor([[1]]), torch.tensor([1]), None), None)
    assert single.count == 0 and float(single.loss.detach()) == 0.0


def test_the_classifier_starts_from_the_pretrained_encoder(tmp_path):
    data = tmp_path / "r.csv"
    write_reviews(data, n=60)
    task = make_task("classify", {"data": str(data), "pretrain_steps": 3},
                     {"hidden_size": 6, "embed_dim": 6, "ngram_buckets": 32})  # fmt: skip
    splits = task.prepare()
    spec = task.pretraining(splits)
    assert spec.steps == 3 and spec.monitor == ("val_loss", "min")
    lm = spec.build()
    torch.manual_seed(1)
    model = task.build_model()
    head = model.head.weight.clone()
    task.start_from(model, lm.state_dict())
    for name, p in model.named_parameters():
        if name.startswith("head."):
            assert torch.equal(p, head if name == "head.weight" else p)
        else:
            assert torch.equal(p, lm.state_dict()["encoder." + name]), name
    train, val = spec.batches(0)
    assert len(train) >= 1 and len(val) >= 1
    with pytest.raises(RnnkitError, match="do not fit"):
        task.start_from(model, {"encoder.embed.weight": torch.zeros(2, 2)})


def test_pretrained_run_end_to_end_loads_and_predicts(tmp_path, capsys):
    """--pretrain-steps with unlabelled texts: results.json says what pretraining took, the
    run folder keeps its checkpoint, and the run loads (safetensors) and predicts."""
    data, out = tmp_path / "reviews.csv", tmp_path / "run"
    write_reviews(data, n=200)
    extra = tmp_path / "more.txt"
    extra.write_text("a great film\nthe awful plot\n\nvery great story\n")
    argv = ["train", "classify", "--data", str(data), "--out", str(out), "--epochs", "6",
            "--eval-every", "20", "--hidden", "16", "--embed", "16", "--lr", "0.01",
            "--pretrain-steps", "15", "--unlabelled", str(extra), "--quiet", "--json"]  # fmt: skip
    assert main(argv) == 0
    results = json.loads(capsys.readouterr().out)
    assert results["pretraining"]["steps"] == 15 and results["pretraining"]["seconds"] > 0
    assert results["test"]["accuracy"] >= 0.9
    assert ckpt.best_checkpoint(out / "pretrain") is not None
    config = json.loads((out / "config.json").read_text())
    assert config["data"]["pretrain_steps"] == 15
    run = load_run(out)
    assert run.evaluate()["accuracy"] == results["test"]["accuracy"]
    assert main(["predict", str(out), "--json", "the plot was great", "awful film"]) == 0
    assert [p["label"] for p in json.loads(capsys.readouterr().out)] == ["pos", "neg"]
    # resumed from its checkpoint: not pretrained again, and still reported
    summary = out / "pretrain" / "pretraining.json"
    before = summary.stat().st_mtime_ns
    assert main(["train", "classify", "--resume", "--out", str(out), "--epochs", "7"]) == 0
    assert "encoder pretrained as a language model: 15 steps" in capsys.readouterr().out
    assert summary.stat().st_mtime_ns == before
    again = json.loads((out / "results.json").read_text())
    assert again["pretraining"] == results["pretraining"]


def _bad(argv, capsys, match):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and match in err, err


def test_bad_pretraining_values_are_one_line_and_exit_2(tmp_path, capsys):
    data = tmp_path / "r.csv"
    write_reviews(data, n=40)
    out = tmp_path / "o"
    base = ["train", "classify", "--data", str(data), "--out", str(out), "--quiet"]
    _bad([*base, "--pretrain-steps", "-1"], capsys, "--pretrain-steps: -1 is out of range")
    _bad([*base, "--unlabelled", str(data)], capsys, "give pretrain_steps too")
    _bad([*base, "--pretrain-steps", "5", "--unlabelled", str(tmp_path / "none.txt")], capsys,
         "not found")  # fmt: skip
    _bad([*base, "--pretrain-steps", "5", "--num-layers", "2"], capsys, "needs num_layers 1")
    _bad(["train", "classify", "--dataset", "digits-rows", "--pretrain-steps", "5", "--out",
          str(out), "--quiet"], capsys, "needs text")  # fmt: skip
    assert not out.exists()  # every refusal came before the run folder
