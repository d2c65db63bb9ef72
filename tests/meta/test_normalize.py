from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metahp.meta import gaussian_copula, normalize_objectives


def test_best_gets_lowest_score_and_order_is_kept():
    scores = gaussian_copula([2.5, 1.0, 3.0, 2.0])
    assert np.argsort(scores).tolist() == [1, 3, 0, 2]
    assert scores[1] < 0 < scores[2]


def test_broken_runs_rank_below_the_worst_finite_and_tie():
    scores = gaussian_copula([1.0, np.nan, 2.0, np.inf, 3.0])
    assert scores[1] == scores[3]
    assert scores[1] > scores[4] > scores[2] > scores[0]


def test_broken_status_overrides_a_finite_objective():
    scores = gaussian_copula([1.0, 0.5, 2.0], broken=[False, True, False])
    assert scores[1] > scores[2] > scores[0]


def test_huge_losses_do_not_squash_the_rest():
    a = gaussian_copula([1.0, 1.1, 1.2, 1.3])
    b = gaussian_copula([1.0, 1.1, 1.2, 1e12])
    np.testing.assert_allclose(a, b)


def test_all_broken_gives_neutral_scores():
    np.testing.assert_array_equal(gaussian_copula([np.nan, np.nan]), [0.0, 0.0])
    assert gaussian_copula([]).shape == (0,)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(-1000, 1000), min_size=1, max_size=40), st.integers(1, 10), st.integers(-5, 5))
def test_invariant_to_increasing_affine_maps(values, scale, shift):
    # Integers keep the map exact, so ties stay ties.
    a = gaussian_copula(values)
    b = gaussian_copula([scale * v + shift for v in values])
    np.testing.assert_allclose(a, b, atol=1e-9)
    assert np.all(np.isfinite(a))


def test_normalize_objectives_is_per_task():
    frame = pd.DataFrame({
        "task": ["a", "b", "a", "b", "a"],
        "objective": [10.0, 0.1, 20.0, 0.2, np.nan],
        "status": ["ok", "ok", "ok", "ok", "diverged"],
    }, index=[5, 6, 7, 8, 9])
    scores = normalize_objectives(frame)
    assert scores.index.tolist() == [5, 6, 7, 8, 9]
    np.testing.assert_allclose(scores.loc[[5, 7, 9]], gaussian_copula([10.0, 20.0, np.nan]))
    np.testing.assert_allclose(scores.loc[[6, 8]], gaussian_copula([0.1, 0.2]))
    assert scores.loc[9] == pytest.approx(scores.max())
