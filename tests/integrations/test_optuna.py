from __future__ import annotations

import optuna
import pytest

from metahp.integrations import MetaHPSampler, to_search_space
from metahp.space import Categorical, Float, Int

optuna.logging.set_verbosity(optuna.logging.WARNING)


def test_distributions_map_to_a_search_space() -> None:
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    space = to_search_space({
        "lr": FloatDistribution(1e-5, 1e-1, log=True),
        "wd": FloatDistribution(0.0, 0.3, step=0.1),
        "bs": IntDistribution(8, 64, log=True),
        "layers": IntDistribution(2, 8, step=2),
        "opt": CategoricalDistribution(["adamw", "sgd"]),
        "fixed": IntDistribution(3, 3),
    })
    assert space["lr"] == Float("lr", 1e-5, 1e-1, log=True)
    assert space["bs"] == Int("bs", 8, 64, log=True) and space["layers"] == Int("layers", 2, 8, step=2)
    assert space["opt"] == Categorical("opt", ("adamw", "sgd")) and "fixed" not in space


def test_sampler_in_a_real_optuna_study() -> None:
    def objective(trial: optuna.Trial) -> float:
        x = trial.suggest_float("x", -3.0, 3.0)
        lr = trial.suggest_float("lr", 1e-4, 1e-1, log=True)
        n = trial.suggest_int("n", 1, 9, step=2)
        opt = trial.suggest_categorical("opt", ["a", "b"])
        w = trial.suggest_float("w", 0.0, 1.0, step=0.25)
        if trial.number == 3:
            raise optuna.TrialPruned()
        return (x - 1) ** 2 + abs(n - 5) / 10 + (opt == "b") + w + abs(lr - 1e-2)

    sampler = MetaHPSampler(seed=0, n_initial=3)
    study = optuna.create_study(sampler=sampler)
    study.enqueue_trial({"x": 1.0, "lr": 1e-2, "n": 5, "opt": "a", "w": 0.0})
    study.optimize(objective, n_trials=10)
    assert len(study.trials) == 10
    inner = next(iter(sampler._studies.values()))
    # Every finished Optuna trial reached the metahp study: its own proposals and the enqueued first one.
    assert len(inner.trials) == 10 and [t.origin for t in inner.trials][:2] == ["external", "sobol"]
    for ours, theirs in zip(inner.trials, study.trials):
        assert ours.config == theirs.params
    assert {t.status for t in inner.trials} == {"ok", "pruned"}
    for t in study.trials:
        assert t.params["w"] in (0.0, 0.25, 0.5, 0.75, 1.0) and t.params["n"] in (1, 3, 5, 7, 9)
    assert study.best_value == pytest.approx(0.0)


def test_sampler_maximises() -> None:
    study = optuna.create_study(direction="maximize", sampler=MetaHPSampler(seed=1, n_initial=3))
    study.optimize(lambda t: -((t.suggest_float("x", 0.0, 1.0) - 0.3) ** 2), n_trials=10)
    assert abs(study.best_params["x"] - 0.3) < 0.15
