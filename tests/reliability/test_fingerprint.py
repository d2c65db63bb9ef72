"""The store's fingerprint covers what a meta-model learns; -0.0 is 0.0 in configurations (issue 20, item 4)."""

from __future__ import annotations

from pathlib import Path

import pytest

from metahp import Float, KnowledgeBase, SearchSpace
from metahp.meta import fit_meta

SPACE = SearchSpace([Float("x", -1.0, 1.0), Float("y", 0.0, 1.0)])
TRIALS = [{"x": x / 10, "y": (x % 5) / 5, "objective": float(x * x)} for x in range(-9, 10)]


def _store(**task: str) -> KnowledgeBase:
    kb = KnowledgeBase(":memory:")
    fields = {"family": "a", "kind": "k", "objective_name": "loss", "direction": "minimize", **task}
    kb.add_task("t", space=SPACE, meta_features={"m": 1.0}, **fields)
    kb.add_trials("t", [{**r, "objective": r["objective"] * (-1 if fields["direction"] == "maximize" else 1)}
                        for r in TRIALS])
    return kb


@pytest.mark.parametrize("field, value", [("family", "b"), ("kind", "other"), ("objective_name", "acc"),
                                          ("direction", "maximize")])
def test_stores_that_differ_in_one_task_field_have_different_fingerprints(field: str, value: str) -> None:
    assert _store().content_hash() != _store(**{field: value}).content_hash()


def test_equal_stores_share_their_fingerprint() -> None:
    assert _store().content_hash() == _store().content_hash()


def test_a_cached_meta_model_is_never_served_for_another_stores_family(tmp_path: Path) -> None:
    first, second = _store(family="a"), _store(family="b")  # same names, spaces and trials
    fitted = fit_meta(first, "knn", family="a", space=SPACE)
    assert fitted.n_trials == len(TRIALS)
    other = fit_meta(second, "knn", family="a", space=SPACE)  # the second store holds no family 'a'
    assert other.n_trials == 0 and other.key != fitted.key


@pytest.mark.parametrize("space", [SPACE, None], ids=["with-space", "without-space"])
def test_minus_zero_and_zero_are_one_configuration(space: SearchSpace | None) -> None:
    kb = KnowledgeBase(":memory:")
    kb.add_task("t", family="f", space=space)
    assert kb.add_trials("t", [{"x": -0.0, "y": 0.5, "objective": 1.0}]).added == 1
    again = kb.add_trials("t", [{"x": 0.0, "y": 0.5, "objective": 1.0}])
    assert (again.added, again.duplicates) == (0, 1)
    assert kb.trials("t")["config"].iloc[0] == {"x": 0.0, "y": 0.5}
