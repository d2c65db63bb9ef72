"""Transfer baselines: kNN-warm-started TPE, Syne Tune's zero-shot portfolio and CTS, the Step Law."""

from __future__ import annotations

import contextlib
import copy
import io
import logging
import math
import warnings
from typing import Any

import numpy as np
import pandas as pd

from metahp.bench._baselines import _OptunaMethod
from metahp.bench._method import Method, register_method
from metahp.bench._problem import PoolProblem, Suite, TaskPool, stream_seed
from metahp.errors import InvalidConfigError
from metahp.space import Float, Int, SearchSpace, encode_loose

__all__ = ["KNNTPE", "ZeroShot", "CTS", "ScalingLaw", "nearest_tasks", "encode_loose"]


def nearest_tasks(suite: Suite, target: TaskPool, k: int) -> list[TaskPool]:
    """The ``k`` source tasks nearest ``target`` by meta-feature distance.

    Features spanning more than a decade of positive values are compared on log10; each
    feature is z-scored over the suite's tasks; the distance is the root mean squared
    difference over the features both tasks have (NaN skipped). Sources sharing no feature
    with the target come last, in suite order.
    """
    sources = suite.sources(target.name)
    names = sorted({n for t in suite.tasks for n in t.meta_features})
    table = np.array([[float(t.meta_features.get(n, np.nan)) for n in names] for t in suite.tasks], dtype=float)
    if table.size:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            positive = np.nanmin(table, axis=0) > 0
            spread = np.nanmax(table, axis=0) / np.nanmin(table, axis=0)
            logged = positive & (spread > 10)
            table[:, logged] = np.log10(table[:, logged])
            std = np.nanstd(table, axis=0)
            table = (table - np.nanmean(table, axis=0)) / np.where(std > 0, std, 1.0)
    rows = {t.name: table[i] for i, t in enumerate(suite.tasks)}

    def distance(source: TaskPool) -> float:
        diff = rows[source.name] - rows[target.name]
        diff = diff[np.isfinite(diff)]
        return float(np.sqrt(np.mean(diff**2))) if diff.size else math.inf

    return sorted(sources, key=distance)[:k]


class KNNTPE(_OptunaMethod):
    """TPE with the best configuration of each of the 5 nearest source tasks enqueued."""

    name = "knn-tpe"
    note = "Optuna TPESampler; best configuration of the 5 nearest source tasks (meta-feature distance) enqueued"

    def prepare(self, suite: Suite, target: TaskPool) -> Any:
        """Pick the nearest sources' best configurations."""
        enqueue = []
        for source in nearest_tasks(suite, target, 5):
            best = int(np.argmin(source.y))
            enqueue.append(suite.space.validate(source.frame.iloc[best].to_dict()))
        return {"space": suite.space, "enqueue": enqueue}

    def sampler(self, seed: int) -> Any:
        """TPE with Optuna's defaults."""
        import optuna

        return optuna.samplers.TPESampler(seed=seed)


def syne_tune_config_space(space: SearchSpace) -> dict[str, Any]:
    """The Syne Tune configuration space of ``space``."""
    from syne_tune import config_space as cs

    out: dict[str, Any] = {}
    for p in space.params:
        if isinstance(p, Float):
            out[p.name] = cs.loguniform(p.low, p.high) if p.log else cs.uniform(p.low, p.high)
        elif isinstance(p, Int):
            if p.step != 1:
                out[p.name] = cs.choice(list(range(p.low, p.high + 1, p.step)))
            else:
                out[p.name] = cs.lograndint(p.low, p.high) if p.log else cs.randint(p.low, p.high)
        else:
            out[p.name] = cs.choice(list(p.choices))
    return out


