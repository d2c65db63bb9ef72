"""Baselines: Optuna's GP sampler without its CPU device guard proposes exactly what it proposes with it."""

from __future__ import annotations

import math
import warnings

import optuna
import optuna.samplers._gp.sampler as gp_sampler

from metahp.bench._baselines import optuna_gp_on_cpu


def _objective(trial: optuna.Trial) -> float:
    x = trial.suggest_float("x", 1e-4, 1.0, log=True)
    n = trial.suggest_int("n", 1, 64, log=True)
    kind = trial.suggest_categorical("kind", ["a", "b", "c"])
    return (math.log10(x) + 2.0) ** 2 + (math.log2(n) - 3.0) ** 2 / 9 + {"a": 0.3, "b": 0.0, "c": 0.6}[kind]


def _params(n_trials: int) -> list[dict[str, object]]:
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # GPSampler is experimental in some Optuna versions
        study = optuna.create_study(sampler=optuna.samplers.GPSampler(seed=3, n_startup_trials=4))
        study.optimize(_objective, n_trials=n_trials)
    return [t.params for t in study.trials]


def test_gp_sampler_without_device_guard_proposes_the_same() -> None:
    stock = _params(9)
    with optuna_gp_on_cpu():
        assert type(gp_sampler.torch).__name__ == "_TorchOnCPU"
        unguarded = _params(9)
    assert type(gp_sampler.torch).__name__ != "_TorchOnCPU"  # restored
    assert unguarded == stock
    assert len({tuple(sorted(p.items())) for p in stock[4:]}) > 1  # the GP really proposed (not one repeated point)
