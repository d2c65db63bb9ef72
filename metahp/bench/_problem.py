"""Suites, task pools and the replay problem a method searches.

A :class:`Suite` is one family of tasks sharing a search space; each :class:`TaskPool` holds
the recorded configurations of one task as an encoded matrix and an objective vector, so a
method's look-ups are vectorised. A :class:`PoolProblem` is one (task, seed) replay: it
hands out recorded objectives, refuses repeats and counts the budget.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from metahp.errors import InvalidConfigError
from metahp.space import SearchSpace

__all__ = ["TaskPool", "Suite", "PoolProblem", "BudgetExhausted", "stream_seed"]


def stream_seed(*parts: object) -> int:
    """A 63-bit seed derived from ``parts`` (e.g. suite, task, seed), stable across runs.

    Example:
        >>> stream_seed("svm", "A9A", 0) == stream_seed("svm", "A9A", 0)
        True
        >>> stream_seed("svm", "A9A", 0) == stream_seed("svm", "abalone", 0)
        False
    """
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


@dataclass(frozen=True)
class TaskPool:
    """The recorded configurations of one task.

    Attributes:
        name: Task name (unique within the suite).
        meta_features: The task's meta-features (missing ones absent or NaN).
        frame: One column per parameter, one row per pool member (``n`` rows).
        X: Encoded pool, ``n x d`` in the unit cube.
        y: Objective judged by the benchmark (minimised, after the suite's transform), ``n``.
        raw: Objective in its original sign, before the transform, ``n``.
    """

    name: str
    meta_features: Mapping[str, float]
    frame: pd.DataFrame
    X: np.ndarray
    y: np.ndarray
    raw: np.ndarray

    @property
    def size(self) -> int:
        """Number of pool members."""
        return int(self.y.shape[0])


@dataclass
class Suite:
    """A family of tasks replayed by the benchmark.

    Attributes:
        name: The family name (``steplaw-dense``, ``svm``, ...).
        space: The family's search space.
        tasks: The task pools.
        transform: ``"log10"`` when the objective is judged on its logarithm, else ``"none"``.
        loss_like: Whether gap % is reported (positive losses, minimised).
        kb_path: Path of the knowledge base holding this family (for KB-backed methods).
        notes: Free-text notes carried into the results (subsampling, transforms).
    """

    name: str
    space: SearchSpace
    tasks: list[TaskPool]
    transform: str = "none"
    loss_like: bool = False
    kb_path: str | None = None
    notes: list[str] = field(default_factory=list)

    def task(self, name: str) -> TaskPool:
        """The pool of the task called ``name``."""
        for t in self.tasks:
            if t.name == name:
                return t
        raise InvalidConfigError(f"suite {self.name!r} has no task {name!r}; tasks: {[t.name for t in self.tasks]}")

    def sources(self, target: str) -> list[TaskPool]:
        """Every task but ``target`` (the leave-one-task-out view)."""
        return [t for t in self.tasks if t.name != target]



class BudgetExhausted(Exception):
    """Raised by :meth:`PoolProblem.evaluate` once the budget is spent (ends a search)."""


class PoolProblem:
    """One replay of a task: evaluation reads the recorded objective.

    Args:
        pool: The target task's pool.
        budget: Number of evaluations allowed.
    """

    def __init__(self, pool: TaskPool, budget: int) -> None:
        self.pool = pool
        self.budget = int(budget)
        self.order: list[int] = []
        self._free = np.ones(pool.size, dtype=bool)

    @property
    def remaining(self) -> int:
        """Evaluations left in the budget."""
        return self.budget - len(self.order)

    @property
    def free(self) -> np.ndarray:
        """Boolean mask (``n``) of pool members not evaluated yet (a read-only view)."""
        view = self._free.view()
        view.flags.writeable = False
        return view

    def evaluate(self, index: int) -> float:
        """Evaluate pool member ``index``: record it and return its objective (minimised).

        Raises:
            BudgetExhausted: The budget is spent.
            InvalidConfigError: ``index`` is out of range or was evaluated already.
        """
        if self.remaining <= 0:
            raise BudgetExhausted
        i = int(index)
        if not 0 <= i < self.pool.size or not self._free[i]:
            raise InvalidConfigError(f"pool index {i} is out of range or was evaluated already")
        self._free[i] = False
        self.order.append(i)
        return float(self.pool.y[i])

    def snap(self, x: np.ndarray) -> int:
        """The not-yet-evaluated pool member nearest the encoded point ``x`` (``d``)."""
        d2 = ((self.pool.X - np.asarray(x, dtype=float)[None, :]) ** 2).sum(axis=1)
        d2[~self._free] = np.inf
        return int(np.argmin(d2))

    def evaluate_portfolio(self, portfolio: list[np.ndarray], seed: int) -> None:
        """Evaluate encoded points in order (each snapped), then the rest of the budget at random."""
        for x in portfolio[: self.remaining]:
            self.evaluate(self.snap(x))
        free = np.flatnonzero(self._free)
        for i in np.random.default_rng(seed).permutation(free)[: self.remaining]:
            self.evaluate(int(i))

    def observed(self) -> tuple[np.ndarray, np.ndarray]:
        """The evaluated points: encoded ``k x d`` and objectives ``k``."""
        idx = np.asarray(self.order, dtype=int)
        return self.pool.X[idx], self.pool.y[idx]
