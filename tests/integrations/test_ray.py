from __future__ import annotations

import math

from ray.tune.search import ConcurrencyLimiter, Searcher

from metahp import Categorical, Float, SearchSpace
from metahp.integrations import MetaHPSearch


def test_metahp_search_speaks_the_ray_searcher_protocol() -> None:
    # Driven through Ray's own ConcurrencyLimiter wrapper, as Tune's TuneConfig(max_concurrent_trials=...) does.
    space = SearchSpace([Float("x", -2.0, 2.0), Categorical("c", ["a", "b"])])
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


def test_tuner_fit_drives_a_real_ray_tune_search(tmp_path) -> None:
    import ray
    from ray import tune

    space = SearchSpace([Float("x", -2.0, 2.0), Categorical("c", ["a", "b"])])

    def trainable(config: dict) -> None:
        tune.report({"loss": (config["x"] - 1.0) ** 2 + (config["c"] == "b")})

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        searcher = MetaHPSearch(space, metric="loss", mode="min", n_initial=2, seed=0)
        tuner = tune.Tuner(trainable, tune_config=tune.TuneConfig(search_alg=searcher, num_samples=5,
                                                                  max_concurrent_trials=2),
                           run_config=tune.RunConfig(storage_path=str(tmp_path), name="metahp", verbose=0))
        results = tuner.fit()
        assert len(results) == 5 and not results.errors
        losses = sorted(r.metrics["loss"] for r in results)
        best = results.get_best_result(metric="loss", mode="min")
        assert best.metrics["loss"] == losses[0] and set(best.config) == {"x", "c"}
        study = searcher.study
        assert len(study.trials) == 5 and all(t.status == "ok" for t in study.trials)
        assert study.best_value == losses[0]
        # Without metric and mode (TuneConfig's reach a searcher only with a param_space) the run fails
        # at once with the fix in the message, instead of waiting forever for a suggestion.
        lost = tune.Tuner(trainable, tune_config=tune.TuneConfig(search_alg=MetaHPSearch(space), metric="loss",
                                                                 mode="min", num_samples=2),
                          run_config=tune.RunConfig(storage_path=str(tmp_path), name="lost", verbose=0))
        try:
            outcome = repr(lost.fit().errors)
        except Exception as exc:  # noqa: BLE001 - Ray wraps the searcher's error in its own types
            outcome = repr(exc)
        assert "pass them to MetaHPSearch" in outcome
    finally:
        ray.shutdown()
