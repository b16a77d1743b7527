"""Data-parallel training (DDP, gloo): identical weights on every rank after every step, and a
validation loss no worse than one process trained on the same tokens."""

import torch

from rnnkit.data import TokenStream, eval_stream
from rnnkit.models import LanguageModel, LanguageModelConfig
from rnnkit.tasks.lm import lm_loss
from rnnkit.train.distributed import launch, rank_world
from rnnkit.train.trainer import TrainConfig, Trainer

V, STEPS = 13, 8


def _worker(out: str) -> None:
    rank, world = rank_world()
    torch.manual_seed(0)
    m = LanguageModel(LanguageModelConfig(vocab_size=V, hidden_size=16, num_layers=2, embed_dim=6))
    ids = torch.randint(0, V, (4000,), generator=torch.Generator().manual_seed(1))
    ids = (ids.cumsum(0) % V).clone()  # a learnable sequence, not pure noise
    train = TokenStream(ids[:3000], batch_size=8, seq_len=10, rank=rank, world_size=world)
    val = eval_stream(ids[3000:], 8, 10)
    trace = []
    config = TrainConfig(max_steps=STEPS, eval_every=1000, progress=False, lr=1e-2)
    t = Trainer(
        m,
        lm_loss,
        train,
        val,
        config=config,
        on_step=lambda tr: trace.append(torch.cat([p.detach().flatten() for p in m.parameters()])),
    )
    t.fit()
    torch.save({"trace": trace, "val": t.evaluate()["val_loss"]}, f"{out}/w{world}r{rank}.pt")


def test_two_processes_hold_identical_weights_and_learn_as_well(tmp_path):
    launch(_worker, 2, str(tmp_path))
    launch(_worker, 1, str(tmp_path))
    r0, r1 = (torch.load(tmp_path / f"w2r{r}.pt", weights_only=True) for r in (0, 1))
    single = torch.load(tmp_path / "w1r0.pt", weights_only=True)
    assert len(r0["trace"]) == len(r1["trace"]) == STEPS
    for a, b in zip(r0["trace"], r1["trace"], strict=True):
        assert torch.equal(a, b)
    # The two ranks share the global batch of 8 streams, so they see the tokens one process
    # sees; the averaged gradient is the same up to summation order.
    assert r0["val"] <= single["val"] + 1e-4
    torch.testing.assert_close(r0["trace"][-1], single["trace"][-1], rtol=1e-4, atol=1e-5)
