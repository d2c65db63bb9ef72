from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import metahp
from metahp import Float, Int, SearchSpace
from metahp.meta import OptimumTrend, clear_memory_cache
from metahp.recommender import Recommender

SPACE = SearchSpace([Float("learning_rate", 1e-5, 1e-1, log=True), Float("warmup", 0.0, 0.2)])
GRID = pd.DataFrame([{"learning_rate": float(lr), "warmup": w} for lr in np.geomspace(1e-5, 1e-1, 41)
                     for w in (0.0, 0.1, 0.2)])


def _loss(scale: float, lr: np.ndarray, warmup: np.ndarray) -> np.ndarray:
    # The best learning rate grows with the task's scale (10^(-4 + 0.2 scale)); warm-up barely matters.
    return (np.log10(lr) - (-4.0 + 0.2 * scale)) ** 2 + 0.01 * warmup


@pytest.fixture(autouse=True)
def _metahp_home(tmp_path, monkeypatch):
    monkeypatch.setenv("METAHP_HOME", str(tmp_path / "home"))
    clear_memory_cache()


def test_trend_is_kept_only_where_it_predicts():
    rng = np.random.default_rng(0)
    z = rng.standard_normal((30, 3))
    best = np.column_stack([0.5 + 0.1 * z[:, 0] - 0.05 * z[:, 2], rng.random(30), np.full(30, np.nan)])
    trend = OptimumTrend(z, best, dims=[0, 1, 2])
    assert trend.active
    assert trend.r2[0] > 0.95 and trend.r2[1] < 0.5 and np.isnan(trend.r2[2])
    np.testing.assert_allclose(trend.coef[0], [0.1, 0.0, -0.05], atol=0.01)
    assert np.all(trend.coef[1:] == 0)
    np.testing.assert_allclose(trend.shift(z[0], z[1]), trend.coef @ (z[1] - z[0]))
    # A dimension not allowed to move, or too few tasks, gives no trend at all.
    assert not OptimumTrend(z, best, dims=[1]).active
    assert not OptimumTrend(z[:5], best[:5], dims=[0]).active


def test_portfolio_follows_the_trend_beyond_the_edge_of_the_knowledge_base():
    kb = metahp.KnowledgeBase(":memory:")
    rng = np.random.default_rng(1)
    for scale in range(1, 11):
        name = f"edge/s{scale}"
        kb.add_task(name, family="edge", meta_features={"scale": float(scale), "noise": float(rng.random())},
                    space=SPACE, objective_name="loss")
        rows = GRID.sample(60, random_state=scale).reset_index(drop=True)
        rows["objective"] = _loss(scale, rows["learning_rate"].to_numpy(), rows["warmup"].to_numpy())
        kb.add_trials(name, rows)
    target = {"scale": 14.0, "noise": 0.5}  # its best learning rate, 10^-1.2, lies beyond every source task's
    true = _loss(14.0, GRID["learning_rate"].to_numpy(), GRID["warmup"].to_numpy())

    def regret(trend: bool) -> float:
        recs = Recommender(kb, trend=trend).recommend(target, space=SPACE, k=3, candidates=GRID)
        return float(min(true[r.candidate] for r in recs))  # type: ignore[index]

    # Trees cannot extrapolate: without the trend the portfolio stays near the largest source's
    # optimum (10^-2); the trend moves the hedges out to where this task's optimum lies.
    assert regret(trend=True) < 0.5 * regret(trend=False)
    # Without candidates, the moved optima join the candidate set.
    def highest_lr(trend: bool) -> float:
        recs = Recommender(kb, trend=trend).recommend(target, space=SPACE, k=3)
        return max(float(np.log10(r.config["learning_rate"])) for r in recs)

    assert highest_lr(trend=True) > -1.6 > highest_lr(trend=False)
    # A target space with a parameter no source records: it is set to its default in the moved optima too.
    wider = SearchSpace([*SPACE.params, Int("epochs", 1, 10)])
    recs = Recommender(kb).recommend(target, space=wider, k=3)
    assert max(float(np.log10(r.config["learning_rate"])) for r in recs) > -1.6
    assert len({r.config["epochs"] for r in recs}) == 1
