from __future__ import annotations

import numpy as np

from metahp import Categorical, Float, SearchSpace
from metahp.bo import CallablePrior, copula, impute_broken, prior_weight, propose, snap

SPACE = SearchSpace([Float("x", 0.0, 1.0), Float("y", 0.0, 1.0), Categorical("c", ["a", "b"])])


def objective(u: np.ndarray) -> np.ndarray:
    return (u[:, 0] - 0.7) ** 2 + (u[:, 1] - 0.2) ** 2 + 0.3 * (u[:, 2] < 0.5)


def test_prior_weight_follows_rank_agreement() -> None:
    rng = np.random.default_rng(0)
    y = rng.random(30)
    assert prior_weight(y[:2], -y[:2]) == 1.0  # too little evidence: trust the prior
    assert prior_weight(y, y) == 1.0
    assert prior_weight(y, -y) == 0.0
    unrelated = prior_weight(rng.random(30), y)
    assert 0.0 <= unrelated < 0.6
    assert prior_weight(np.ones(5), y[:5]) < 1.0  # a flat prior explains nothing


def test_copula_and_imputation() -> None:
    v = impute_broken(np.array([1.0, np.nan, 3.0, 2.0]), np.array([True, False, True, True]))
    assert v[1] > 3.0
    z = copula(v)
    assert np.argmax(z) == 1 and abs(z.sum()) < 1e-12


def test_propose_finds_low_region_and_uses_prior() -> None:
    rng = np.random.default_rng(1)
    X = snap(SPACE, rng.random((12, 3)))
    cand = snap(SPACE, rng.random((3000, 3)))
    idx, scores, fitted = propose(SPACE, X, objective(X), np.ones(12, bool), candidates=cand)
    assert scores.shape == (3000,) and np.isfinite(scores[idx])
    assert objective(cand[idx : idx + 1])[0] < np.quantile(objective(cand), 0.1)
    # With an exact prior and two observations the GP goes straight to the prior's optimum region.
    prior = CallablePrior(objective)
    p_obs, p_cand = prior(X[:2])[0], prior(cand)[0]
    mu, sd = p_cand.mean(), p_cand.std()
    idx2, _, fitted2 = propose(SPACE, X[:2], objective(X[:2]), np.ones(2, bool), candidates=cand,
                               prior_obs=(p_obs - mu) / sd, prior_cand=(p_cand - mu) / sd)
    assert fitted2.weight == 1.0
    assert objective(cand[idx2 : idx2 + 1])[0] < np.quantile(objective(cand), 0.02)


def test_propose_survives_all_broken_and_constant_data() -> None:
    X = snap(SPACE, np.random.default_rng(2).random((6, 3)))
    cand = snap(SPACE, np.random.default_rng(3).random((100, 3)))
    for values, ok in ((np.full(6, np.nan), np.zeros(6, bool)), (np.ones(6), np.ones(6, bool)),
                       (np.array([1.0, np.inf, np.nan, 2.0, 1e300, 0.5]), np.array([1, 0, 0, 1, 1, 1], bool))):
        idx, scores, _ = propose(SPACE, X, values, ok, candidates=cand)
        assert 0 <= idx < 100 and scores.shape == (100,)
