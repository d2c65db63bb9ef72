"""A study loses no result: atomic tell, pruned NaN reports, non-finite curves, huge values.

Issue 20, items 1, 3 and 8 (``tell(t, 10**400)``).
"""

from __future__ import annotations

import math
import threading
from pathlib import Path

import pytest
from _harness import STUDY_SPACE, make_study, study_objective

from metahp import KnowledgeBase, Study, TrialPruned
from metahp.errors import InvalidObjectiveError, KnowledgeBaseError


def test_a_failed_save_leaves_the_trial_running_and_the_retry_stores_it(tmp_path: Path) -> None:
    path = tmp_path / "kb.duckdb"
    study = make_study(KnowledgeBase(path, lock_timeout=0.3), "s")
    first = study.ask()
    study.tell(first, study_objective(first.params))
    trial = study.ask()
    entered, leave = threading.Event(), threading.Event()

    def hold() -> None:  # another writer keeps the store locked past the study's lock_timeout
        with KnowledgeBase(path).session():
            entered.set()
            leave.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert entered.wait(30)
        with pytest.raises(KnowledgeBaseError, match="stayed locked"):
            study.tell(trial, study_objective(trial.params))
        assert trial.status == "running" and trial.value is None and trial.datetime_complete is None
    finally:
        leave.set()
        holder.join(30)
    study.tell(trial, study_objective(trial.params))  # the retry succeeds: nothing says "already finished"
    assert trial.status == "ok"
    resumed = Study.load("s", KnowledgeBase(path))
    assert [t.number for t in resumed.trials] == [0, 1]
    assert [t.value for t in resumed.trials] == [study_objective(t.params) for t in (first, trial)]


def test_a_pruned_trial_whose_reports_are_nan_is_stored_as_pruned() -> None:
    kb = KnowledgeBase(":memory:")
    study = make_study(kb, "pruned")

    def objective(trial: object) -> float:
        trial.report(1, float("nan"))  # type: ignore[attr-defined]
        raise TrialPruned()

    study.optimize(objective, n_trials=2)
    assert [t.status for t in study.trials] == ["pruned", "pruned"]
    stored = kb.trials("study/pruned")
    assert list(stored["status"]) == ["pruned", "pruned"]
    assert Study.load("pruned", kb).trials[0].status == "pruned"


def test_a_pruned_trial_keeps_its_last_finite_report() -> None:
    kb = KnowledgeBase(":memory:")
    study = make_study(kb, "last")
    trial = study.ask()
    trial.report(1, 0.7)
    trial.report(2, float("nan"))
    study.tell(trial, status="pruned")
    assert trial.value == 0.7 and kb.trials("study/last")["value"].tolist() == [0.7]


def test_non_finite_curves_round_trip_and_the_study_resumes(tmp_path: Path) -> None:
    path = tmp_path / "kb.duckdb"
    study = make_study(KnowledgeBase(path), "curves")
    trial = study.ask()
    for step, value in enumerate([0.5, math.nan, math.inf, -math.inf], start=1):
        trial.report(step, value)
    study.tell(trial, 0.25)
    resumed = Study.load("curves", KnowledgeBase(path))
    curve = resumed.trials[0].curve
    assert [s for s, _ in curve] == [1.0, 2.0, 3.0, 4.0]
    assert curve[0][1] == 0.5 and math.isnan(curve[1][1]) and curve[2][1] == math.inf and curve[3][1] == -math.inf
    nxt = resumed.ask()
    assert nxt.number == 1
    resumed.tell(nxt, study_objective(nxt.params))
    assert len(Study.load("curves", KnowledgeBase(path)).trials) == 2


@pytest.mark.parametrize("value", [10**400, -(10**400)], ids=["plus", "minus"])
def test_a_value_too_large_for_a_float_is_typed_and_the_trial_stays_open(value: int) -> None:
    kb = KnowledgeBase(":memory:")
    study = Study(STUDY_SPACE, kb=kb, name="huge", warm_start=False, n_initial=100)
    trial = study.ask()
    with pytest.raises(InvalidObjectiveError, match="too large"):
        study.tell(trial, value)
    with pytest.raises(InvalidObjectiveError, match="too large"):
        trial.report(1, value)
    assert trial.status == "running" and trial.curve == []
    study.tell(trial, 1.0)
    assert kb.count_trials("study/huge") == 1
