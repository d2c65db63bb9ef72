"""The KnowledgeBase conformance suite, run against an in-memory and an on-disk store."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from metahp import Categorical, Float, Int, KnowledgeBase, SearchSpace
from metahp.errors import (
    InvalidConfigError,
    InvalidObjectiveError,
    InvalidTaskError,
    KnowledgeBaseError,
    MetaHPError,
    UnknownTaskError,
)

SPACE = SearchSpace([
    Float("learning_rate", 1e-5, 1e-1, log=True),
    Int("batch_size", 8, 512, log=True),
    Categorical("optimizer", ["adamw", "sgd"]),
])


@pytest.fixture(params=["memory", "disk"])
def kb(request: pytest.FixtureRequest, tmp_path: Path) -> KnowledgeBase:
    store = KnowledgeBase(":memory:" if request.param == "memory" else tmp_path / "kb.duckdb")
    store.add_task("lm-small", family="lm", kind="causal-lm", space=SPACE,
                   meta_features={"model_params": 1e6, "data_tokens": 5e5}, objective_name="val_loss")
    store.add_task("lm-large", family="lm", kind="causal-lm", space=SPACE,
                   meta_features={"model_params": 1e8, "data_tokens": float("nan")}, objective_name="val_loss")
    store.add_task("cls", family="cls", kind="classification", space=SPACE, meta_features={"data_num_classes": 4},
                   objective_name="accuracy", direction="maximize")
    return store


def records(n: int, seed: int = 0, objective: Callable[[dict], float] | None = None) -> list[dict]:
    configs = SPACE.sample(n, seed=seed)
    f = objective or (lambda c: 2.0 + math.log10(c["learning_rate"]) ** 2 / 10)
    return [{**c, "objective": f(c)} for c in configs]


def snapshot(kb: KnowledgeBase) -> tuple[str, int]:
    return kb.content_hash(), kb.count_trials()


def test_add_and_query(kb: KnowledgeBase) -> None:
    assert kb.add_trials("lm-small", records(10)).added == 10
    assert kb.add_trials("lm-large", pd.DataFrame(records(5, seed=1))).added == 5
    frame = kb.trials("lm-small")
    assert len(frame) == 10
    assert {"learning_rate", "batch_size", "optimizer", "objective", "status", "config", "content_hash"} <= set(frame)
    assert frame["batch_size"].dtype.kind == "i"
    assert frame["config"].iloc[0] == {k: frame[k].iloc[0] for k in SPACE}
    assert (frame["status"] == "ok").all() and (frame["fidelity"] == 1.0).all()
    assert len(kb.trials(family="lm")) == 15
    assert set(kb.trials(family="lm", exclude_task="lm-small")["task"]) == {"lm-large"}
    task_id = kb.task_info("lm-large").task_id
    assert len(kb.trials(task_id)) == 5  # an id works wherever a name does


def test_maximised_objectives_are_negated_once(kb: KnowledgeBase) -> None:
    kb.add_trials("cls", [{**SPACE.sample(1, 0)[0], "objective": 0.8}])
    row = kb.trials("cls").iloc[0]
    assert row["objective"] == pytest.approx(-0.8) and row["value"] == pytest.approx(0.8)
    assert row["direction"] == "maximize" and row["objective_name"] == "accuracy"


def test_duplicates_add_nothing(kb: KnowledgeBase) -> None:
    kb.add_trials("lm-small", records(10))
    before = snapshot(kb)
    again = kb.add_trials("lm-small", records(12))
    assert (again.added, again.duplicates) == (2, 10)
    assert kb.add_trials("lm-small", records(12)).added == 0
    assert snapshot(kb) != before and kb.count_trials() == 12


def test_failed_and_diverged_trials_are_stored_without_objective(kb: KnowledgeBase) -> None:
    configs = SPACE.sample(3, seed=5)
    kb.add_trials("lm-small", [
        {**configs[0], "objective": None, "status": "diverged", "curve": [[10, 3.2], [20, float("nan")]]},
        {**configs[1], "objective": float("nan"), "status": "failed", "metrics": {"message": "out of memory"}},
        {"config": configs[2], "objective": 2.5, "status": "pruned", "fidelity": 0.25, "seed": 3, "cost": 1.5},
    ])
    frame = kb.trials("lm-small").set_index("status")
    assert np.isnan(frame.loc["diverged", "objective"]) and np.isnan(frame.loc["failed", "objective"])
    assert frame.loc["diverged", "curve"] == [[10, 3.2], [20, None]]
    assert frame.loc["failed", "metrics"] == {"message": "out of memory"}
    assert frame.loc["pruned", "fidelity"] == 0.25 and frame.loc["pruned", "seed"] == 3
    assert kb.stats()["status"] == {"diverged": 1, "failed": 1, "pruned": 1}


BAD_BATCHES: dict[str, tuple[object, type[MetaHPError]]] = {
    "nan objective": ([{**SPACE.sample(1, 0)[0], "objective": float("nan")}], InvalidObjectiveError),
    "inf objective": ([{**SPACE.sample(1, 0)[0], "objective": float("inf")}], InvalidObjectiveError),
    "text objective": ([{**SPACE.sample(1, 0)[0], "objective": "low"}], InvalidObjectiveError),
    "no objective": ([SPACE.sample(1, 0)[0]], InvalidObjectiveError),
    "out of range": ([{"learning_rate": 3.0, "batch_size": 32, "optimizer": "sgd", "objective": 1.0}],
                     InvalidConfigError),
    "unknown choice": ([{"learning_rate": 1e-3, "batch_size": 32, "optimizer": "lion", "objective": 1.0}],
                       InvalidConfigError),
    "not an integer": ([{"learning_rate": 1e-3, "batch_size": 32.5, "optimizer": "sgd", "objective": 1.0}],
                       InvalidConfigError),
    "unknown parameter": ([{**SPACE.sample(1, 0)[0], "momentum": 0.9, "objective": 1.0}], InvalidConfigError),
    "missing parameter": ([{"learning_rate": 1e-3, "optimizer": "sgd", "objective": 1.0}], InvalidConfigError),
    "bad status": ([{**SPACE.sample(1, 0)[0], "objective": 1.0, "status": "great"}], InvalidObjectiveError),
    "bad fidelity": ([{**SPACE.sample(1, 0)[0], "objective": 1.0, "fidelity": 2.0}], InvalidObjectiveError),
    "not records": ("learning_rate=1e-3", InvalidConfigError),
}


@pytest.mark.parametrize("case", sorted(BAD_BATCHES))
def test_bad_trials_raise_and_change_nothing(kb: KnowledgeBase, case: str) -> None:
    kb.add_trials("lm-small", records(5))
    before = snapshot(kb)
    batch, error = BAD_BATCHES[case]
    good_then_bad = batch if isinstance(batch, str) else records(3, seed=9) + list(batch)  # type: ignore[arg-type]
    with pytest.raises(error):
        kb.add_trials("lm-small", good_then_bad)  # type: ignore[arg-type]
    assert snapshot(kb) == before


def test_unknown_task(kb: KnowledgeBase) -> None:
    before = snapshot(kb)
    with pytest.raises(UnknownTaskError, match="no task 'nope'.*Known tasks include"):
        kb.add_trials("nope", records(1))
    with pytest.raises(UnknownTaskError):
        kb.trials(999)
    with pytest.raises(UnknownTaskError):
        kb.task_info(3.5)  # type: ignore[arg-type]
    assert snapshot(kb) == before


def test_tasks_frame_and_meta_features(kb: KnowledgeBase) -> None:
    kb.add_trials("lm-small", records(4))
    tasks = kb.tasks(family="lm").set_index("name")
    assert tasks.loc["lm-small", "n_trials"] == 4 and tasks.loc["lm-large", "n_trials"] == 0
    assert tasks.loc["lm-small", "model_params"] == 1e6
    # A NaN meta-feature is missing, never 0.
    assert "data_tokens" not in tasks.loc["lm-large", "meta_features"]
    assert np.isnan(tasks.loc["lm-large", "data_tokens"])
    assert kb.families() == ["cls", "lm"]
    assert kb.space("lm") == SPACE and kb.space("cls") == SPACE


def test_add_task_is_idempotent_and_refuses_conflicts(kb: KnowledgeBase) -> None:
    first = kb.task_info("lm-small").task_id
    assert kb.add_task("lm-small", family="lm", space=SPACE, objective_name="val_loss") == first
    other = SearchSpace([Float("learning_rate", 1e-4, 1e-1, log=True)])
    with pytest.raises(InvalidTaskError, match="already stored"):
        kb.add_task("lm-small", family="lm", space=other, objective_name="val_loss")
    with pytest.raises(InvalidTaskError, match="already stored"):
        kb.add_task("lm-small", family="vision", space=SPACE, objective_name="val_loss")
    for bad in ({"name": ""}, {"direction": "down"}, {"meta_features": {"x": "big"}},
                {"meta_features": {"x": float("inf")}}, {"meta_features": [1, 2]}):
        kwargs = {"name": "new", "family": "lm", **bad}
        with pytest.raises(InvalidTaskError):
            kb.add_task(**kwargs)  # type: ignore[arg-type]
    assert not kb.has_task("new")


def test_stats(kb: KnowledgeBase) -> None:
    kb.add_trials("lm-small", records(3), source="runner")
    stats = kb.stats()
    assert stats["tasks"] == 3 and stats["trials"] == 3 and stats["schema_version"] == 2
    assert stats["families"]["lm"] == {"tasks": 2, "trials": 3}
    assert stats["sources"] == {"runner": 3}


def test_hostile_names_are_data(kb: KnowledgeBase) -> None:
    name = "x'); DROP TABLE trials; --"
    kb.add_task(name, family="f\"; DROP TABLE tasks; --", space=SPACE)
    kb.add_trials(name, records(2))
    assert len(kb.trials(name)) == 2 and kb.count_trials() == 2
    assert kb.has_task("lm-small")


def test_export_import_reproduces_every_trial(kb: KnowledgeBase, tmp_path: Path) -> None:
    kb.add_trials("lm-small", records(20))
    kb.add_trials("cls", records(7, seed=2, objective=lambda c: 0.5))
    kb.add_trials("lm-large", [{**SPACE.sample(1, 8)[0], "objective": None, "status": "diverged",
                                "curve": [[1, 9.0]], "seed": 4, "device": "cpu"}])
    bundle = kb.export(tmp_path / "bundle")
    fresh = KnowledgeBase(tmp_path / "fresh.duckdb")
    result = fresh.import_(bundle)
    assert (result.added_tasks, result.added_trials, result.duplicate_trials) == (3, 28, 0)
    assert fresh.content_hash() == kb.content_hash()
    a, b = (store.trials().sort_values("content_hash").reset_index() for store in (kb, fresh))
    for column in ("task", "config", "objective", "status", "curve", "seed", "device", "content_hash", "created_at"):
        assert a[column].astype(str).tolist() == b[column].astype(str).tolist(), column
    again = fresh.import_(bundle)
    assert (again.added_tasks, again.added_trials, again.duplicate_trials) == (0, 0, 28)


def test_export_subset_and_contributed(kb: KnowledgeBase, tmp_path: Path) -> None:
    kb.add_trials("lm-small", records(4))
    kb.add_trials("lm-large", records(3, seed=1))
    assert kb.contribute("lm-large") == 3
    only = KnowledgeBase(":memory:")
    only.import_(kb.export(tmp_path / "contrib", contributed_only=True))
    assert only.stats()["trials"] == 3 and [t for t in only.tasks()["name"]] == ["lm-large"]
    subset = KnowledgeBase(":memory:")
    subset.import_(kb.export(tmp_path / "subset", tasks=["lm-small"]))
    assert subset.count_trials() == 4


def test_read_only_store_refuses_writes(tmp_path: Path) -> None:
    KnowledgeBase(tmp_path / "kb.duckdb").add_task("t", family="f", space=SPACE)
    ro = KnowledgeBase(tmp_path / "kb.duckdb", read_only=True)
    assert ro.has_task("t")
    with pytest.raises(KnowledgeBaseError, match="read-only"):
        ro.add_trials("t", records(1))


def test_doctest_example_store_is_isolated() -> None:
    # Two in-memory stores never share data.
    a, b = KnowledgeBase(":memory:"), KnowledgeBase(":memory:")
    a.add_task("t", family="f")
    assert not b.has_task("t")
