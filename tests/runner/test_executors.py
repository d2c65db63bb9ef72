from __future__ import annotations

import dataclasses
import math

import pytest

from metahp.errors import InvalidConfigError, UnknownTaskError
from metahp.kb import KnowledgeBase
from metahp.runner import Job, record_result, run_many, run_trial
from metahp.runner import suite as tasks
from metahp.space import Float, SearchSpace

JOBS = [("markov-low", {"learning_rate": 3e-3}, 0, 8), ("copy", {"optimizer": "sgd", "learning_rate": 0.3}, 1, 8)]


def _inline_reference() -> list[list[tuple[int, float]]]:
    return [run_trial(task, config, seed=seed, budget=budget, threads=1).curve for task, config, seed, budget in JOBS]


def test_inline_writes_each_result_to_the_knowledge_base() -> None:
    kb = KnowledgeBase(":memory:")
    results = run_many(JOBS, executor="inline", kb=kb, progress=False)
    assert [r.task for r in results] == ["markov-low", "copy"]
    assert [r.status for r in results] == ["ok", "ok"]
    trials = kb.trials()
    assert len(trials) == 2 and set(trials["source"]) == {"runner"}
    assert sorted(kb.tasks()["name"]) == ["copy", "markov-low"]
    stored = trials.set_index("task").loc["copy"]
    assert stored["value"] == pytest.approx(results[1].objective) and stored["seed"] == 1


@pytest.mark.filterwarnings("ignore:cannot instantiate:RuntimeWarning")  # the broken model has no parameter count
def test_diverged_and_failed_results_are_stored_as_data() -> None:
    task = tasks.get("markov-low")
    wide = SearchSpace([Float("learning_rate", 1e-5, 100.0, log=True),
                        *[p for p in task.space.params if p.name != "learning_rate"]])
    wide_task = dataclasses.replace(task, name="markov-low-wide", space=wide)
    diverged = run_trial(wide_task, {"learning_rate": 10.0, "warmup_ratio": 0.0}, budget=30, threads=1)
    broken = dataclasses.replace(task, name="markov-low-broken",
                                 model=dataclasses.replace(task.model, hidden_size=50, num_heads=4))
    failed = run_trial(broken, {}, budget=5, threads=1)
    assert (diverged.status, failed.status) == ("diverged", "failed")
    kb = KnowledgeBase(":memory:")
    record_result(kb, diverged, wide_task)
    record_result(kb, failed, broken)
    stored = kb.trials().set_index("task")
    assert stored.loc["markov-low-wide", "status"] == "diverged"
    assert stored.loc["markov-low-broken", "status"] == "failed"
    assert stored["value"].isna().all()


@pytest.mark.slow
def test_process_pool_matches_inline() -> None:
    reference = _inline_reference()
    results = run_many(JOBS, executor="process", n_workers=2, progress=False)
    assert [r.status for r in results] == ["ok", "ok"]
    for result, curve in zip(results, reference):
        assert [s for s, _ in result.curve] == [s for s, _ in curve]
        assert [v for _, v in result.curve] == pytest.approx([v for _, v in curve], rel=1e-6)


@pytest.mark.slow
def test_ray_local_matches_inline() -> None:
    reference = _inline_reference()[:1]
    results = run_many(JOBS[:1], executor="ray", n_workers=1, progress=False)
    assert results[0].status == "ok"
    assert [v for _, v in results[0].curve] == pytest.approx([v for _, v in reference[0]], rel=1e-6)


def test_bad_jobs_raise_before_anything_trains() -> None:
    with pytest.raises(UnknownTaskError):
        run_many([("markov-low", {}), ("no-such-task", {})], progress=False)
    with pytest.raises(InvalidConfigError, match="learning_rate"):
        run_many([Job("markov-low", {"learning_rate": -1.0})], executor="process", progress=False)
    with pytest.raises(InvalidConfigError, match="executor"):
        run_many(JOBS, executor="dask", progress=False)
    with pytest.raises(InvalidConfigError, match="n_workers"):
        run_many(JOBS, executor="process", n_workers=0, progress=False)


@pytest.mark.slow
def test_trial_pool_keeps_its_workers_across_calls() -> None:
    from concurrent.futures import ThreadPoolExecutor

    from metahp.runner import TrialPool

    reference = _inline_reference()
    with TrialPool("process", n_workers=2, device="cpu") as pool:
        with ThreadPoolExecutor(2) as threads:  # as Study.optimize(n_jobs=2) calls it
            results = list(threads.map(lambda job: pool.run(*job), JOBS))
        workers = pool._pool
        again = pool.run(*JOBS[0])
        assert pool._pool is workers  # the same long-lived workers served the next trial
    assert pool._pool is None  # closed
    assert [r.status for r in results] == ["ok", "ok"]
    for result, curve in zip([*results, again], [*reference, reference[0]]):
        assert [v for _, v in result.curve] == pytest.approx([v for _, v in curve], rel=1e-6)
    with pytest.raises(InvalidConfigError, match="n_workers"):
        TrialPool("process", n_workers=0)
    with pytest.raises(InvalidConfigError, match="learning_rate"):
        TrialPool("inline").run("markov-low", {"learning_rate": -1.0})


def test_progress_reaches_the_caller_from_inline_runs_and_the_bar(capsys) -> None:
    from metahp.runner import Progress, TrialPool

    seen: list[Progress] = []
    with TrialPool("inline") as pool:
        result = pool.run("markov-low", {}, budget=6, progress=seen.append)
    assert result.status == "ok" and seen and seen[-1].step == 6 == seen[-1].budget
    assert seen[-1].seconds_left == 0 and seen[-1].describe().startswith("step 6/6, loss ")
    assert all(math.isfinite(p.loss) for p in seen)
    run_many([("markov-low", {}, 0, 6)], executor="inline", progress=True)  # as verify and kb build show it
    assert "markov-low #0: step 6/6, loss " in capsys.readouterr().err


@pytest.mark.slow
def test_ray_jobs_fit_a_cluster_smaller_than_this_machine() -> None:
    # A task asking for more CPUs than any Ray node has is never scheduled and waits forever without an error:
    # on a 1-CPU Ray, a job's threads (cores // workers) are lowered to 1 instead.
    import threading

    import ray

    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False, configure_logging=False)
    results: list = []
    try:
        worker = threading.Thread(target=lambda: results.extend(
            run_many(JOBS[:1], executor="ray", n_workers=1, progress=False)), daemon=True)
        worker.start()
        worker.join(timeout=240)
        assert not worker.is_alive(), "the Ray job was never scheduled"
    finally:
        ray.shutdown()
    assert [r.status for r in results] == ["ok"]
