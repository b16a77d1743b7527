"""Bad arguments and inputs: rnnkit raises what torch.nn raises, side by side.

Each case runs on torch.nn and on rnnkit. rnnkit's exception must be an instance of torch.nn's
exception type (so ``except ValueError`` code keeps working) and of ``RnnkitError`` (so the
command line reports it as one line), and its message must name the problem.
"""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_sequence

import rnnkit
from rnnkit.errors import RnnkitError

F64 = torch.float64


def _raised(fn) -> BaseException:
    try:
        fn()
    except Exception as exc:  # the test is about which exception, so catch them all
        return exc
    raise AssertionError("no exception raised")


def assert_same_error(make_call, must_contain: str) -> None:
    """make_call(namespace) -> callable; namespace is torch.nn or rnnkit."""
    expected = _raised(make_call(nn))
    got = _raised(make_call(rnnkit))
    assert isinstance(got, type(expected)), f"{type(got).__name__} is not a {type(expected)}"
    assert isinstance(got, RnnkitError), f"{type(got).__mro__} is not an RnnkitError"
    assert must_contain in str(got), f"{must_contain!r} not in {str(got)!r}"


# (id, family, constructor kwargs beyond (input_size=4, hidden_size=5), must_contain)
CONSTRUCTOR_CASES = [
    ("hidden_0", "RNN", dict(hidden_size=0), "hidden_size must be greater than zero"),
    ("input_0", "GRU", dict(input_size=0), "input_size must be greater than zero"),
    ("layers_0", "LSTM", dict(num_layers=0), "num_layers must be greater than zero"),
    ("layers_float", "GRU", dict(num_layers=1.5), "float"),
    ("input_float", "LSTM", dict(input_size=4.0), "input_size should be of type int"),
    ("hidden_str", "RNN", dict(hidden_size="5"), "hidden_size should be of type int"),
    ("bias_int", "GRU", dict(bias=1), "bias should be of type bool"),
    ("batch_first_str", "LSTM", dict(batch_first="yes"), "batch_first should be of type bool"),
    ("dropout_big", "RNN", dict(dropout=1.5), "dropout should be a number in range [0, 1]"),
    ("dropout_neg", "LSTM", dict(dropout=-0.1), "dropout should be a number"),
    ("dropout_bool", "GRU", dict(dropout=True), "dropout should be a number"),
    ("dropout_str", "RNN", dict(dropout="0.1"), "dropout should be a number"),
    ("proj_eq_hidden", "LSTM", dict(proj_size=5), "proj_size has to be smaller than hidden_size"),
    ("proj_gt_hidden", "LSTM", dict(proj_size=9), "proj_size has to be smaller than hidden_size"),
    ("proj_neg", "LSTM", dict(proj_size=-1), "proj_size should be a positive integer"),
    ("proj_on_rnn", "RNN", dict(proj_size=2), "proj_size argument is only supported for LSTM"),
    ("proj_on_gru", "GRU", dict(proj_size=2), "proj_size argument is only supported for LSTM"),
    ("nonlinearity", "RNN", dict(nonlinearity="sigmoid"), "Unknown nonlinearity 'sigmoid'"),
    ("unknown_kwarg", "GRU", dict(foo=1), "foo"),
]


@pytest.mark.parametrize("family,kwargs,must_contain", [c[1:] for c in CONSTRUCTOR_CASES],
                         ids=[c[0] for c in CONSTRUCTOR_CASES])  # fmt: skip
def test_constructor_errors_match_torch(family, kwargs, must_contain):
    args = dict(input_size=4, hidden_size=5) | kwargs
    assert_same_error(lambda ns: lambda: getattr(ns, family)(**args), must_contain)


@pytest.mark.parametrize("family", ["RNN", "LSTM", "GRU"])
def test_dropout_with_one_layer_warns_like_torch(family):
    for ns in (nn, rnnkit):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            getattr(ns, family)(4, 5, dropout=0.5)
        assert any("non-zero dropout expects num_layers greater than 1" in str(w.message)
                   for w in caught), ns  # fmt: skip


def _state(family, n, batch, h=5, c=5, dtype=F64):
    lead = (n,) if batch is None else (n, batch)
    if family == "LSTM":
        return (torch.zeros(*lead, h, dtype=dtype), torch.zeros(*lead, c, dtype=dtype))
    return torch.zeros(*lead, h, dtype=dtype)


def _packed(features=4, dtype=F64):
    return pack_sequence(
        [torch.zeros(3, features, dtype=dtype), torch.zeros(2, features, dtype=dtype)]
    )


