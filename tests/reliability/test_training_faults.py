"""Training that goes wrong is data: diverged and out-of-memory runs are stored, a dead worker fails its job.

The runner's process executor writes every result from the parent (a single writer);
these tests check that each job's result arrives once, whatever happens in the workers.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from _harness import DIVERGING, FLAG_ENV, DyingTask, SignallingTask, start, variant

from metahp import KnowledgeBase

GiB = 1 << 30


@pytest.mark.slow
def test_diverged_and_out_of_memory_runs_are_stored_as_such(tmp_path: Path) -> None:
    path = tmp_path / "faults.duckdb"
    KnowledgeBase(path)
    child = start("faults", path=str(path), headroom=1 * GiB)
    assert child.finish(timeout=300) == 0, child.stderr()[-3000:]
    said = {line.split(" ", 1)[0]: json.loads(line.split(" ", 1)[1]) for line in child.lines}
    assert said["diverged"]["status"] == "diverged", said["diverged"]
    assert said["oom"]["status"] == "failed" and "allocate" in said["oom"]["message"], said["oom"]

    kb = KnowledgeBase(path)
    diverged = kb.trials("copy")
    assert diverged["status"].tolist() == ["diverged"] and diverged["objective"].isna().all()
    assert diverged["learning_rate"].tolist() == [DIVERGING["learning_rate"]]
    assert "exceeds" in diverged["metrics"][0]["message"] or "finite" in diverged["metrics"][0]["message"]
    oom = kb.trials(said["oom"]["task"])
    assert oom["status"].tolist() == ["failed"] and oom["objective"].isna().all()
    assert "allocate" in oom["metrics"][0]["message"]


JOBS: list[tuple[Any, dict[str, Any], int, int]] = [
    (variant(DyingTask, "dying"), {}, 0, 2),  # dies once the next job is training
    (variant(SignallingTask, "signal"), {"learning_rate": 1e-3}, 0, 40),
    ("copy", {"learning_rate": 3e-3}, 1, 2),
    ("copy", DIVERGING, 2, 12),
]


@pytest.fixture(scope="module")
def pool_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Any], list[Any], KnowledgeBase]:
    from metahp.runner import run_many

    folder = tmp_path_factory.mktemp("pool")
    kb = KnowledgeBase(folder / "pool.duckdb")
    os.environ[FLAG_ENV] = str(folder / "training-started")
    try:
        return JOBS, run_many(JOBS, executor="process", n_workers=2, kb=kb, progress=False, device="cpu"), kb
    finally:
        del os.environ[FLAG_ENV]


@pytest.mark.slow
def test_process_pool_returns_and_stores_every_job_once(pool_run: tuple[list[Any], list[Any], KnowledgeBase]) -> None:
    batch, results, kb = pool_run
    assert len(results) == len(batch)
    for result, (task, config, seed, budget) in zip(results, batch):
        assert result.task == (task if isinstance(task, str) else task.name) and result.seed == seed
        assert all(result.config[k] == v for k, v in config.items()) and result.budget == budget
    dead = results[0]
    assert dead.status == "failed" and "worker died" in dead.message and dead.objective is None
    stored = kb.trials()
    assert len(stored) == len(batch) and stored["content_hash"].is_unique
    assert sorted(stored["status"]) == sorted(r.status for r in results)
    assert stored.loc[stored["task"] == "copy-dying", "status"].tolist() == ["failed"]


@pytest.mark.slow
def test_the_rest_of_the_batch_goes_on_after_a_worker_dies(
        pool_run: tuple[list[Any], list[Any], KnowledgeBase]) -> None:
    _, results, _ = pool_run
    assert [r.status for r in results[1:]] == ["ok", "ok", "diverged"], [(r.status, r.message[:80]) for r in results]


@pytest.mark.slow
def test_trial_pool_survives_a_dying_worker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from metahp.runner import TrialPool

    flag = tmp_path / "flag"
    flag.touch()  # the dying task exits as soon as it starts training
    monkeypatch.setenv(FLAG_ENV, str(flag))
    with TrialPool("process", n_workers=1, device="cpu") as pool:
        dead = pool.run(variant(DyingTask, "dying"), {}, budget=2)
        alive = pool.run("copy", {"learning_rate": 3e-3}, seed=1, budget=2)
    assert dead.status == "failed" and "worker died" in dead.message and dead.objective is None
    assert alive.status == "ok" and alive.objective is not None and alive.seed == 1
