from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metahp import Categorical, Float, Int, SearchSpace
from metahp.errors import InvalidConfigError, InvalidSpaceError


def make_space(log: bool, categorical: bool, integer: bool) -> SearchSpace:
    params: list = [Float("learning_rate", 1e-5, 1e-1, log=log), Float("dropout", 0.0, 0.5)]
    if integer:
        params.append(Int("batch_size", 8, 512, log=log))
        params.append(Int("num_layers", 2, 12, step=2))
    if categorical:
        params.append(Categorical("optimizer", ["adamw", "sgd", "rmsprop"]))
        params.append(Categorical("tied", [True, False]))
    return SearchSpace(params)


SPACES = [make_space(*flags) for flags in itertools.product([False, True], repeat=3)]


@pytest.mark.parametrize("space", SPACES, ids=lambda s: s.signature)
def test_sample_is_valid_and_deterministic(space: SearchSpace) -> None:
    a, b = space.sample(20, seed=3), space.sample(20, seed=3)
    assert a == b
    assert a != space.sample(20, seed=4)
    for config in a:
        assert space.validate(config) == config
        x = space.encode(config)
        assert x.shape == (space.dim,) and np.all((x >= 0) & (x <= 1))


@pytest.mark.parametrize("space", SPACES, ids=lambda s: s.signature)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_decode_encode_round_trip(space: SearchSpace, data: st.DataObject) -> None:
    u = data.draw(st.lists(st.floats(0, 1), min_size=space.dim, max_size=space.dim))
    config = space.decode(u)
    again = space.decode(space.encode(config))
    for name, param in space.items():
        if isinstance(param, Float):
            assert math.isclose(again[name], config[name], rel_tol=1e-9, abs_tol=1e-12)
        else:
            assert again[name] == config[name]


def test_log_scale_encodes_geometric_middle() -> None:
    space = SearchSpace([Float("learning_rate", 1e-4, 1e-2, log=True), Int("batch_size", 16, 256, log=True)])
    assert space.decode([0.5, 0.5]) == pytest.approx({"learning_rate": 1e-3, "batch_size": 64})
    assert space.encode({"learning_rate": 1e-4, "batch_size": 256}).tolist() == pytest.approx([0.0, 1.0])


def test_int_step_snaps_to_grid() -> None:
    p = Int("num_layers", 2, 12, step=2)
    assert {p.from_unit(u) for u in np.linspace(0, 1, 101)} == {2, 4, 6, 8, 10, 12}
    with pytest.raises(InvalidConfigError, match="num_layers"):
        p.validate(5)


@pytest.mark.parametrize(
    ("config", "match"),
    [
        ({"learning_rate": 1.0, "optimizer": "sgd"}, r"learning_rate.*outside the allowed range \[1e-05, 0.1\]"),
        ({"learning_rate": "fast", "optimizer": "sgd"}, "learning_rate.*must be a number"),
        ({"learning_rate": float("nan"), "optimizer": "sgd"}, "learning_rate.*finite"),
        ({"learning_rate": 1e-3, "optimizer": "lion"}, "optimizer.*choose one of 'adamw', 'sgd'"),
        ({"learning_rate": 1e-3}, "optimizer.*missing"),
        ({"learning_rate": 1e-3, "optimizer": "sgd", "momentum": 0.9}, "unknown parameter.*momentum"),
    ],
)
def test_invalid_configs_name_parameter_and_range(config: dict, match: str) -> None:
    space = SearchSpace([Float("learning_rate", 1e-5, 1e-1, log=True), Categorical("optimizer", ["adamw", "sgd"])])
    with pytest.raises(InvalidConfigError, match=match) as info:
        space.validate(config)
    assert info.value.parameter in {"learning_rate", "optimizer", "momentum"}


def test_categorical_does_not_confuse_bool_and_int() -> None:
    p = Categorical("flag", [True, False])
    assert p.validate(True) is True
    with pytest.raises(InvalidConfigError):
        p.validate(1)
    numeric = Categorical("batch_size", [16, 32])
    assert numeric.validate(np.int64(32)) == 32


def test_fill_defaults() -> None:
    space = SearchSpace([Float("dropout", 0.0, 0.5, default=0.1), Int("seq_len", 64, 256, log=True)])
    assert space.validate({}, fill_defaults=True) == {"dropout": 0.1, "seq_len": 128}


@pytest.mark.parametrize("space", SPACES, ids=lambda s: s.signature)
def test_serialisation_round_trip(space: SearchSpace) -> None:
    data = space.to_dict()
    assert data["format_version"] == 1
    again = SearchSpace.from_json(space.to_json())
    assert again == space and again.signature == space.signature and list(again) == list(space)


def test_newer_format_and_malformed_definitions_are_refused() -> None:
    data = SPACES[-1].to_dict()
    with pytest.raises(InvalidSpaceError, match="newer"):
        SearchSpace.from_dict({**data, "format_version": 99})
    with pytest.raises(InvalidSpaceError):
        SearchSpace.from_dict({"params": [{"type": "complex", "name": "x"}]})
    with pytest.raises(InvalidSpaceError):
        SearchSpace.from_json("{not json")


@pytest.mark.parametrize(
    "make",
    [
        lambda: Float("x", 1.0, 1.0),
        lambda: Float("x", 0.0, 1.0, log=True),
        lambda: Float("x", 0.0, float("inf")),
        lambda: Int("x", 1, 10, step=0),
        lambda: Int("x", 1.5, 10),  # type: ignore[arg-type]
        lambda: Categorical("x", []),
        lambda: Categorical("x", ["a", "a"]),
        lambda: Float("", 0.0, 1.0),
        lambda: SearchSpace([Float("x", 0, 1), Float("x", 0, 2)]),
        lambda: Float("x", 0.0, 1.0, default=2.0),
    ],
)
def test_bad_space_definitions(make) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidSpaceError):
        make()


def test_space_is_a_mapping() -> None:
    space = SPACES[-1]
    assert "learning_rate" in space and len(space) == space.dim == 6
    assert isinstance(space["optimizer"], Categorical)
