from __future__ import annotations

import pandas as pd
import pytest

from metahp.bench import Suite, TaskPool
from metahp.space import Categorical, Float, SearchSpace


def make_suite(n_tasks: int = 6, pool: int = 120, shared: bool = True) -> Suite:
    """Tasks whose optimum moves with a meta-feature; pools drawn from the same space."""
    space = SearchSpace([Float("x", 0.0, 1.0), Float("learning_rate", 1e-4, 1e-1, log=True),
                         Categorical("optimizer", ["adamw", "sgd"])])
    tasks = []
    for t in range(n_tasks):
        configs = space.sample(pool, seed=0 if shared else t)
        frame = pd.DataFrame(configs)
        X = space.encode_many(configs)
        m = t / max(1, n_tasks - 1)
        y = (X[:, 0] - (0.2 + 0.6 * m)) ** 2 + (X[:, 1] - 0.5) ** 2 + 0.3 * (frame["optimizer"] == "sgd").to_numpy()
        tasks.append(TaskPool(f"toy/t{t}", {"mf": m, "size": 10.0 ** (1 + t)}, frame, X, y, y + 1.0))
    return Suite("toy", space, tasks, loss_like=True)


@pytest.fixture
def suite() -> Suite:
    return make_suite()


@pytest.fixture(name="make_suite")
def make_suite_fixture():
    return make_suite