def _evaluations(space: SearchSpace, frame: pd.DataFrame, y: np.ndarray) -> Any:
    from syne_tune.optimizer.schedulers.transfer_learning.transfer_learning_task_evaluation import (
        TransferLearningTaskEvaluations,
    )

    return TransferLearningTaskEvaluations(
        configuration_space=syne_tune_config_space(space),
        hyperparameters=frame[space.names].reset_index(drop=True),
        objectives_names=["objective"],
        objectives_evaluations=np.asarray(y, dtype=float).reshape(-1, 1, 1, 1),
    )


def _keys(X: np.ndarray) -> list[bytes]:
    return [row.tobytes() for row in np.round(X, 9)]


def _impute_on(space: SearchSpace, source: TaskPool, target: TaskPool) -> np.ndarray:
    """The source's objective on the target's pool.

    Recorded where the source has the configuration, else predicted by Syne Tune's
    XGBoost surrogate pipeline.
    """
    recorded: dict[bytes, list[float]] = {}
    for key, value in zip(_keys(source.X), source.y):
        recorded.setdefault(key, []).append(float(value))
    keys = _keys(target.X)
    values = np.array([np.mean(recorded[k]) if k in recorded else np.nan for k in keys])
    missing = np.isnan(values)
    if missing.any():
        import xgboost
        from syne_tune.blackbox_repository.blackbox_surrogate import BlackboxSurrogate

        model = BlackboxSurrogate.make_model_pipeline(
            configuration_space=syne_tune_config_space(space), fidelity_space={},
            model=xgboost.XGBRegressor(n_jobs=1),
        )
        model.fit(source.frame[space.names], source.y)
        values[missing] = np.asarray(model.predict(target.frame[space.names].iloc[np.flatnonzero(missing)]))
    return values


class ZeroShot(Method):
    """Syne Tune's ``ZeroShotTransfer`` (Wistuba et al. 2015) over the target's pool."""

    name = "zeroshot"
    note = (
        "syne-tune ZeroShotTransfer (greedy summed-rank portfolio) over the target pool's configurations; "
        "a source's value at a configuration it lacks is imputed by syne-tune's XGBoost BlackboxSurrogate"
    )

    def prepare(self, suite: Suite, target: TaskPool) -> Any:
        """Compute the portfolio once: it is deterministic and takes no feedback."""
        from syne_tune.optimizer.schedulers.transfer_learning.zero_shot import ZeroShotTransfer

        evaluations = {
            s.name: _evaluations(suite.space, target.frame, _impute_on(suite.space, s, target))
            for s in suite.sources(target.name)
        }
        # ZeroShotTransfer warns that configurations must be shared by all tasks: they are (the pool).
        logging.getLogger("syne_tune").setLevel(logging.ERROR)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            scheduler = ZeroShotTransfer(
                config_space=syne_tune_config_space(suite.space), metric="objective",
                transfer_learning_evaluations=evaluations, do_minimize=True,
                sort_transfer_learning_evaluations=False, use_surrogates=False,
                random_seed=stream_seed(suite.name, target.name, "zeroshot") % 2**32,
            )
            portfolio = []
            for _ in range(min(target.size, 50)):
                config = scheduler.get_config()
                if config is None:
                    break
                portfolio.append(encode_loose(suite.space, config))
        return {"portfolio": portfolio}

    def search(self, problem: PoolProblem, state: Any, seed: int) -> None:
        """Evaluate the portfolio in order; past its end, the pool in random order."""
        problem.evaluate_portfolio(state["portfolio"], seed)


