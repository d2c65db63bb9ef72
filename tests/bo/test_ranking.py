from __future__ import annotations

import numpy as np

from metahp import Float, SearchSpace
from metahp.bo import FeatureMap, copula, fit_gp
from metahp.bo._ranking import misranked, ranking_trust

SPACE = SearchSpace([Float("x", 0.0, 1.0), Float("y", 0.0, 1.0)])


def test_misranked_leaves_out_pairs_the_observations_tie() -> None:
    y = np.array([0.0, 0.0, 1.0])
    draws = np.array([[0.0, 1.0, 2.0], [1.0, 0.0, 2.0], [0.0, 0.0, 2.0], [2.0, 1.0, 0.0]])
    # However a row orders (or ties) the two tied observations costs nothing; the reversed
    # row gets both strict pairs wrong.
    assert misranked(draws, y).tolist() == [0, 0, 0, 4]


def test_ranking_trust_follows_whether_the_prior_beats_the_tasks_own_gp() -> None:
    rng = np.random.default_rng(0)
    X = rng.random((16, 2))
    y = copula((X[:, 0] - 0.7) ** 2 + (X[:, 1] - 0.2) ** 2)
    own = fit_gp(FeatureMap(SPACE)(X), y)
    assert ranking_trust(y, y, own, np.random.default_rng(0)) > 0.5  # the truth ranks at least as well as any GP
    assert ranking_trust(-y, y, own, np.random.default_rng(0)) == 0.0  # the reverse never beats it
    assert ranking_trust(y, np.zeros(16), own, np.random.default_rng(0)) == 0.0  # nothing to rank
    # A prior unrelated to a smooth objective loses to a GP that has learnt it from 16 points.
    assert ranking_trust(rng.permutation(y), y, own, np.random.default_rng(0)) < 0.2
