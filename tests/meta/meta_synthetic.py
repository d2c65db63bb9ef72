"""A small synthetic family of tasks whose best learning rate moves with model size."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from metahp.space import Categorical, Float, Int, SearchSpace

SPACE = SearchSpace([
    Float("learning_rate", 1e-5, 1e-1, log=True),
    Int("batch_size", 8, 512, log=True),
    Categorical("optimizer", ["adamw", "sgd"]),
])


def best_lr(params: float) -> float:
    """The synthetic optimum: smaller learning rates for bigger models."""
    return 10 ** (-2.0 - 0.8 * (math.log10(params) - 6.0))


def loss(params: float, lr: float, bs: int, optimizer: str) -> float:
    """A smooth loss surface; learning rates 30x above the optimum diverge (NaN)."""
    gap = math.log10(lr) - math.log10(best_lr(params))
    if gap > 1.5:
        return math.nan
    return 2.0 + 0.3 * gap**2 + 0.05 * (math.log2(bs) - 6.0) ** 2 / 9 + (0.2 if optimizer == "sgd" else 0.0)


def task_meta(params: float) -> dict[str, float]:
    return {"model_params": params, "budget_tokens": 20 * params, "model_layers": round(math.log2(params))}


def make_trials(n_tasks: int = 6, n_trials: int = 60, seed: int = 0) -> tuple[pd.DataFrame, dict[str, dict]]:
    """A trials frame in ``KnowledgeBase.trials()`` format and the tasks' meta-features."""
    rng = np.random.default_rng(seed)
    rows, metas = [], {}
    for t, params in enumerate(np.logspace(6, 8.5, n_tasks)):
        name = f"synth/{t}"
        metas[name] = task_meta(float(params))
        for config in SPACE.sample(n_trials, seed=seed * 1000 + t):
            value = loss(float(params), config["learning_rate"], config["batch_size"], config["optimizer"])
            rows.append({"task": name, "family": "synth", **config,
                         "objective": value + 0.002 * rng.standard_normal() if math.isfinite(value) else math.nan,
                         "status": "ok" if math.isfinite(value) else "diverged",
                         "direction": "minimize", "objective_name": "loss"})
    return pd.DataFrame(rows), metas
