"""Priors over a target task's objective, and how much to trust them.

A *prior* is anything that, given unit-cube points, predicts the target's objective on the
per-task normalised scale (lower is better) with an uncertainty: typically a meta-model
trained on the knowledge base (:class:`MetaModelPrior`). The GP models the residual of the
target's own normalised observations around ``weight * prior_mean``.

``weight`` is measured, not assumed (:func:`prior_weight`): as target trials come in, the
top-weighted Kendall rank correlation between the prior's mean and the observations is
tracked and the prior is shrunk towards zero, reaching zero when the two are
anti-correlated. A knowledge base that points the wrong way therefore costs at most the
first few trials. The BO step keeps the larger of that weight and a second measurement,
how often the prior ranks the observations better than a GP fitted on them alone
(:func:`metahp.bo.ranking_trust`), so that a few trials the prior happens to order wrongly,
which the target's own model cannot order either, do not switch it off.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

import numpy as np
from scipy.special import ndtri
from scipy.stats import rankdata, weightedtau

from metahp.bo._encoding import decode_frame
from metahp.space import SearchSpace

__all__ = ["Prior", "CallablePrior", "MetaModelPrior", "prior_weight", "copula", "PRIOR_PSEUDO_COUNT"]

PRIOR_PSEUDO_COUNT = 1.0
"""How many target trials' worth of belief a prior starts with (see :func:`prior_weight`).

Chosen by measurement on the five external suites of the transfer benchmark
(``benchmarks/transfer_ideas.py``, ``benchmarks/results/transfer_ideas.md``): against 3, a
pseudo-count of 1 lowered the warm-started search's regret on ``svm``, ``fcnet`` and
``hpobench-mlp``, left ``steplaw-dense`` unchanged and raised it on ``nmt``.
"""


@runtime_checkable
class Prior(Protocol):
    """What the BO step needs from a prior.

    Called with ``X``, an ``n x d`` array of unit-cube points (encodings of a
    :class:`~metahp.SearchSpace`), it returns ``(mean, std)``, two arrays of shape ``n`` on
    the per-task normalised scale, lower is better. It must be deterministic and must not
    mutate ``X``; it is called on thousands of points per suggestion, so it should be
    vectorised.
    """

    def __call__(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Predict ``(mean, std)``, each of shape ``n``, for ``n x d`` unit-cube points."""
        ...


class CallablePrior:
    """A prior from a plain function of unit-cube points (handy for tests and synthetic priors).

    Args:
        fn: Maps an ``n x d`` array to ``n`` means (lower is better).
        std: Constant predictive standard deviation to report.

    Example:
        >>> prior = CallablePrior(lambda X: X.sum(axis=1))
        >>> prior(np.array([[0.1, 0.2], [0.5, 0.5]]))[0].tolist()
        [0.30000000000000004, 1.0]
    """

    def __init__(self, fn: Any, std: float = 1.0) -> None:
        self.fn = fn
        self.std = std

    def __call__(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Evaluate the function; ``std`` is constant."""
        mean = np.asarray(self.fn(np.asarray(X, dtype=float)), dtype=float).reshape(-1)
        return mean, np.full_like(mean, float(self.std))


class MetaModelPrior:
    """A fitted meta-model seen as a prior over one target task's space.

    Args:
        model: A fitted meta-model with ``predict(task_meta, configs) -> (mean, std)``.
        task_meta: The target task's meta-features (name to float).
        space: The target search space; unit-cube points are decoded through it.
    """

    def __init__(self, model: Any, task_meta: Mapping[str, float], space: SearchSpace) -> None:
        self.model = model
        self.task_meta = dict(task_meta)
        self.space = space

    def __call__(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Ask the meta-model: encoded points directly when it was fitted on this space, else decoded configs."""
        features = getattr(self.model, "features_", None)
        if getattr(features, "space", None) == self.space:
            configs: Any = np.asarray(X, dtype=float).reshape(-1, self.space.dim)
        else:
            configs = decode_frame(self.space, X).to_dict("records")
        mean, std = self.model.predict(self.task_meta, configs)
        return np.asarray(mean, dtype=float).reshape(-1), np.asarray(std, dtype=float).reshape(-1)


def copula(values: np.ndarray) -> np.ndarray:
    """Gaussian-copula scores of minimised values: ``Phi^-1((rank - 0.5) / n)``, ties averaged.

    Example:
        >>> [round(float(v), 3) for v in copula(np.array([3.0, 1.0, 2.0]))]
        [0.967, -0.967, 0.0]
    """
    v = np.asarray(values, dtype=float).reshape(-1)
    if v.size == 0:
        return v
    return np.asarray(ndtri((rankdata(v, method="average") - 0.5) / v.size), dtype=float)


def prior_weight(prior_mean: np.ndarray, observed: np.ndarray, pseudo_count: float = PRIOR_PSEUDO_COUNT) -> float:
    """How much of the prior mean to keep, from how well it ranks the target's observations.

    ``w = clip((c + 2 n tau) / (c + n), 0, 1)`` with ``tau`` the rank correlation between
    the prior mean and the observations (``n`` of them) and ``c`` a pseudo-count of initial
    belief. ``tau`` is Vigna's weighted Kendall tau (``scipy.stats.weightedtau``, hyperbolic
    weights): a pair's disagreement counts more the closer its members are to the best
    observations or the prior's favourites, since a prior matters for where the optimum is,
    not for how it orders the bad configurations. With fewer than three observations the
    prior is trusted fully; a correlation of 0.5 or more keeps it fully; no correlation fades
    it as ``c / (c + n)``; an anti-correlated prior is switched off as soon as it outweighs
    the pseudo-count.

    Args:
        prior_mean: Prior means at the observed points (shape ``n``).
        observed: Observed minimised values at those points (shape ``n``).
        pseudo_count: ``c`` above.

    Returns:
        A weight in ``[0, 1]``.

    Example:
        >>> x = np.arange(8.0)
        >>> prior_weight(x, x), prior_weight(x, -x)
        (1.0, 0.0)
    """
    p = np.asarray(prior_mean, dtype=float).reshape(-1)
    y = np.asarray(observed, dtype=float).reshape(-1)
    n = p.size
    if n < 3:
        return 1.0
    if np.ptp(p) == 0 or np.ptp(y) == 0:
        tau = 0.0
    else:
        tau = float(weightedtau(-p, -y).statistic)  # weightedtau puts the largest values first
        if not np.isfinite(tau):
            tau = 0.0
    return float(np.clip((pseudo_count + 2.0 * n * tau) / (pseudo_count + n), 0.0, 1.0))
