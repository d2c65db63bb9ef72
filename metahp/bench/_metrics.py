"""The protocol's metrics: normalised regret, gap %, mean rank and speed-up against cold GP."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

__all__ = ["REPORT_T", "SPEEDUP_FLOOR", "best_so_far", "regret_curves", "gap_curves", "mean_ranks", "speedup"]

REPORT_T = (1, 3, 5, 10, 25, 50)
"""Budgets reported in the tables."""

SPEEDUP_FLOOR = 0.0005
"""Cold GP's target regret is at least this (differences below 0.05 % of a task's range are noise)."""


def best_so_far(values: Sequence[float] | np.ndarray, budget: int) -> np.ndarray:
    """Running minimum of ``values``, padded to ``budget`` with its last entry.

    Example:
        >>> best_so_far([3.0, 1.0, 2.0], 5).tolist()
        [3.0, 1.0, 1.0, 1.0, 1.0]
    """
    run = np.minimum.accumulate(np.asarray(values, dtype=float))
    if run.size < budget:
        run = np.concatenate([run, np.full(budget - run.size, run[-1])])
    return run[:budget]


def regret_curves(orders: Sequence[Sequence[int]], y: np.ndarray, budget: int) -> np.ndarray:
    """Normalised regret after each evaluation, ``len(orders) x budget`` (HPO-B's definition).

    Example:
        >>> regret_curves([[2, 0, 1]], np.array([0.0, 1.0, 2.0]), 3).tolist()
        [[1.0, 0.0, 0.0]]
    """
    lo, hi = float(np.min(y)), float(np.max(y))
    span = hi - lo if hi > lo else 1.0
    return np.stack([(best_so_far(y[list(o)], budget) - lo) / span for o in orders])


def gap_curves(orders: Sequence[Sequence[int]], y: np.ndarray, raw: np.ndarray, budget: int) -> np.ndarray:
    """Gap % to the pool's best, ``100 · (best found / best in pool − 1)``, on the raw loss."""
    best = float(np.min(raw))
    out = []
    for o in orders:
        found = best_so_far(y[list(o)], budget)
        # The judged objective may be a monotone transform of the raw loss: map each running
        # best back to the raw value of the member that achieved it.
        raw_of = {float(y[i]): float(raw[i]) for i in o}
        out.append(100.0 * (np.array([raw_of[v] for v in found]) / best - 1.0))
    return np.stack(out)


def mean_ranks(regrets: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Mean rank (1 = best, ties averaged) of each method per T.

    Args:
        regrets: Method -> regret array ``runs x budget``; runs aligned across methods
            (same task and seed in the same row).

    Returns:
        Method -> mean rank per T (``budget``).
    """
    from scipy.stats import rankdata

    names = list(regrets)
    stacked = np.stack([regrets[n] for n in names])  # methods x runs x budget
    ranks = rankdata(stacked, axis=0, method="average")
    return {n: ranks[i].mean(axis=0) for i, n in enumerate(names)}


def speedup(curve: np.ndarray, gp_curve: np.ndarray, floor: float = SPEEDUP_FLOOR) -> float | None:
    """Speed-up ``T_gp / T_method`` of a mean regret curve against cold GP's.

    ``T_x`` is the first budget at which curve ``x`` reaches cold GP's final regret (but at
    least ``floor``); None if the method never does.

    Example:
        >>> speedup(np.array([0.1, 0.01, 0.0]), np.array([0.5, 0.3, 0.01]))
        1.5
    """
    target = max(float(gp_curve[-1]), floor)
    t_gp = int(np.argmax(gp_curve <= target)) + 1
    hits = np.flatnonzero(curve <= target)
    return float(t_gp / (hits[0] + 1)) if hits.size else None
