"""Ranking losses of GP posteriors on a task's own observations, shared by RGPE and the prior's trust.

Both ask the same question of a model: how many pairs of the target's observations does it
put in the wrong order? A fitted GP answers with posterior draws at the observed points;
for the target's own GP those are leave-one-out draws, so that it is not judged on points
it was fitted to (Feurer, Letham, Hutter & Bakshy, "Practical transfer learning for
Bayesian optimization", 2018).
"""

from __future__ import annotations

import numpy as np

__all__ = ["loo_draws", "misranked", "ranking_trust"]


def loo_draws(model: object, n_samples: int, rng: np.random.Generator) -> np.ndarray:
    """Leave-one-out predictive draws (``S x n``) of a fitted exact GP at its own training points."""
    import torch

    m = model  # a SingleTaskGP in eval mode
    x = m.train_inputs[0]  # type: ignore[attr-defined]
    y = m.train_targets  # type: ignore[attr-defined]
    with torch.no_grad():
        k = m.covar_module(x).to_dense()  # type: ignore[attr-defined]
        noise = m.likelihood.noise.reshape(-1)  # type: ignore[attr-defined]
        k = k + torch.diag(noise.expand(k.shape[0]))
        kinv = torch.linalg.inv(k)
        mean_c = m.mean_module(x)  # type: ignore[attr-defined]
        alpha = kinv @ (y - mean_c)
        diag = torch.diagonal(kinv)
        mu = (y - alpha / diag).numpy()
        sd = torch.sqrt(1.0 / diag).numpy()
    return mu[None, :] + sd[None, :] * rng.standard_normal((n_samples, mu.shape[0]))


def misranked(draws: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Ranking loss of each row of ``draws`` (``S x n`` -> ``S``) against ``y``.

    Counted over the ordered pairs ``(i, j)`` whose observations differ: whether the row says
    ``i`` below ``j`` differs from whether ``y`` does. A pair the row orders the wrong way
    therefore counts 2, one it ties counts 1. Pairs tied in ``y`` are left out: they say
    nothing about which model ranks better, and a model that predicts ties (a tree
    ensemble's piecewise-constant mean) would otherwise score them as right.

    Example:
        >>> misranked(np.array([[0.0, 1.0, 2.0], [2.0, 1.0, 0.0], [0.0, 0.0, 2.0]]), np.array([0.0, 1.0, 2.0])).tolist()
        [0, 6, 1]
    """
    below = y[:, None] < y[None, :]
    pred = draws[:, :, None] < draws[:, None, :]
    strict = below | below.T
    return ((pred ^ below[None, :, :]) & strict[None, :, :]).sum(axis=(1, 2))


def ranking_trust(prior_mean: np.ndarray, observed: np.ndarray, own_model: object, rng: np.random.Generator,
                  n_samples: int = 128) -> float:
    """Chance that a prior ranks the observations better than the task's own GP does.

    RGPE's weighting rule for two models: the prior's mean and ``n_samples`` leave-one-out
    draws of ``own_model`` (a GP fitted on ``observed`` alone) are each scored by the pairs
    of observations they put in the wrong order (:func:`misranked`); the result is the share
    of draws that mis-rank more pairs than the prior, ties counting half. With a handful of
    observations the task's own GP ranks them little better than chance, so a prior that is
    not anti-correlated keeps most of its weight; once the GP has learnt the task, the prior
    keeps it only where it still ranks better.

    Args:
        prior_mean: The prior's means at the observed points (``n``).
        observed: The observations, lower is better (``n``), in the order ``own_model`` was fitted on.
        own_model: A ``SingleTaskGP`` fitted on ``observed`` without the prior.
        rng: Source of the draws.
        n_samples: Number of draws.

    Returns:
        A share in ``[0, 1]``; 0 when the observations all tie (nothing to rank, no evidence
        for the prior).
    """
    y = np.asarray(observed, dtype=float).reshape(-1)
    if y.size < 2 or np.ptp(y) == 0:
        return 0.0
    own = misranked(loo_draws(own_model, n_samples, rng), y)
    prior = misranked(np.asarray(prior_mean, dtype=float).reshape(1, -1), y)[0]
    return float(np.mean(prior < own) + 0.5 * np.mean(prior == own))
