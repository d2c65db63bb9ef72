"""How far a target's own observations support a prior mean: the two GPs' marginal likelihoods compared.

The trust rules (:func:`~metahp.bo.prior_weight`, :func:`~metahp.bo.ranking_trust`) judge a
prior by how it *orders* the target's observations. Both stay noisy however many
observations there are: the top-weighted Kendall tau counts mostly the few best pairs, and a
prior that orders the observations at random still beats a GP that cannot order them either
half of the time. A prior that carries no information about the target therefore keeps a
sizeable weight forever, and the search keeps being pulled towards its favourites.

The marginal likelihood asks the question that does sharpen with the data: which model
explains *all* of the observations better, the GP on the residual around the weighted prior
mean or the GP on the observations alone? Each one's evidence grows with every observation
it explains, so a prior the observations do not bear out loses to the plain GP by a margin
that grows with their number, while one that explains them wins by as much. The BO step
averages the two models' expected improvements with their posterior probabilities, which is
expected improvement under the model average: once the prior's pull is refuted, the search is
the cold GP's. The odds before any observation are even unless the caller measured them: a
warm start's sources give theirs from how well their consensus ranks a source left out of it
(:func:`metahp.study._design.prior_odds`), so a prior the family bears out is not handed to
the GP alone on the first few trials' noise, and one from unrelated sources starts at even odds.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from metahp.errors import InvalidConfigError

__all__ = ["log_evidence", "prior_support", "average_with_alone"]


def log_evidence(model: object) -> float:
    """Log marginal likelihood of a fitted ``SingleTaskGP`` at its hyperparameters, in the targets' own units.

    :func:`~metahp.bo._gp.neg_log_marginal_likelihood` (which includes the hyperparameters'
    log priors: a maximum a posteriori type-II estimate) is computed on the standardised
    targets; the standardisation's Jacobian (``-n log(std)``) is added back so that two
    models of the same observations, standardised differently, can be compared.

    Args:
        model: A ``SingleTaskGP`` with BoTorch's ``Standardize`` outcome transform (or none).

    Returns:
        ``log p(y)``; ``-inf`` where the covariance cannot be factorised.
    """
    import torch

    from metahp.bo._gp import neg_log_marginal_likelihood

    gp: Any = model
    n = int(gp.train_targets.shape[-1])
    try:
        with torch.no_grad():
            value = -float(neg_log_marginal_likelihood(gp)) * n
    except (RuntimeError, ValueError):  # NotPSDError is a RuntimeError
        return -math.inf
    transform = getattr(gp, "outcome_transform", None)
    stdvs = getattr(transform, "stdvs", None)
    if stdvs is not None:
        value -= n * float(torch.log(stdvs).sum())
    return value


def prior_support(with_prior: object, alone: object, prior_odds: float = 1.0) -> float:
    """Posterior probability of the GP with the prior mean against the GP alone.

    Both models must be fitted on the same observations (``with_prior`` on their residual
    around the weighted prior mean, ``alone`` on the observations themselves).

    Args:
        with_prior: The GP on the residual around the weighted prior mean.
        alone: The GP on the observations.
        prior_odds: Odds of ``with_prior`` against ``alone`` before the observations (positive; 1: even).

    Returns:
        ``1 / (1 + exp(log_evidence(alone) - log_evidence(with_prior)) / prior_odds)``, in ``[0, 1]``.

    Raises:
        InvalidConfigError: ``prior_odds`` is not a positive finite number.
    """
    if not (isinstance(prior_odds, numbers.Real) and math.isfinite(prior_odds) and prior_odds > 0):
        raise InvalidConfigError(f"prior_odds must be a positive finite number, got {prior_odds!r}")
    prior_odds = float(prior_odds)
    a, b = log_evidence(with_prior), log_evidence(alone)
    if not math.isfinite(a) and not math.isfinite(b):
        return float(prior_odds / (1.0 + prior_odds))
    if not math.isfinite(a):
        return 0.0
    if not math.isfinite(b):
        return 1.0
    return float(1.0 / (1.0 + np.exp(np.clip(b - a - math.log(prior_odds), -700.0, 700.0))))


def average_with_alone(fitted: Any, features: np.ndarray, y: np.ndarray, cand_features: np.ndarray,
                       scores: np.ndarray, *, own_state: dict | None, optimize: bool, min_scale: float,
                       all_good: bool, prior_odds: float = 1.0) -> tuple[np.ndarray, Any]:
    """LogEI under the average of the prior's GP and the GP on the observations alone.

    Args:
        fitted: The step's :class:`~metahp.bo.FittedGP` (GP on the residual around the weighted prior).
        features: ``n x f`` GP features of the observations.
        y: ``n`` normalised observations (broken trials imputed), the data of ``fitted.model``.
        cand_features: ``m x f`` candidate features.
        scores: ``m`` LogEI of ``fitted`` at the candidates.
        own_state: Hyperparameters of the previous step's GP alone, reused when ``optimize`` is False.
        optimize: Re-optimise the hyperparameters of a GP fitted here.
        min_scale: Outcome-standardisation floor (see :func:`~metahp.bo.fit_gp`).
        all_good: Every observation is usable, so ``fitted.own`` (fitted on the usable ones)
            saw the same data and is reused.
        prior_odds: Odds of the prior's GP before the observations (see :func:`prior_support`).

    Returns:
        ``(m`` averaged LogEI``, fitted)`` with ``fitted.support`` set (and ``fitted.own`` when
        this fitted it on every observation).
    """
    from metahp.bo._gp import FittedGP, fit_gp, log_ei

    alone = fitted.own if fitted.own is not None and all_good else None
    if alone is None:
        alone = fit_gp(features, y, init_state=None if optimize else own_state, optimize=optimize,
                       min_scale=min_scale)
        if all_good:
            fitted.own = alone
    support = prior_support(fitted.model, alone, prior_odds)
    fitted.support = support
    alone_scores = log_ei(FittedGP(model=alone, best=fitted.best, weight=0.0), cand_features)
    with np.errstate(divide="ignore"):
        mixed = np.logaddexp(np.log(support) + scores, np.log1p(-support) + alone_scores)
    return mixed, fitted
