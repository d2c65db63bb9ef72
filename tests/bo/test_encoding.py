from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metahp import Categorical, Float, Int, SearchSpace
from metahp.bo import FeatureMap, decode_frame, encode_frame, snap
from metahp.errors import InvalidConfigError

SPACE = SearchSpace([
    Float("learning_rate", 1e-5, 1e-1, log=True),
    Float("dropout", 0.0, 0.5),
    Int("batch_size", 8, 256, log=True),
    Int("num_layers", 1, 13, step=3),
    Categorical("optimizer", ["adamw", "sgd", "lion"]),
    Categorical("flag", [True, False]),
])


@settings(max_examples=50, deadline=None)
@given(st.lists(st.lists(st.floats(0.0, 1.0), min_size=SPACE.dim, max_size=SPACE.dim), min_size=1, max_size=20))
def test_vectorised_maps_agree_with_space(points: list[list[float]]) -> None:
    u = np.array(points)
    frame = decode_frame(SPACE, u)
    expected = [SPACE.decode(row) for row in u]
    for i, config in enumerate(expected):
        for name, value in config.items():
            got = frame[name].iloc[i]
            if isinstance(value, float):
                assert got == pytest.approx(value, rel=1e-12)
            else:
                assert got == value and type(got.item() if hasattr(got, "item") else got) is type(value)
    np.testing.assert_allclose(encode_frame(SPACE, frame), SPACE.encode_many(expected), atol=1e-12)
    np.testing.assert_allclose(snap(SPACE, u), SPACE.encode_many(expected), atol=1e-12)


def test_encode_frame_rejects_bad_values() -> None:
    good = SPACE.default()
    with pytest.raises(InvalidConfigError, match="learning_rate"):
        encode_frame(SPACE, [{**good, "learning_rate": 1.0}])
    with pytest.raises(InvalidConfigError, match="optimizer"):
        encode_frame(SPACE, [{**good, "optimizer": "adam"}])
    with pytest.raises(InvalidConfigError, match="missing"):
        encode_frame(SPACE, pd.DataFrame([{"dropout": 0.1}]))


@pytest.mark.parametrize("with_cat,with_log", list(itertools.product([False, True], [False, True])))
def test_feature_map_one_hot(with_cat: bool, with_log: bool) -> None:
    params = [Float("a", 1e-3, 1.0, log=with_log), Int("b", 1, 10)]
    if with_cat:
        params.append(Categorical("c", ["x", "y", "z"]))
    space = SearchSpace(params)
    fm = FeatureMap(space)
    u = snap(space, np.random.default_rng(0).random((7, space.dim)))
    f = fm(u)
    assert f.shape == (7, fm.dim) and fm.dim == (5 if with_cat else 2)
    if with_cat:
        assert np.all(f[:, 2:].sum(axis=1) == 1.0)
    np.testing.assert_allclose(f[:, :2], u[:, :2])