class CTS(Method):
    """Syne Tune's ``QuantileBasedSurrogateSearcher`` (Salinas et al. 2020, copula Thompson sampling)."""

    name = "cts"
    note = (
        "syne-tune QuantileBasedSurrogateSearcher: XGBoost on Gaussian-copula-normalised source objectives, "
        "Thompson samples over its 100k random candidates, each proposal snapped to the nearest free pool member"
    )

    def prepare(self, suite: Suite, target: TaskPool) -> Any:
        """Fit the surrogate on the source tasks once per target."""
        from syne_tune.optimizer.schedulers.transfer_learning.quantile_based.quantile_based_searcher import (
            QuantileBasedSurrogateSearcher,
        )

        evaluations = {s.name: _evaluations(suite.space, s.frame, s.y) for s in suite.sources(target.name)}
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):  # syne-tune prints timings
            warnings.simplefilter("ignore")
            searcher = QuantileBasedSurrogateSearcher(
                config_space=syne_tune_config_space(suite.space), transfer_learning_evaluations=evaluations,
                random_seed=stream_seed(suite.name, target.name, "cts") % 2**32,
            )
        return {"searcher": searcher, "space": suite.space}

    def search(self, problem: PoolProblem, state: Any, seed: int) -> None:
        """Draw a Thompson sample per step from this (task, seed) pair's stream."""
        searcher = copy.copy(state["searcher"])
        searcher.random_state = np.random.RandomState(seed % 2**32)
        while problem.remaining > 0:
            config = searcher.suggest()
            problem.evaluate(problem.snap(encode_loose(state["space"], config)))


_N_FEATURES = ("model_params_nonembedding", "model_params")
_D_FEATURES = ("budget_tokens", "data_tokens")


def _feature(task: TaskPool, names: tuple[str, ...]) -> float:
    for n in names:
        v = task.meta_features.get(n)
        if v is not None and np.isfinite(v) and v > 0:
            return float(v)
    raise InvalidConfigError(f"task {task.name!r} has none of the meta-features {list(names)} the Step Law needs")


class ScalingLaw(Method):
    """The Step Law (Li et al. 2025): ``lr = a·N^b·D^c``, ``bs = d·D^e``, refitted leaving the target out.

    The fit is on each source task's best (learning rate, batch size); the prediction for
    the target is evaluated first, then the pool members nearest it in the encoded space.
    """

    name = "scaling-law"
    note = "Step Law refitted by least squares in log space on the source tasks' optima; then nearest pool points"

    def applies_to(self, suite: Suite) -> bool:
        """Only LLM pre-training sweeps over learning rate and batch size (``steplaw*``)."""
        return suite.name.startswith("steplaw") and {"learning_rate", "batch_size"} <= set(suite.space.names)

    def prepare(self, suite: Suite, target: TaskPool) -> Any:
        """Fit the two power laws and order the pool by distance to the prediction."""
        rows = []
        for s in suite.sources(target.name):
            best = s.frame.iloc[int(np.argmin(s.y))]
            rows.append((math.log(_feature(s, _N_FEATURES)), math.log(_feature(s, _D_FEATURES)),
                         math.log(float(best["learning_rate"])), math.log(float(best["batch_size"]))))
        data = np.array(rows)
        ones = np.ones(len(data))
        lr_coef = np.linalg.lstsq(np.column_stack([ones, data[:, 0], data[:, 1]]), data[:, 2], rcond=None)[0]
        bs_coef = np.linalg.lstsq(np.column_stack([ones, data[:, 1]]), data[:, 3], rcond=None)[0]
        log_n, log_d = math.log(_feature(target, _N_FEATURES)), math.log(_feature(target, _D_FEATURES))
        prediction = dict(suite.space.default())
        prediction["learning_rate"] = math.exp(lr_coef @ [1.0, log_n, log_d])
        prediction["batch_size"] = math.exp(bs_coef @ [1.0, log_d])
        x = encode_loose(suite.space, prediction)
        order = np.argsort(((target.X - x) ** 2).sum(axis=1), kind="stable")
        return {"order": order, "prediction": prediction}

    def search(self, problem: PoolProblem, state: Any, seed: int) -> None:
        """Evaluate the pool in order of distance to the prediction."""
        for i in state["order"][: problem.remaining]:
            problem.evaluate(int(i))


register_method(KNNTPE())
register_method(ZeroShot())
register_method(CTS())
register_method(ScalingLaw())
