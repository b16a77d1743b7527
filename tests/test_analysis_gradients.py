"""Gradient flow: dL_T/ds_t, step Jacobians and their products against independent references.

References: the Elman chain rule written out by hand in float64 (article 003's
dh_t/dh_{t-1} = diag(1 - h_t^2) W), and autograd through torch.nn.LSTMCell loops. Tolerances
allow for float32 models: rtol 1e-4 on norms that span many orders of magnitude.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from rnnkit.analysis.gradient_flow import gradient_flow, jacobians, state_gradients
from rnnkit.analysis.probe import CELLS, fresh_model, probe_of
from rnnkit.analysis.spectral import spectral_radii
from rnnkit.analysis.stepping import run, zero_state

V, H, T, B = 7, 5, 12, 3


def _ids(seed: int = 0) -> torch.Tensor:
    return torch.randint(0, V, (T + 1, B), generator=torch.Generator().manual_seed(seed))


def _elman_reference(model, ids):
    """Per-sequence ||dL_T/dh_t|| for t = 0..T, ||J_t||_2 and J_t, by hand in float64."""
    p = {k: v.detach().double() for k, v in model.named_parameters()}
    w_ih, w_hh = p["rnn.weight_ih_l0"], p["rnn.weight_hh_l0"]
    b, w_out = p["rnn.bias_ih_l0"] + p["rnn.bias_hh_l0"], p["head.weight"]
    x = F.one_hot(ids[:-1], V).double()  # (T, B, V)
    h = [torch.zeros(B, H, dtype=torch.float64)]
    for t in range(T):
        h.append(torch.tanh(x[t] @ w_ih.T + h[-1] @ w_hh.T + b))
    logits = h[-1] @ w_out.T + p["head.bias"]
    g = (logits.softmax(-1) - F.one_hot(ids[-1], V).double()) @ w_out
    norms = [None] * (T + 1)
    norms[T] = g.norm(dim=1)
    jac = []
    for t in range(T, 0, -1):
        d = 1 - h[t] ** 2  # (B, H): tanh'
        jac.append(d[:, :, None] * w_hh)  # J_t = diag(1 - h_t^2) W, (B, H, H)
        g = (g * d) @ w_hh
        norms[t - 1] = g.norm(dim=1)
    return torch.stack(norms), torch.stack(jac[::-1], 1)  # (T+1, B), (B, T, H, H)


def test_elman_gradient_norms_match_the_hand_written_chain_rule():
    model = fresh_model("rnn", V, H, seed=1)
    ids = _ids()
    grads, _, _ = state_gradients(probe_of(model), ids)
    ref_norms, _ = _elman_reference(model, ids)
    got = grads.double().norm(dim=2)
    torch.testing.assert_close(got, ref_norms, rtol=1e-4, atol=0)


def test_elman_jacobians_and_products_match_the_hand_written_ones():
    model = fresh_model("rnn", V, H, seed=2)
    ids = _ids(1)
    probe = probe_of(model)
    _, states, _ = state_gradients(probe, ids)
    _, ref_jac = _elman_reference(model, ids)
    jac = jacobians(probe, ids, states, B).double()
    torch.testing.assert_close(jac, ref_jac, rtol=1e-4, atol=1e-6)
    r = gradient_flow(probe, ids, samples=B)
    ref_norm = torch.linalg.matrix_norm(ref_jac, ord=2)  # (B, T)
    expect = ref_norm.log().mean(0).exp()
    np.testing.assert_allclose(r["jacobian_norm"], expect.numpy(), rtol=1e-4)
    prod = torch.eye(H, dtype=torch.float64).expand(B, H, H)
    expect_prod = [1.0] * (T + 1)
    for t in range(T, 0, -1):
        prod = prod @ ref_jac[:, t - 1]
        expect_prod[t - 1] = float(torch.linalg.matrix_norm(prod, ord=2).log().mean().exp())
    np.testing.assert_allclose(r["product_norm"], expect_prod, rtol=1e-4)
    ref_norms, _ = _elman_reference(model, ids)
    np.testing.assert_allclose(r["grad_norm"], ref_norms.log().mean(1).exp(), rtol=1e-4)


def test_lstm_state_gradients_match_autograd_through_torch_lstm_cells():
    """Two layers, s_t = [h^1, h^2, c^1, c^2]: a torch.nn.LSTMCell loop whose steps read and
    write one concatenated state tensor, so autograd's gradient of each is dL_T/ds_t taken
    through the transition s_t -> s_{t+1} (dL_T/dh^1_t then excludes the path h^1_t -> h^2_t
    inside step t, which belongs to dL_T/dh^2_t)."""
    model = fresh_model("lstm", V, H, layers=2, forget_bias=1.0, seed=3)
    ids = _ids(2)
    grads, _, _ = state_gradients(probe_of(model), ids)
    cells = [torch.nn.LSTMCell(V if k == 0 else H, H) for k in range(2)]
    for k, cell in enumerate(cells):
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(cell, name).data.copy_(getattr(model.rnn, f"{name}_l{k}"))
    x = F.one_hot(ids[:-1], V).float()
    s = torch.zeros(B, 4 * H, requires_grad=True)  # s_0
    kept = [s]
    for t in range(T):
        h1, h2, c1, c2 = s.split(H, 1)
        h1, c1 = cells[0](x[t], (h1, c1))
        h2, c2 = cells[1](h1, (h2, c2))
        s = torch.cat([h1, h2, c1, c2], 1)  # (B, 4H)
        s.retain_grad()
        kept.append(s)
    F.cross_entropy(model.head(s.split(H, 1)[1]), ids[-1], reduction="sum").backward()
    ref = torch.stack([s.grad for s in kept])  # (T+1, B, 4H)
    torch.testing.assert_close(grads, ref, rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("cell", CELLS)
def test_every_cell_obeys_the_chain_rule_through_its_jacobians(cell):
    """dL_T/ds_t = dL_T/ds_T J_T ... J_{t+1}, with both sides measured independently."""
    probe = probe_of(fresh_model(cell, V, H, layers=2, seed=4))
    ids = _ids(3)
    grads, states, _ = state_gradients(probe, ids)
    jac = jacobians(probe, ids, states, 1)[0].double()  # (T, S, S)
    g = grads[T, 0].double()
    for t in range(T, 0, -1):
        g = g @ jac[t - 1]
        torch.testing.assert_close(g, grads[t - 1, 0].double(), rtol=1e-4, atol=1e-9)


@pytest.mark.parametrize("cell", CELLS)
def test_stepping_gives_the_whole_sequence_outputs(cell):
    model = fresh_model(cell, V, H, layers=2, seed=5)
    probe = probe_of(model)
    ids = _ids(4)
    x = probe.encode(ids[:-1])
    ys, states = run(probe.rnn, x, zero_state(probe.rnn, B, x))
    with torch.no_grad():
        whole, _ = model.rnn(x.transpose(0, 1))  # batch_first
    torch.testing.assert_close(ys.detach(), whole.transpose(0, 1), rtol=1e-5, atol=1e-6)
    assert len(states) == T + 1


def test_spectral_radius_matches_numpy_per_gate():
    model = fresh_model("gru", V, H, seed=6)
    radii = spectral_radii(model.rnn)
    w = model.rnn.weight_hh_l0.detach().double().numpy()
    for g, gate in enumerate("rzn"):
        block = w[g * H : (g + 1) * H]
        assert radii[f"weight_hh_l0[{gate}]"] == pytest.approx(
            np.abs(np.linalg.eigvals(block)).max(), rel=1e-9
        )


def test_gradients_command_on_fresh_cells_and_on_a_trained_run(tmp_path, capsys):
    from rnnkit.cli.main import main
    from rnnkit.runs.lm import train_lm

    out = tmp_path / "fresh"
    args = ["gradients", "--cell", "rnn", "--cell", "lstm", "--length", "8", "--hidden", "6"]
    assert main([*args, "--batch-size", "3", "--samples", "2", "--out", str(out)]) == 0
    data = json.loads((out / "gradients.json").read_text())
    assert sorted(data) == ["lstm (fresh, forget bias 1)", "rnn (fresh)"]
    r = data["rnn (fresh)"]
    assert len(r["grad_norm"]) == len(r["product_norm"]) == 9 and len(r["jacobian_norm"]) == 8
    assert r["product_norm"][8] == 1.0 and "weight_hh_l0" in r["spectral_radius"]
    assert (out / "gradients.png").read_bytes()[:4] == b"\x89PNG"
    run = tmp_path / "run"
    train_lm(
        out=run,
        cell="gru",
        hidden_size=8,
        num_layers=1,
        embed_dim=4,
        max_steps=2,
        seq_len=10,
        batch_size=2,
        eval_every=2,
        progress=False,
    )
    assert main(["gradients", str(run), "--length", "6", "--out", str(tmp_path / "t")]) == 0
    (name,) = json.loads((tmp_path / "t" / "gradients.json").read_text())
    assert "trained" in name and "gru" in name
    assert main(["gradients", "--cell", "rnn", "--length", "0"]) == 2
    assert capsys.readouterr().err.startswith("rnnkit gradients: error:")
