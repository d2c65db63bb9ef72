from __future__ import annotations

import math
import time

import pytest
from ray.tune.search import ConcurrencyLimiter, Searcher

from metahp import Categorical, Float, Int, SearchSpace
from metahp._paths import bundled_kb_dir
from metahp.integrations import MetaHPSearch
from metahp.kb import KnowledgeBase


@pytest.fixture
def kb(tmp_path) -> KnowledgeBase:
    store = KnowledgeBase(tmp_path / "kb.duckdb")
    store.import_(bundled_kb_dir())  # the seed knowledge base, in a store of the test's own
    return store


def test_metahp_search_speaks_the_ray_searcher_protocol() -> None:
    # Driven through Ray's own ConcurrencyLimiter wrapper, as Tune's TuneConfig(max_concurrent_trials=...) does.
    space = SearchSpace([Float("x", -2.0, 2.0), Categorical("c", ["a", "b"])])
    with pytest.warns(UserWarning, match="starts cold"):
        inner = MetaHPSearch(space, n_initial=2, seed=0)
    assert isinstance(inner, Searcher)
    searcher = ConcurrencyLimiter(inner, max_concurrent=1)
    assert searcher.set_search_properties("loss", "min", {})
    losses = []
    for i in range(6):
        config = searcher.suggest(f"t{i}")
        assert config is not None and set(config) == {"x", "c"}
        assert searcher.suggest("blocked") is None  # the limiter holds further trials back
        if i == 3:
            searcher.on_trial_complete(f"t{i}", None, error=True)
        elif i == 4:
            searcher.on_trial_complete(f"t{i}", {"loss": math.inf})
        else:
            loss = (config["x"] - 1.0) ** 2 + (config["c"] == "b")
            losses.append(loss)
            searcher.on_trial_complete(f"t{i}", {"loss": loss})
    study = inner.study
    assert [t.status for t in study.trials] == ["ok", "ok", "ok", "failed", "diverged", "ok"]
    assert study.best_value == min(losses) and study.direction == "minimize"
    assert [inner.origins[f"t{i}"] for i in range(6)] == ["random", "random", "bo", "bo", "bo", "bo"]


def test_metahp_search_answers_in_the_users_names_and_stores_each_trial(kb) -> None:
    space = SearchSpace([Float("lr", 1e-5, 1.0, log=True), Int("per_device_train_batch_size", 4, 32, log=True)])
    searcher = MetaHPSearch(space, metric="val", mode="min", kb=kb, task="markov-low", exclude=["markov-low"],
                            n_initial=2, seed=0)
    assert searcher.study.space.names == ["learning_rate", "batch_size"]  # canonical inside
    before = len(kb.trials(task="markov-low"))
    configs = []
    for i in range(3):
        config = searcher.suggest(f"r{i}")
        assert set(config) == {"lr", "per_device_train_batch_size"}  # the user's names outside
        configs.append(config)
        searcher.on_trial_complete(f"r{i}", {"val": 2.0 + i})
    assert [searcher.origins[f"r{i}"] for i in range(3)] == ["portfolio", "portfolio", "bo"]
    stored = kb.trials(task="markov-low")
    ours = stored[stored["source"] == "ray-tune"]
    assert len(stored) == before + 3 and len(ours) == 3 and searcher.recorded == ["r0", "r1", "r2"]
    assert sorted(ours["value"]) == [2.0, 3.0, 4.0]
    assert sorted(m["ray_trial_id"] for m in ours["metrics"]) == ["r0", "r1", "r2"]
    assert {c["learning_rate"] for c in ours["config"]} == {c["lr"] for c in configs}


@pytest.mark.slow
def test_tuner_fit_trains_for_real_and_the_driver_stores_every_trial(kb, tmp_path) -> None:
    # The shape: a task and a knowledge base, a local 2-CPU Ray, 4 real trainings, 2 at a time.
    import ray
    from ray import tune

    from metahp.runner import ray_init, ray_tune_trainable

    task = "markov-low"
    space = kb.space(task)
    before = len(kb.trials(task=task))
    assert ray_init(num_cpus=2)
    try:
        searcher = MetaHPSearch(space, metric="objective", mode="min", kb=kb, task=task, exclude=[task], n_initial=2,
                                seed=0)
        tuner = tune.Tuner(ray_tune_trainable(task, budget=6, device="cpu", threads=1),
                           tune_config=tune.TuneConfig(search_alg=searcher, num_samples=4, max_concurrent_trials=2,
                                                       time_budget_s=240),
                           run_config=tune.RunConfig(storage_path=str(tmp_path / "ray"), name="metahp", verbose=0))
        started = time.perf_counter()
        results = tuner.fit()
        wall = time.perf_counter() - started
    finally:
        ray.shutdown()
    print(f"Tuner.fit: 4 trainings in {wall:.1f} s")
    assert wall < 300 and len(results) == 4 and not results.errors
    frame = results.get_dataframe()
    # Two trainings ran at the same time: some trial started before another ended.
    spans = sorted(zip(frame["timestamp"] - frame["time_total_s"], frame["timestamp"]))
    assert any(later_start < earlier_end for (_, earlier_end), (later_start, _) in zip(spans, spans[1:]))
    stored = kb.trials(task=task)
    ours = stored[stored["source"] == "ray-tune"]
    assert len(stored) == before + 4 and len(ours) == 4
    by_id = {m["ray_trial_id"]: row for m, (_, row) in zip(ours["metrics"], ours.iterrows())}
    assert set(by_id) == set(frame["trial_id"])
    for _, r in frame.iterrows():
        row = by_id[r["trial_id"]]
        assert row["status"] == r["status"] and row["status"] in ("ok", "diverged")  # a BO pick may diverge
        if row["status"] == "ok":
            assert row["value"] == pytest.approx(r["objective"])
        assert len(row["curve"]) >= 1 and row["cost"] > 0 and row["device"] == "cpu"  # the whole runner result
        assert row["metrics"]["metahp_origin"] == searcher.origins[r["trial_id"]]
    origins = list(searcher.origins.values())  # in the order suggested
    assert origins[:2] == ["portfolio", "portfolio"] and set(origins) <= {"portfolio", "bo"}
    assert "ok" in set(frame["status"])
