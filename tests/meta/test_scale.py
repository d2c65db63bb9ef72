"""ScaleTrend (power laws of source optima in scale) and CrossScaleModel (one run per task)."""

from __future__ import annotations

import numpy as np
import pytest

from metahp.meta import CrossScaleModel, ScaleTrend


def _sources(n_tasks: int = 14, noise: float = 0.02, seed: int = 0):
    rng = np.random.default_rng(seed)
    n = 10 ** rng.uniform(7.5, 9, n_tasks)
    d = 10 ** rng.uniform(9, 11, n_tasks)
    lr = np.log10(1.79 * n**-0.713 * d**0.307) + noise * rng.standard_normal(n_tasks)
    return {"model_params_nonembedding": n, "budget_tokens": d}, {"learning_rate": lr,
                                                                   "weight_decay": rng.random(n_tasks)}


def test_trend_recovers_the_power_law_and_keeps_only_parameters_that_follow_it():
    meta, optimum = _sources()
    target = {"model_params_nonembedding": 3e9, "budget_tokens": 6e10}
    trend = ScaleTrend.fit(meta, optimum, target=target)
    assert set(trend.fits) == {"learning_rate"}  # weight decay is noise: no trend kept
    slopes = trend.slopes()["learning_rate"]
    assert slopes["model_params_nonembedding"] == pytest.approx(-0.713, abs=0.08)
    assert slopes["budget_tokens"] == pytest.approx(0.307, abs=0.08)
    small = trend.predict({"model_params_nonembedding": 1e8, "budget_tokens": 2e9})["learning_rate"]
    large = trend.predict(target)["learning_rate"]
    assert 10 ** (large[0] - small[0]) == pytest.approx(30**-0.713 * 30**0.307, rel=0.25)
    inside = trend.predict({"model_params_nonembedding": 3e8, "budget_tokens": 1e10})["learning_rate"][1]
    assert large[1] > inside  # beyond the sources the prediction is less certain


def test_trend_uses_only_the_features_the_target_gives():
    meta, optimum = _sources()
    trend = ScaleTrend.fit(meta, optimum, target={"model_params_nonembedding": 1e8})
    assert trend.features == ["model_params_nonembedding"]
    assert trend.predict({"model_params_nonembedding": 1e8})["learning_rate"][0] < 0


def test_coverage_says_how_far_beyond_the_sources_in_words():
    meta, optimum = _sources()
    trend = ScaleTrend.fit(meta, optimum, target={"model_params_nonembedding": 1e10, "budget_tokens": 1e10})
    largest = meta["model_params_nonembedding"].max()
    (sentence,) = trend.coverage({"model_params_nonembedding": 1e10, "budget_tokens": 1e10})
    assert sentence.startswith("10B parameters is ") and f"{1e10 / largest:.3g}x the largest" in sentence
    assert trend.coverage({"model_params_nonembedding": 3e8, "budget_tokens": 1e10}) == []


def test_too_few_sources_or_no_shared_feature_gives_no_trend():
    meta, optimum = _sources(n_tasks=5)
    assert not ScaleTrend.fit(meta, optimum, target={"model_params_nonembedding": 1e9}).active
    meta, optimum = _sources()
    assert not ScaleTrend.fit(meta, optimum, target={"data_rows": 1e4}).active


def test_cross_scale_model_ranks_configurations_at_one_scale():
    rng = np.random.default_rng(1)
    n, lr = 10 ** rng.uniform(7, 9, 600), rng.uniform(-4, -2, 600)
    best = -3.0 - 0.5 * (np.log10(n) - 8)  # the optimum moves with size
    loss = 20 * n**-0.1 + (lr - best) ** 2
    model = CrossScaleModel(seed=0).fit({"model_params": n}, {"learning_rate": lr}, loss)
    grid = np.linspace(-4, -2, 21)
    small = model.predict({"model_params": np.full(21, 2e7)}, {"learning_rate": grid})
    large = model.predict({"model_params": np.full(21, 5e8)}, {"learning_rate": grid})
    assert grid[np.argmin(large)] < grid[np.argmin(small)]


def test_a_literature_prior_steadies_exponents_from_few_narrow_sources():
    rng = np.random.default_rng(3)
    n = 10 ** rng.uniform(8.3, 9.0, 10)  # under a decade of sizes: the exponent is poorly pinned down
    d = 10 ** rng.uniform(9.5, 11, 10)
    lr = np.log10(1.79 * n**-0.713 * d**0.307) + 0.08 * rng.standard_normal(10)
    meta, optimum = {"model_params_nonembedding": n, "budget_tokens": d}, {"learning_rate": lr}
    target = {"model_params_nonembedding": 3e9, "budget_tokens": 6e10}
    plain = ScaleTrend.fit(meta, optimum, target=target, min_r2=-np.inf)
    prior = {"learning_rate": {"model_params_nonembedding": -0.713, "budget_tokens": 0.307}}
    shrunk = ScaleTrend.fit(meta, optimum, target=target, prior=prior, min_r2=-np.inf)
    err = [abs(t.slopes()["learning_rate"]["model_params_nonembedding"] + 0.713) for t in (plain, shrunk)]
    assert err[1] <= err[0]
    assert shrunk.prior == prior
    assert shrunk.r2["learning_rate"] >= plain.r2["learning_rate"] - 1e-9  # chosen by leave-one-out, never worse
