"""Per-task normalisation of minimised objectives into comparable scores.

Raw objectives are not comparable across tasks (a loss of 2.3 on one task, an error of
0.1 on another, a handful of diverged runs at 1e9 on a third). Following Salinas et al.
(2020), each task's objectives are replaced by their ranks, mapped to quantiles and
pushed through the standard normal inverse CDF (a Gaussian copula). Ranks make the
result invariant to any monotone transformation of the objective and immune to huge
losses.

Failed and diverged runs are kept: they mark where training breaks. Their objective is
usually missing (NaN), so they are ranked *below every finite value of their task*, tied
with each other (average rank of the tied block). A task whose runs all failed gets the
neutral score 0 for each of them, since nothing ranks them.

Scores are minimised like the objectives: the best trial of a task gets the most
negative score.

Example:
    >>> import numpy as np
    >>> scores = gaussian_copula([3.0, 1.0, 2.0, np.nan])
    >>> [round(float(s), 3) for s in scores]
    [0.319, -1.15, -0.319, 1.15]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.special import ndtri
from scipy.stats import rankdata

from metahp.types import BROKEN_STATUSES

__all__ = ["gaussian_copula", "normalize_objectives", "BROKEN_STATUSES"]


def gaussian_copula(
    values: Sequence[float] | np.ndarray, broken: Sequence[bool] | np.ndarray | None = None
) -> np.ndarray:
    """Normalise one task's minimised objectives to Gaussian-copula scores.

    Args:
        values: Objectives of one task, minimised (shape ``n``). NaN and infinities mark
            broken runs.
        broken: Optional mask (shape ``n``) of runs known to be broken (failed or diverged)
            even if they report a finite objective.

    Returns:
        Scores of shape ``n``: ``Phi^-1((rank - 0.5) / n)`` with ties averaged and broken
        runs tied below the worst finite value. Lower is better.
    """
    v = np.asarray(values, dtype=float).reshape(-1)
    n = v.shape[0]
    if n == 0:
        return np.zeros(0)
    bad = ~np.isfinite(v)
    if broken is not None:
        bad |= np.asarray(broken, dtype=bool).reshape(-1)
    if bad.all():
        return np.zeros(n)
    # Broken runs share one value just above the largest finite objective.
    filled = np.where(bad, np.inf, v)
    ranks = rankdata(filled, method="average")
    return np.asarray(ndtri((ranks - 0.5) / n), dtype=float)


def normalize_objectives(
    frame: pd.DataFrame, *, by: str = "task", objective: str = "objective", status: str = "status"
) -> pd.Series:
    """Gaussian-copula scores for every row of a trials frame, computed within each task.

    Args:
        frame: A trials frame (``KnowledgeBase.trials()`` format) with a group column and
            a minimised objective column; an optional status column marks broken runs.
        by: Column naming the task.
        objective: Column holding the minimised objective.
        status: Column holding the trial status (``failed`` and ``diverged`` rank worst).

    Returns:
        A float Series aligned with ``frame.index``.
    """
    out = np.zeros(len(frame))
    if len(frame) == 0:
        return pd.Series(out, index=frame.index, dtype=float)
    values = pd.to_numeric(frame[objective], errors="coerce").to_numpy(dtype=float)
    if status in frame.columns:
        broken = frame[status].isin(list(BROKEN_STATUSES)).to_numpy()
    else:
        broken = np.zeros(len(frame), dtype=bool)
    codes, _ = pd.factorize(frame[by], sort=False)
    order = np.argsort(codes, kind="stable")
    bounds = np.flatnonzero(np.diff(codes[order])) + 1
    for idx in np.split(order, bounds):
        out[idx] = gaussian_copula(values[idx], broken[idx])
    return pd.Series(out, index=frame.index, dtype=float)
