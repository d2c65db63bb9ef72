from __future__ import annotations

import json

import numpy as np
import pytest

from metahp.bench import (
    METHODS,
    PoolProblem,
    get_method,
    markdown_table,
    run_transfer,
    stream_seed,
    summary_table,
    write_results,
)
from metahp.bench._transfer import nearest_tasks
from metahp.errors import InvalidConfigError


def test_pool_problem_refuses_repeats_and_snaps_to_free_members(suite) -> None:
    pool = suite.tasks[0]
    problem = PoolProblem(pool, budget=2)
    first = problem.snap(pool.X[7])
    assert first == 7
    problem.evaluate(first)
    with pytest.raises(InvalidConfigError):
        problem.evaluate(7)
    assert problem.snap(pool.X[7]) != 7
    problem.evaluate(problem.snap(pool.X[7]))
    assert problem.remaining == 0


def test_every_task_and_seed_has_its_own_stream(suite) -> None:
    # Identical pools on two tasks: a shared stream would pick the same members on both.
    random = get_method("random")
    orders = []
    for task in suite.tasks[:2]:
        problem = PoolProblem(task, 10)
        random.search(problem, None, stream_seed(suite.name, task.name, 0))
        orders.append(problem.order)
    assert orders[0] != orders[1]
    assert stream_seed("toy", "t", 0) != stream_seed("toy", "t", 1)


def test_unknown_method_is_a_typed_error() -> None:
    with pytest.raises(InvalidConfigError, match="choose from"):
        get_method("nope")


def test_optuna_learns_from_the_snapped_configurations(suite) -> None:
    import optuna

    from metahp.bench._baselines import optuna_pool_search

    pool = suite.tasks[0]
    problem = PoolProblem(pool, 15)
    optuna_pool_search(problem, suite.space, optuna.samplers.TPESampler(seed=0))
    assert len(problem.order) == 15 and len(set(problem.order)) == 15


def test_nearest_tasks_follow_the_meta_features(make_suite) -> None:
    suite = make_suite(n_tasks=6)
    near = nearest_tasks(suite, suite.tasks[0], 2)
    assert [t.name for t in near] == ["toy/t1", "toy/t2"]


@pytest.mark.parametrize("shared", [pytest.param(True, marks=pytest.mark.slow), False])  # True: five methods, GP
def test_transfer_run_writes_the_protocol_record(tmp_path, make_suite, shared: bool) -> None:
    suite = make_suite(n_tasks=5, pool=80, shared=shared)
    methods = ["random", "tpe", "knn-tpe", "zeroshot", "gp-botorch"] if shared else ["random", "zeroshot"]
    records = run_transfer([suite], methods, seeds=2, budget=12, workers=1,
                           targets={"toy": ["toy/t0", "toy/t2", "toy/t4"]})
    record = records["toy"]
    assert record["tasks"] == 3 and record["seeds"] == 2 and record["budget"] == 12
    assert set(record["methods"]) == set(methods)
    for entry in record["methods"].values():
        assert set(entry["regret"]) == {"1", "3", "5", "10"}
        assert len(entry["regret_curve"]) == 12
        assert np.all(np.diff(entry["regret_curve"]) <= 1e-12)
        assert entry["seconds_per_suggestion"] > 0
        assert "gap_pct" in entry
    ranks = [e["rank"]["10"] for e in record["methods"].values()]
    assert sum(ranks) == pytest.approx(sum(range(1, len(methods) + 1)))
    # Transfer that works: the optimum moves smoothly with the meta-feature.
    assert record["methods"]["zeroshot"]["regret"]["1"] < record["methods"]["random"]["regret"]["1"]
    paths = write_results(record, tmp_path)
    saved = json.loads(paths["json"].read_text())
    assert saved["git_rev"] and saved["generated_at"] and saved["suite"] == "toy"
    assert paths["png"].stat().st_size > 1000
    assert "| random |" in markdown_table(saved)
    table = summary_table(tmp_path)
    assert "toy" in table and "zeroshot" in table
    speedups = table.split("Speed-up against cold GP-BO")[1]
    row = next(line for line in speedups.splitlines() if line.startswith("| zeroshot |"))
    expected = saved["methods"]["zeroshot"]["speedup_vs_gp"]
    assert row == f"| zeroshot | {'—' if expected is None else f'{expected:.1f}'} |"
    assert "| gp |" not in speedups


def test_a_method_failing_is_reported_not_fatal(monkeypatch, make_suite) -> None:
    suite = make_suite(n_tasks=3, pool=30)
    monkeypatch.setitem(METHODS, "broken", _Broken())
    record = run_transfer([suite], ["random", "broken"], seeds=1, budget=5, workers=1)["toy"]
    assert "broken" in record["failed_methods"] and "random" in record["methods"]


class _Broken(get_method("random").__class__):  # type: ignore[misc]
    name = "broken"

    def search(self, problem, state, seed) -> None:
        problem.evaluate(0)  # spends one of five: the harness must flag the unspent budget


def test_any_knowledge_base_family_is_a_suite(tmp_path) -> None:
    from metahp.bench import benchmark_transfer
    from metahp.kb import KnowledgeBase
    from metahp.space import Float, SearchSpace

    space = SearchSpace([Float("learning_rate", 1e-4, 1e-1, log=True), Float("dropout", 0.0, 0.5)])
    kb = KnowledgeBase(tmp_path / "kb.duckdb")
    rng = np.random.default_rng(0)
    for t in range(3):
        kb.add_task(f"fam/t{t}", family="fam", meta_features={"size": float(t)}, space=space,
                    objective_name="val_loss", direction="minimize")
        configs = space.sample(40, seed=t)
        kb.add_trials(f"fam/t{t}", [{**c, "objective": 1.0 + c["dropout"] + 0.1 * rng.random()} for c in configs])
    records = benchmark_transfer(kb=tmp_path / "kb.duckdb", suites=["fam"], methods=["random", "zeroshot"],
                                 seeds=2, budget=5, out=tmp_path / "out", workers=1)
    record = records["fam"]
    assert record["tasks"] == 3 and record["loss_like"] is True
    assert (tmp_path / "out" / "transfer_fam.json").exists()
    assert record["methods"]["zeroshot"]["regret"]["1"] < record["methods"]["random"]["regret"]["1"]


def test_subsample_keeps_the_same_configurations_on_a_shared_grid() -> None:
    import pandas as pd

    from metahp.bench import subsample

    grid = pd.DataFrame({"a": np.repeat(np.arange(30), 30), "b": np.tile(np.arange(30), 30)})
    shuffled = grid.sample(frac=1.0, random_state=1)
    first = subsample(grid, ["a", "b"], 50, seed=7)
    second = subsample(shuffled, ["a", "b"], 50, seed=7)
    assert len(first) == 50
    assert sorted(map(tuple, first.to_numpy())) == sorted(map(tuple, second.to_numpy()))


def test_missing_external_data_is_a_clear_error(monkeypatch, tmp_path) -> None:
    from metahp.bench import find_external
    from metahp.errors import ImportSourceError

    monkeypatch.setenv("METAHP_EXTERNAL", str(tmp_path / "absent"))
    with pytest.raises(ImportSourceError, match="METAHP_EXTERNAL") as caught:
        find_external()
    assert "docs/benchmarks.md" in str(caught.value) and "--kb PATH --suite FAMILY" in str(caught.value)
