"""The warm start's initial design: hedged where the sources disagree, cold where the target refutes them."""

from __future__ import annotations

import math

import numpy as np
import pytest

import metahp
from metahp import Float, SearchSpace
from metahp.study import Study
from metahp.study._design import Agreement, kept_members, max_min_index, prior_odds, ranking_refuted, sobol_design

SPACE = SearchSpace([Float("x", 0.0, 1.0), Float("y", 0.0, 1.0)])
GRID = [{"x": float(x), "y": float(y)} for x in np.linspace(0.0, 1.0, 9) for y in np.linspace(0.0, 1.0, 9)]


def bowl(x: float, y: float, centre: tuple[float, float] = (0.3, 0.7)) -> float:
    return (x - centre[0]) ** 2 + (y - centre[1]) ** 2


def _grid_kb(informative: bool) -> metahp.KnowledgeBase:
    """Six source tasks on the shared grid: the target's bowl (informative) or its values permuted per task."""
    kb = metahp.KnowledgeBase(":memory:")
    truth = np.array([bowl(c["x"], c["y"]) for c in GRID])
    for i in range(6):
        values = truth + 0.01 * i if informative else np.random.default_rng(i).permutation(truth)
        kb.add_task(f"grid/{i}", family="grid", meta_features={"size": float(i + 1)}, space=SPACE,
                    objective_name="loss")
        kb.add_trials(f"grid/{i}", [{"config": c, "objective": float(v)} for c, v in zip(GRID, values)])
    return kb


def _first(kb: metahp.KnowledgeBase, n: int) -> Study:
    study = Study(SPACE, task={"size": 3.5}, kb=kb, candidates=GRID, seed=0)
    for _ in range(n):
        trial = study.ask()
        study.tell(trial, bowl(trial["x"], trial["y"]))
    return study


def _min_distance(study: Study, n: int) -> float:
    X = SPACE.encode_many([t.config for t in study.trials[:n]])
    d = np.sqrt(((X[:, None, :] - X[None, :, :]) ** 2).mean(axis=2))
    return float(d[np.triu_indices(n, 1)].min())


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_sources_that_rank_unalike_get_a_space_filling_portfolio(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("METAHP_HOME", str(tmp_path))
    study = _first(_grid_kb(informative=False), 3)
    warm = study._proposer.warm
    assert warm is not None and abs(warm.agreement) < 0.3
    # Unrelated sources give the BO step's model average (about) even prior odds.
    assert warm.sources is not None and 0.6 < warm.sources.prior_odds < 1.6
    assert study.strategy._prior_odds == warm.sources.prior_odds  # type: ignore[attr-defined]
    # The first pick is the recommender's; the others are a cold design's, spread over the square
    # (before: all six the recommender's), and the design is as long as a cold one's.
    assert [t.origin for t in study.trials] == ["portfolio"] + ["sobol"] * 2
    assert _min_distance(study, 3) > 0.25


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_sources_that_agree_keep_the_recommenders_portfolio(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("METAHP_HOME", str(tmp_path))
    study = _first(_grid_kb(informative=True), 3)
    warm = study._proposer.warm
    assert warm is not None and warm.agreement > 0.95 and not warm.hedge
    # Six sources that order nearly every pair alike: Laplace's (6 c + 1) / 8 with c near 1, odds near 7.
    assert warm.sources is not None and warm.sources.prior_odds > 5.0
    assert study.strategy._prior_odds == warm.sources.prior_odds  # type: ignore[attr-defined]
    assert min(t.value for t in study.trials) < 0.02  # the sources' optimum is the target's


def test_kept_members_and_design_points() -> None:
    assert [kept_members(6, a) for a in (1.0, 0.5, 0.0)] == [6, 3, 1]
    design = sobol_design(2, 3, seed=0)
    assert design.shape == (8, 2) and ((design >= 0) & (design <= 1)).all()
    # The farthest candidate from a corner cluster; ties go to the lowest tie-break.
    cluster = np.array([[1.0, 0.0], [0.9, 0.1]])
    assert max_min_index(np.array([[0.0, 1.0], [0.5, 0.5], [1.0, 1.0]]), cluster) == 0
    assert max_min_index(np.array([[0.0, 0.0], [1.0, 1.0]]), np.array([[0.5, 0.5]]), np.array([1.0, 0.0])) == 1


def test_prior_odds_grow_with_the_measured_concordance_and_the_sources_behind_it() -> None:
    assert prior_odds(Agreement()) == 1.0  # nothing measured: even odds
    assert prior_odds(Agreement(concordant=0.5, sources=20)) == pytest.approx(1.0)
    assert prior_odds(Agreement(concordant=0.3, sources=20)) < 1.0  # a consensus that ranks a source backwards
    few, many = prior_odds(Agreement(concordant=0.9, sources=3)), prior_odds(Agreement(concordant=0.9, sources=20))
    assert 1.0 < few < many < math.inf
    assert prior_odds(Agreement(concordant=1.0, sources=20)) == pytest.approx(21.0)


def test_ranking_refuted_needs_three_distinct_values() -> None:
    assert not ranking_refuted(np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0]))  # two distinct values
    assert ranking_refuted(np.array([0.0, 1.0, 2.0, 3.0]), np.array([4.0, 3.0, 2.0, 1.0]))
    assert ranking_refuted(np.zeros(3), np.array([1.0, 2.0, 3.0]))  # a prior that ranks nothing
    assert not ranking_refuted(np.array([0.0, 1.0, 2.0, 3.0]), np.array([1.0, 2.0, 4.0, 3.0]))
