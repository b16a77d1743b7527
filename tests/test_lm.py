"""Language-model functions on a tiny trained model: score, complete, generate, evaluate."""

import math

import pytest
import torch

from rnnkit.data import read_text
from rnnkit.errors import RnnkitError
from rnnkit.generate.sampling import sample_next
from rnnkit.models import LanguageModel, LanguageModelConfig
from rnnkit.runs.driver import load_run
from rnnkit.runs.lm import complete, generate, load_lm, score, train_lm

TINY = dict(
    hidden_size=24,
    num_layers=1,
    embed_dim=8,
    seq_len=16,
    batch_size=8,
    eval_every=10,
    progress=False,
)


@pytest.fixture(scope="module")
def char_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("lm")
    (d / "text.txt").write_text(read_text(None)[:20000])
    train_lm(d / "text.txt", out=d / "run", max_steps=30, **TINY)
    return d / "run"


@pytest.fixture(scope="module")
def word_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("lmw")
    (d / "text.txt").write_text(read_text(None)[:40000])
    train_lm(d / "text.txt", out=d / "run", level="word", vocab_size=300, max_steps=10, **TINY)
    return d / "run"


def stepwise_logprob(model: LanguageModel, ids: list[int]) -> float:
    """log p(ids[1:] | ids[0]) by feeding one token at a time through a torch.nn copy."""
    ref = LanguageModel(LanguageModelConfig(**{**model.config.to_dict(), "backend": "torch"}))
    ref.load_state_dict(model.state_dict())
    ref.eval()
    total, state = 0.0, None
    with torch.no_grad():
        for prev, nxt in zip(ids[:-1], ids[1:], strict=True):
            logits, state = ref(torch.tensor([[prev]]), state)
            total += torch.log_softmax(logits[0, 0].double(), -1)[nxt].item()
    return total


@pytest.mark.parametrize("fixture", ["char_run", "word_run"])
def test_score_is_sum_of_tokens_and_matches_a_direct_computation(request, fixture):
    run = request.getfixturevalue(fixture)
    lm = load_lm(run)
    text = "To be, or not to be: that is the question."
    result = score(lm, text)
    per_token = [t["logprob"] for t in result["tokens"]]
    assert result["total_logprob"] == pytest.approx(sum(per_token), abs=1e-9)
    ids = [lm.task.tokenizer.index["\n"]] + lm.task.tokenizer.encode(text)
    assert len(per_token) == len(ids) - 1
    assert [t["token"] for t in result["tokens"]] == [lm.task.tokenizer.token(i) for i in ids[1:]]
    assert result["total_logprob"] == pytest.approx(stepwise_logprob(lm.model, ids), abs=1e-3)


def test_complete_returns_the_top_k_of_the_next_token_distribution(char_run):
    lm = load_lm(char_run)
    got = complete(lm, "To be, or not to b", k=4)
    ids = [lm.task.tokenizer.index["\n"]] + lm.task.tokenizer.encode("To be, or not to b")
    with torch.no_grad():
        probs = lm.model(torch.tensor([ids]))[0][0, -1].softmax(-1)
    top = torch.topk(probs, 4)
    assert [g["token"] for g in got] == [lm.task.tokenizer.token(i) for i in top.indices.tolist()]
    assert [g["prob"] for g in got] == pytest.approx(top.values.tolist(), rel=1e-5)


def test_word_completion_finishes_a_partial_word(word_run):
    got = complete(word_run, "I will th", k=3)
    assert got and all(g["token"].startswith("th") for g in got)
    probs = [g["prob"] for g in got]
    assert probs == sorted(probs, reverse=True)
    assert "<unk>" not in [g["token"] for g in complete(word_run, "I will ", k=50)]


def test_generate_streams_repeatably_and_rejects_unknown_prime(char_run):
    a = "".join(generate(char_run, prime="HAMLET", length=40, seed=7))
    b = "".join(generate(char_run, prime="HAMLET", length=40, seed=7))
    assert a == b and len(a) == 40
    greedy = list(generate(char_run, prime="HAMLET", length=5, temperature=0))
    assert len(greedy) == 5
    with pytest.raises(RnnkitError, match="vocabulary lacks"):
        next(generate(char_run, prime="\u00e9t\u00e9", length=5))


def test_sampling_filters():
    logits = torch.tensor([2.0, 1.0, 0.5, -1.0])
    assert sample_next(logits, temperature=0) == 0
    g = torch.Generator().manual_seed(0)
    assert {sample_next(logits, 1.0, top_k=1, generator=g) for _ in range(20)} == {0}
    # Nucleus: p = softmax = [.61, .22, .14, .03]; top-p 0.7 keeps the first two tokens.
    drawn = {sample_next(logits, 1.0, top_p=0.7, generator=g) for _ in range(200)}
    assert drawn == {0, 1}
    drawn = {sample_next(logits, 1.0, top_k=3, generator=g) for _ in range(300)}
    assert drawn == {0, 1, 2}


def test_evaluate_reports_bits_per_char_and_perplexity(char_run, word_run, tmp_path):
    r = load_run(char_run).evaluate()
    assert r["bits_per_char"] == pytest.approx(r["loss"] / math.log(2))
    assert 0 < r["loss"] < math.log(len(load_lm(char_run).task.tokenizer)) + 0.5
    f = tmp_path / "other.txt"
    f.write_text(read_text(None)[-3000:])
    assert load_run(char_run).evaluate(f)["tokens"] > 2000
    w = load_run(word_run).evaluate()
    assert w["perplexity"] == pytest.approx(math.exp(w["loss"]))


def test_training_lowers_the_validation_loss(char_run):
    import json

    records = [json.loads(x) for x in (char_run / "metrics.jsonl").read_text().splitlines()]
    val = [r["val_loss"] for r in records if "val_loss" in r]
    assert val[-1] < val[0] < math.log(len(load_lm(char_run).task.tokenizer)) + 0.1