# (id, input, hx (None, or a function of the family), must_contain); modules are (4, 5, 2 layers)
FORWARD_CASES = [
    ("input_1d", torch.zeros(4, dtype=F64), None, "Expected input to be 2D or 3D, got 1D"),
    ("input_4d", torch.zeros(2, 3, 3, 4, dtype=F64), None, "Expected input to be 2D or 3D"),
    ("features", torch.zeros(6, 3, 7, dtype=F64), None, "input_size. Expected 4, got 7"),
    ("features_unbatched", torch.zeros(6, 7, dtype=F64), None, "Expected 4, got 7"),
    ("dtype", torch.zeros(6, 3, 4, dtype=torch.float32), None, "does not match weight dtype"),
    ("seq_len_0", torch.zeros(0, 3, 4, dtype=F64), None, "sequence length"),
    ("hx_batch", torch.zeros(6, 3, 4, dtype=F64), lambda f: _state(f, 2, 2), "Expected hidden"),
    ("hx_layers", torch.zeros(6, 3, 4, dtype=F64), lambda f: _state(f, 1, 3), "Expected hidden"),
    ("hx_size", torch.zeros(6, 3, 4, dtype=F64), lambda f: _state(f, 2, 3, h=6), "Expected hidden"),
    ("hx_rank_batched", torch.zeros(6, 3, 4, dtype=F64), lambda f: _state(f, 2, None), "3-D"),
    ("hx_rank_unbatched", torch.zeros(6, 4, dtype=F64), lambda f: _state(f, 2, 1), "2-D"),
    ("hx_dtype", torch.zeros(6, 3, 4, dtype=F64),
     lambda f: _state(f, 2, 3, dtype=torch.float32), "dtype"),
    ("packed_hx_batch", _packed(), lambda f: _state(f, 2, 3), "Expected hidden"),
    ("packed_features", _packed(7), None, "input_size. Expected 4, got 7"),
]  # fmt: skip
LSTM_CASES = [
    ("cell_size", torch.zeros(6, 3, 4, dtype=F64), lambda f: _state(f, 2, 3, c=4), "hidden[1]"),
]


@pytest.mark.parametrize("family", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("x,hx,must_contain", [c[1:] for c in FORWARD_CASES],
                         ids=[c[0] for c in FORWARD_CASES])  # fmt: skip
def test_forward_errors_match_torch(family, x, hx, must_contain):
    state = None if hx is None else hx(family)

    def make_call(ns):
        module = getattr(ns, family)(4, 5, num_layers=2, dtype=F64)
        return lambda: module(x, state)

    assert_same_error(make_call, must_contain)


@pytest.mark.parametrize("x,hx,must_contain", [c[1:] for c in LSTM_CASES],
                         ids=[c[0] for c in LSTM_CASES])  # fmt: skip
def test_lstm_cell_state_errors_match_torch(x, hx, must_contain):
    def make_call(ns):
        module = ns.LSTM(4, 5, num_layers=2, dtype=F64)
        return lambda: module(x, hx("LSTM"))

    assert_same_error(make_call, must_contain)


@pytest.mark.parametrize("family", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize(
    "kwargs,must_contain",
    [
        (dict(init_state="random"), "init_state must be one of ('zeros', 'learned')"),
        (dict(kernel="cuda"), "kernel must be None or one of ('reference', 'cpu')"),
    ],
)
def test_bad_extras_are_value_errors(family, kwargs, must_contain):
    with pytest.raises(ValueError, match=r"must be") as info:
        getattr(rnnkit, family)(4, 5, **kwargs)
    assert isinstance(info.value, RnnkitError)
    assert must_contain in str(info.value)


# Single-step cells: (id, family, input, hx, must_contain); cells are (4, 5)
def _h(*shape, dtype=F64):
    return torch.zeros(*shape, dtype=dtype)


CELL_CASES = [
    ("input_3d", "GRUCell", _h(2, 3, 4), None, "Expected input to be 1D or 2D, got 3D"),
    ("hidden_3d", "RNNCell", _h(2, 4), _h(1, 2, 5), "Expected hidden to be 1D or 2D"),
    ("hx_3d", "LSTMCell", _h(2, 4), (_h(1, 2, 5), _h(2, 5)), "Expected hx[0] to be 1D or 2D"),
    ("features", "RNNCell", _h(2, 7), None, "input has inconsistent input_size: got 7"),
    ("features_lstm", "LSTMCell", _h(2, 7), None, "input has inconsistent input_size: got 7"),
    ("hidden_size", "GRUCell", _h(2, 4), _h(2, 6), "hidden0 has inconsistent hidden_size"),
    ("cell_size", "LSTMCell", _h(2, 4), (_h(2, 5), _h(2, 6)), "hidden1 has inconsistent"),
    ("batch", "LSTMCell", _h(2, 4), (_h(3, 5), _h(3, 5)), "doesn't match hidden0 batch size 3"),
    ("unbatched_vs_batched", "GRUCell", _h(4), _h(2, 5), "unbatched"),
    ("batched_vs_unbatched", "RNNCell", _h(2, 4), _h(5), "batched"),
    ("dtype", "GRUCell", _h(2, 4, dtype=torch.float32), None, "dtype"),
    ("hx_dtype", "RNNCell", _h(2, 4), _h(2, 5, dtype=torch.float32), "dtype"),
]


@pytest.mark.parametrize("family,x,hx,must_contain", [c[1:] for c in CELL_CASES],
                         ids=[c[0] for c in CELL_CASES])  # fmt: skip
def test_cell_errors_match_torch(family, x, hx, must_contain):
    def make_call(ns):
        cell = getattr(ns, family)(4, 5, dtype=F64)
        return lambda: cell(x, hx)

    assert_same_error(make_call, must_contain)


def test_cell_unknown_nonlinearity_fails_at_forward_like_torch():
    assert_same_error(
        lambda ns: lambda: ns.RNNCell(4, 5, nonlinearity="gelu")(torch.zeros(2, 4)),
        "Unknown nonlinearity: gelu",
    )
