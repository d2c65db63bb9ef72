"""SIGKILL a writer in the middle of a bulk insert, a bundle import and a loop of small batches.

After each kill the store must open, hold every batch committed before the kill and no
part of any other, and the dead writer's lock must not block the next one. The kill
points are random (seeded); ``benchmarks/reliability.py`` runs many more of them.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import numpy as np
import pytest
from _harness import (
    SPACE,
    TASK,
    batch,
    crash_once,
    make_bundle,
    make_study,
    objectives,
    prepare_store,
    start,
    study_objective,
)

from metahp import KnowledgeBase
from metahp.errors import KnowledgeBaseError

KILLS = 3  # kill points per scenario in CI; the benchmark runs 20


def _check_batches(kb: KnowledgeBase, tag: int, size: int, committed: int) -> int:
    """Assert the writer ``tag`` left whole batches only, at least ``committed`` of them; return how many."""
    mine = objectives(kb, TASK, seed=tag)
    assert len(mine) % size == 0, f"a partial batch survived the kill: {len(mine)} rows of batches of {size}"
    assert committed * size <= len(mine) <= (committed + 1) * size, "a committed batch was lost"
    assert np.array_equal(mine, np.arange(len(mine), dtype=float)), "rows other than batches 0..k-1 were stored"
    assert np.array_equal(objectives(kb, "crash/keep"), np.arange(10, dtype=float)), "earlier trials changed"
    return len(mine) // size


@pytest.mark.slow
def test_kill_during_bulk_insert_keeps_whole_batches(tmp_path: Path) -> None:
    size = 100_000
    path = tmp_path / "bulk.duckdb"
    prepare_store(path)
    rng = random.Random(8)
    for kill in range(KILLS):
        child, reopen = crash_once("batches", path, rng.uniform(0.2, 3.0), task=TASK, tag=kill, size=size,
                                   batches=3)
        _check_batches(KnowledgeBase(path), kill, size, child.committed())
        assert reopen < 10, f"the dead writer's lock blocked the next writer for {reopen:.1f} s"
    assert KnowledgeBase(path).add_trials(TASK, batch(77, 0, 1000)).added == 1000  # still writable


@pytest.mark.slow
def test_kill_during_bundle_import_is_all_or_nothing(tmp_path: Path) -> None:
    n_tasks, per_task = 4, 10_000
    bundle = make_bundle(tmp_path / "bundle", "big", n_tasks, per_task, tag=500)
    path = tmp_path / "import.duckdb"
    prepare_store(path)
    total = n_tasks * per_task
    rng = random.Random(9)
    for _ in range(KILLS):
        child, reopen = crash_once("import", path, rng.uniform(0.1, 2.5), bundle=str(bundle))
        kb = KnowledgeBase(path)
        present = [kb.has_task(f"big/{i}") for i in range(n_tasks)]
        stored = sum(kb.count_trials(f"big/{i}") for i in range(n_tasks) if present[i])
        assert stored in (0, total), f"a partial bundle survived the kill: {stored} of {total} trials"
        assert all(present) == (stored == total) and (any(present) == all(present)), "tasks and trials commit together"
        assert stored == total or child.committed() == 0
        assert reopen < 10
        assert np.array_equal(objectives(kb, "crash/keep"), np.arange(10, dtype=float))
        if stored:  # start from an empty target again so that later kills can land mid-import
            for leftover in tmp_path.glob("import.duckdb*"):
                leftover.unlink()
            prepare_store(path)
    kb = KnowledgeBase(path)
    assert kb.import_(bundle).added_trials == total
    assert kb.import_(bundle).added_trials == 0


@pytest.mark.slow
def test_kill_during_a_loop_of_small_batches(tmp_path: Path) -> None:
    size = 7
    path = tmp_path / "small.duckdb"
    prepare_store(path)
    rng = random.Random(10)
    for kill in range(KILLS):
        child, reopen = crash_once("batches", path, rng.uniform(0.5, 2.5), task=TASK, tag=kill, size=size,
                                   batches=100_000)
        assert child.committed() >= 1, "the kill came before any batch; the delay range is too short"
        _check_batches(KnowledgeBase(path), kill, size, child.committed())
        assert reopen < 10
    # Every row and column reads back after the kills: no torn pages, no broken WAL.
    kb = KnowledgeBase(path)
    frame = kb.trials()
    assert len(frame) == kb.count_trials() == kb.stats()["trials"] and frame["content_hash"].is_unique
    assert set(frame.columns) >= set(SPACE.names)


def test_a_killed_lock_holder_releases_the_lock(tmp_path: Path) -> None:
    path = tmp_path / "held.duckdb"
    prepare_store(path)
    child = start("hold", path=str(path))
    try:
        child.wait_for("locked")
        with pytest.raises(KnowledgeBaseError, match="stayed locked"):
            KnowledgeBase(path, lock_timeout=1.0)  # the lock is really held
    finally:
        child.kill()
    assert Path(str(path) + ".lock").exists(), "the dead holder's lock file should still be there (stale)"
    began = time.perf_counter()
    kb = KnowledgeBase(path, lock_timeout=5.0)
    kb.add_trials("crash/keep", batch(1, 5, 3))
    assert time.perf_counter() - began < 5.0
    assert kb.count_trials("crash/keep") == 13


def test_a_killed_study_resumes_from_its_last_finished_trial(tmp_path: Path) -> None:
    path = tmp_path / "study.duckdb"
    prepare_store(path)
    child, _ = crash_once("study", path, 2.0, name="killed", trials=10_000)
    finished = child.committed()
    assert finished >= 1, "the kill came before the first trial finished"
    study = make_study(KnowledgeBase(path), "killed")
    resumed = len(study.trials)
    assert finished <= resumed <= finished + 1, "a finished trial was lost, or an unfinished one kept"
    assert [t.number for t in study.trials] == list(range(resumed))
    assert all(t.status == "ok" and t.value == study_objective(t.params) for t in study.trials)
    for _ in range(3):  # it goes on from there: new numbers, new points, all persisted
        trial = study.ask()
        assert trial.number == resumed + _
        study.tell(trial, study_objective(trial.params))
    stored = KnowledgeBase(path).trials("study/killed")
    assert len(stored) == resumed + 3
    points = {(round(t.params["x"], 12), round(t.params["y"], 12)) for t in study.trials}
    assert len(points) == resumed + 3, "the resumed study proposed a point it had already evaluated"
