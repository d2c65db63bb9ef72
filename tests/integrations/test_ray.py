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
