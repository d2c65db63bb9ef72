"""Where a family's optimum moves with the meta-features: a cross-validated linear trend.

Tree meta-models cannot extrapolate: for a task at the edge of the knowledge base (the
largest data budget for its model size, say) they predict the optimum of the nearest
interior tasks. Yet across a family the best configuration often moves smoothly with the
task (the Step Law: learning rate and batch size are power laws of model and data size).
:class:`OptimumTrend` fits, per numeric parameter, a ridge regression of the source tasks'
best encoded value on their standardised meta-features, and keeps it only where
leave-one-task-out cross-validation says it predicts (R^2 at least ``min_r2``). Where no
such trend exists (tabular data sets described by dataset statistics, typically) it keeps
nothing and changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["OptimumTrend"]

_ALPHAS = (0.01, 0.1, 1.0, 10.0, 100.0)


def _ridge_loo(Z: np.ndarray, y: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Ridge coefficients (intercept first) and leave-one-out predictions, in closed form."""
    A = np.column_stack([np.ones(len(Z)), Z])
    penalty = alpha * np.eye(A.shape[1])
    penalty[0, 0] = 0.0  # the intercept is not shrunk
    inv = np.linalg.pinv(A.T @ A + penalty)
    coef = inv @ A.T @ y
    hat = ((A @ inv) * A).sum(axis=1)
    fitted = A @ coef
    with np.errstate(divide="ignore", invalid="ignore"):
        loo = y - (y - fitted) / np.clip(1.0 - hat, 1e-9, None)
    return coef, loo


class OptimumTrend:
    """Per-parameter linear trend of the best configuration in the meta-features.

    Args:
        meta: Standardised meta-features of the source tasks (``t x m``; NaN = unknown, read as the mean).
        best: The source tasks' best configurations, encoded (``t x d``; NaN = unknown).
        dims: Dimensions allowed to move (numeric parameters the meta-model uses).
        min_tasks: Fewest source tasks with a known best value for a dimension's trend.
        min_r2: Leave-one-task-out R^2 a dimension's trend needs to be kept.

    Attributes:
        coef: ``d x m`` slopes (rows of zeros for dimensions without a trend).
        r2: Leave-one-task-out R^2 per dimension (NaN where not fitted).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> z = rng.standard_normal((30, 2))
        >>> best = np.column_stack([0.5 + 0.1 * z[:, 0], rng.random(30)])
        >>> trend = OptimumTrend(z, best, dims=[0, 1])
        >>> bool(trend.coef[0, 0] > 0.09), bool(np.all(trend.coef[1] == 0))
        (True, True)
    """

    def __init__(self, meta: np.ndarray, best: np.ndarray, dims: Sequence[int], *, min_tasks: int = 8,
                 min_r2: float = 0.5) -> None:
        Z = np.nan_to_num(np.asarray(meta, dtype=float), nan=0.0)
        B = np.asarray(best, dtype=float)
        d = B.shape[1] if B.ndim == 2 else 0
        self.coef = np.zeros((d, Z.shape[1] if Z.ndim == 2 else 0))
        self.r2 = np.full(d, np.nan)
        if Z.ndim != 2 or Z.shape[1] == 0:
            return
        for j in dims:
            known = np.isfinite(B[:, j])
            y = B[known, j]
            if known.sum() < min_tasks or np.ptp(y) == 0:
                continue
            sst = float(((y - y.mean()) ** 2).sum())
            best_r2, best_coef = -np.inf, None
            for alpha in _ALPHAS:
                coef, loo = _ridge_loo(Z[known], y, alpha)
                r2 = 1.0 - float(((y - loo) ** 2).sum()) / sst
                if r2 > best_r2:
                    best_r2, best_coef = r2, coef
            self.r2[j] = best_r2
            if best_coef is not None and best_r2 >= min_r2:
                self.coef[j] = best_coef[1:]

    @property
    def active(self) -> bool:
        """Whether any dimension has a trend."""
        return bool(np.any(self.coef != 0))

    def shift(self, z_from: np.ndarray, z_to: np.ndarray) -> np.ndarray:
        """How far the optimum moves (encoded, ``d``) from a task at ``z_from`` to one at ``z_to``."""
        diff = np.nan_to_num(np.asarray(z_to, dtype=float) - np.asarray(z_from, dtype=float), nan=0.0)
        return np.asarray(self.coef @ diff, dtype=float)
