"""The BO step as a plain pipeline: data -> fitted GP -> LogEI -> best candidate.

Data are the target's own trials, encoded in the unit cube and mapped to GP features
(:class:`~metahp.bo.FeatureMap`). Observations are minimised values put through a Gaussian
copula (ranks -> normal quantiles), which makes the GP indifferent to the objective's
units and to a few huge losses. With a prior, the GP (BoTorch ``SingleTaskGP``) models the
residual ``y - w * s(x)``, where ``s`` is the prior mean standardised over a reference set
and ``w`` the measured trust (the larger of :func:`~metahp.bo.prior_weight` and
:func:`~metahp.bo.ranking_trust`); the residual posterior
plus ``w * s(x)`` is the posterior of ``y``. Expected improvement of ``y`` below ``best``
equals expected improvement of the residual below ``best - w * s(x)``, so BoTorch's
``LogExpectedImprovement`` is used unchanged with a per-candidate ``best_f``. Where the prior
has weight, the step also fits the GP on the observations alone and averages the two models'
expected improvements by their posterior probabilities (:func:`metahp.bo.prior_support`, from
the marginal likelihoods): a prior that the observations do not bear out stops pulling however
its ranking happens to look, and the step becomes cold GP-BO's.

The acquisition is maximised over a finite set: the pool in pool mode, otherwise a scrambled
Sobol set plus Gaussian perturbations of the best observations, snapped to representable
configurations (integer grid, categorical choices). The prior is a black box (a gradient
boosted model, say), so gradient-based optimisation of the acquisition would not see it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from metahp.bo._encoding import FeatureMap, snap
from metahp.bo._prior import Prior, copula, prior_weight
from metahp.bo._ranking import ranking_trust
from metahp.gp import fit_gp, fit_hyperparameters, neg_log_marginal_likelihood, single_thread
from metahp.gp import train_cholesky as _train_cholesky
from metahp.space import Categorical, SearchSpace

__all__ = ["FittedGP", "fit_gp", "fit_hyperparameters", "neg_log_marginal_likelihood", "log_ei", "candidate_points",
           "impute_broken", "propose", "single_thread", "refit_due", "TrustRule", "measured_trust"]

REFIT_ALWAYS_UNTIL = 20
"""Up to this many observations the GP hyperparameters are re-optimised at every step."""

REFIT_GROWTH = 1.2
"""Beyond that, they are re-optimised once the data have grown by this factor since the last fit."""


def refit_due(n: int, last_fit: int | None) -> bool:
    """Whether the GP hyperparameters should be re-optimised with ``n`` observations.

    Every step while ``n <= REFIT_ALWAYS_UNTIL``; then whenever the data have grown by
    ``REFIT_GROWTH`` since the last optimisation (24, 29, 35, 42, 50, ... after 20), so a
    long search costs a logarithmic number of fits. In between the GP is conditioned on all
    the data with the last hyperparameters, which move little once there are 20 points.

    Example:
        >>> [n for n in range(18, 51) if refit_due(n, 20 if n > 20 else n - 1)][:4]
        [18, 19, 20, 24]
    """
    if last_fit is None or n <= REFIT_ALWAYS_UNTIL:
        return True
    return n >= REFIT_GROWTH * last_fit


@dataclass
class FittedGP:
    """A GP fitted on one task's observations.

    Attributes:
        model: The BoTorch ``SingleTaskGP`` on the residual (``n x f`` features).
        best: Best (lowest) normalised observation.
        weight: Trust in the prior used for this fit (0 without a prior).
        own: The GP fitted on the observations alone that the trust was measured against
            (None where it was not needed).
        support: Posterior probability of the model with the prior mean against ``own``
            (:func:`metahp.bo.prior_support`); the step's LogEI is the two models' average
            with it. 1 where it was not measured (no prior, a zero weight, ties only).
    """

    model: object
    best: float
    weight: float
    own: object | None = None
    support: float = 1.0


def impute_broken(values: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """Replace the values of broken trials by the worst good value plus a margin.

    Args:
        values: Minimised values, shape ``n`` (anything where ``ok`` is False).
        ok: Mask of trials with a usable value, shape ``n``.

    Returns:
        Shape ``n``; broken trials sit above every good one, so they push the search away.
    """
    v = np.asarray(values, dtype=float).copy()
    good = np.asarray(ok, dtype=bool) & np.isfinite(v)
    if not good.any():
        return np.ones_like(v)
    lo, hi = float(v[good].min()), float(v[good].max())
    v[~good] = hi + 0.5 * (hi - lo) + 1e-6 * max(1.0, abs(hi))
    return v


def log_ei(fitted: FittedGP, features: np.ndarray, offset: np.ndarray | None = None, chunk: int = 8192) -> np.ndarray:
    """Log expected improvement (BoTorch ``LogExpectedImprovement``, minimising) at many points.

    The posterior is computed here on dense tensors from one Cholesky factor of the training
    covariance (the GPyTorch prediction path builds lazy operators and caches per call,
    most of a BO step's time on a large pool); BoTorch's own LogEI formula is then applied
    to it, with BoTorch's variance floors and the outcome standardisation undone as its
    posterior does.

    Args:
        fitted: The fitted GP.
        features: ``m x f`` candidate features.
        offset: ``m`` weighted prior means at the candidates (zero without a prior).
        chunk: Candidates per batch.

    Returns:
        Shape ``m``.
    """
    import torch
    from botorch.acquisition.analytic import _log_ei_helper

    m = features.shape[0]
    shift = np.zeros(m) if offset is None else np.asarray(offset, dtype=float)
    out = np.empty(m)
    with torch.no_grad():
        predict = _posterior_predictor(fitted.model)
        for start in range(0, m, chunk):
            stop = min(start + chunk, m)
            mean, var = predict(torch.as_tensor(features[start:stop], dtype=torch.float64))
            best_f = torch.as_tensor(fitted.best - shift[start:stop], dtype=torch.float64)
            sigma = var.clamp_min(1e-12).sqrt()  # LogExpectedImprovement's min_var
            out[start:stop] = (_log_ei_helper((best_f - mean) / sigma) + sigma.log()).numpy()
    return out


def _posterior_predictor(model: object) -> Callable[[Any], tuple[Any, Any]]:
    """``x -> (mean, variance)`` of a fitted ``SingleTaskGP``'s posterior, in the outcome's units.

    Exact GP prediction (no observation noise) with the training covariance factorised once,
    GPyTorch's jitter policy and variance floor, and BoTorch's ``Standardize`` undone.
    """
    import torch
    from gpytorch.settings import min_variance

    gp: Any = model
    x = gp.train_inputs[0]
    y = gp.train_targets
    constant = gp.mean_module.constant
    chol = _train_cholesky(gp)
    alpha = torch.cholesky_solve((y - constant).unsqueeze(-1), chol)
    transform = getattr(gp, "outcome_transform", None)
    floor = min_variance.value(torch.float64)

    def predict(xc: Any) -> tuple[Any, Any]:
        cross = gp.covar_module.forward(xc, x)
        cross = cross if isinstance(cross, torch.Tensor) else cross.to_dense()
        prior_var = gp.covar_module.forward(xc, xc, diag=True)
        mean = constant + (cross @ alpha).squeeze(-1)
        white = torch.linalg.solve_triangular(chol, cross.transpose(-1, -2), upper=False)
        var = (prior_var - white.square().sum(-2)).clamp_min(floor)
        if transform is not None:
            mean = mean * transform.stdvs.squeeze() + transform.means.squeeze()
            var = var * transform.stdvs.squeeze() ** 2
        return mean, var

    return predict


def candidate_points(space: SearchSpace, rng: np.random.Generator, incumbents: np.ndarray,
                     n_sobol: int = 1024, n_local: int = 64) -> np.ndarray:
    """Snapped candidate points for continuous mode: scrambled Sobol plus local perturbations.

    Args:
        space: The search space.
        rng: Random stream.
        incumbents: ``k x d`` unit-cube points to perturb (the best observations).
        n_sobol: Size of the space-filling part (rounded to a power of two).
        n_local: Perturbations per incumbent and per scale.

    Returns:
        ``m x d`` unit-cube points.
    """
    from scipy.stats import qmc

    d = space.dim
    sobol = qmc.Sobol(d, scramble=True, seed=rng).random_base2(int(math.ceil(math.log2(max(n_sobol, 2)))))
    parts = [sobol]
    cat_dims = [j for j, p in enumerate(space.values()) if isinstance(p, Categorical)]
    for x in np.asarray(incumbents, dtype=float).reshape(-1, d):
        for scale in (0.02, 0.05, 0.1, 0.2):
            local = x + scale * rng.standard_normal((n_local, d))
            # A small step never leaves a categorical's bucket; resample some choices outright.
            for j in cat_dims:
                flip = rng.random(n_local) < 0.25
                local[flip, j] = rng.random(int(flip.sum()))
            parts.append(local)
        for j in cat_dims:  # the incumbent with each other choice of one categorical
            k = len(space.params[j].choices)  # type: ignore[union-attr]
            swapped = np.repeat(x[None, :], k, axis=0)
            swapped[:, j] = (np.arange(k) + 0.5) / k
            parts.append(swapped)
    return snap(space, np.concatenate(parts))


def propose(
    space: SearchSpace,
    X: np.ndarray,
    values: np.ndarray,
    ok: np.ndarray,
    *,
    candidates: np.ndarray,
    prior_obs: np.ndarray | None = None,
    prior_cand: np.ndarray | None = None,
    init_state: dict | None = None,
    own_state: dict | None = None,
    optimize: bool = True,
    trust: TrustRule | None = None,
    min_scale: float = 0.0,
    prior_odds: float = 1.0,
) -> tuple[int, np.ndarray, FittedGP]:
    """One BO step: fit the GP on the observations and pick the candidate of highest LogEI.

    Args:
        space: The search space.
        X: ``n x d`` unit-cube points of the finished trials.
        values: ``n`` minimised values (anything where ``ok`` is False).
        ok: ``n`` mask of trials with a usable value; the others are imputed as bad.
        candidates: ``m x d`` unit-cube points to choose from (already without evaluated ones).
        prior_obs: ``n`` standardised prior means at ``X`` (None: no prior).
        prior_cand: ``m`` standardised prior means at the candidates.
        init_state: Hyperparameters of the previous fit, to start from.
        own_state: Hyperparameters of the previous step's GP on the observations alone
            (``FittedGP.own``), reused when ``optimize`` is False.
        optimize: Re-optimise the hyperparameters (see :func:`refit_due`); ``False`` reuses
            ``init_state``'s and ``own_state``'s.
        trust: How the prior's weight is measured (a :class:`TrustRule`; default
            :func:`measured_trust`).
        min_scale: Outcome-standardisation floor of every GP fitted in the step (see
            :func:`fit_gp`); 0 keeps BoTorch's default standardisation.
        prior_odds: Odds, before the observations, of the GP with the prior mean against the
            GP alone in the evidence average (:func:`metahp.bo.prior_support`); 1: even.

    Returns:
        ``(index into candidates, LogEI of all candidates (m), the fitted GP)``.
    """
    fmap = FeatureMap(space)
    features = fmap(X)
    y = copula(impute_broken(values, ok))
    weight = 0.0
    own = None
    if prior_obs is not None and prior_cand is not None:
        rule = trust if trust is not None else measured_trust
        weight, own = rule(features, y, np.asarray(ok, dtype=bool), prior_obs, own_state=own_state,
                           init_state=init_state, optimize=optimize, min_scale=min_scale)
    offset_obs = weight * prior_obs if prior_obs is not None else np.zeros(len(y))
    offset_cand = weight * prior_cand if prior_cand is not None else None
    good_y = y[np.asarray(ok, dtype=bool)]
    best = float(good_y.min()) if good_y.size else float(y.min())
    # Trials that all tie (a plateau, or all diverged) tell the GP nothing about the scale of
    # the objective: the residual's spread is then the prior's alone, and standardising by it
    # would leave the GP sure that nothing beats the plateau by more than the prior's
    # differences, so the search would follow the prior's ranking across the plateau. It keeps
    # the copula scale's unit amplitude instead, and the search leaves the plateau.
    flat = y.size > 1 and float(np.ptp(y)) == 0.0
    floor = max(min_scale, 1.0 if flat else 0.0)
    with single_thread():
        model = fit_gp(features, y - offset_obs, init_state=init_state, optimize=optimize, min_scale=floor)
        fitted = FittedGP(model=model, best=best, weight=weight, own=own)
        cand_features = fmap(candidates)
        scores = log_ei(fitted, cand_features, offset_cand)
        if weight > 0.0 and int(np.sum(ok)) >= 3:
            # The ranking rules above stay noisy however many trials there are; the marginal
            # likelihood decides, ever more sharply, whether the prior explains the trials at all.
            # On a plateau too: there the ranking rules cannot test the prior (tied values), its
            # weight only fades as c / (c + n), and on the flat GP that weight alone orders the
            # candidates; a prior predicting differences that the tied trials do not show loses
            # its support, and the step explores as cold GP-BO does.
            from metahp.bo._evidence import average_with_alone

            scores, fitted = average_with_alone(fitted, features, y, cand_features, scores, own_state=own_state,
                                                optimize=optimize, min_scale=floor, all_good=bool(np.all(ok)),
                                                prior_odds=prior_odds)
    scores = np.where(np.isfinite(scores), scores, -np.inf)
    return int(np.argmax(scores)), scores, fitted


class TrustRule(Protocol):
    """How much a BO step trusts the prior: ``rule(features, y, good, prior_obs, ...) -> (weight, own GP or None)``.

    Args:
        features: ``n x f`` GP features of the observations.
        y: ``n`` normalised (copula) observations, broken trials imputed.
        good: ``n`` mask of usable observations.
        prior_obs: ``n`` standardised prior means at the observations.
        own_state: The previous step's GP on the observations alone (``FittedGP.own``), if any.
        init_state: The previous step's GP on the residual, if any.
        optimize: Whether this step re-optimises hyperparameters (``False``: reuse the states').
        min_scale: The step's outcome-standardisation floor, for any GP the rule fits.

    Returns:
        The weight ``w`` in ``[0, 1]`` of the prior mean, and the GP on the observations alone
        if the rule fitted one (kept for the next step's ``own_state``), else None.
    """

    def __call__(self, features: np.ndarray, y: np.ndarray, good: np.ndarray, prior_obs: np.ndarray, *,
                 own_state: dict | None, init_state: dict | None, optimize: bool,
                 min_scale: float) -> tuple[float, object | None]: ...


def measured_trust(features: np.ndarray, y: np.ndarray, good: np.ndarray, prior_obs: np.ndarray, *,
                   own_state: dict | None = None, init_state: dict | None = None, optimize: bool = True,
                   min_scale: float = 0.0) -> tuple[float, object | None]:
    """The prior's weight in one step, and the GP on the observations alone if one was fitted (a :class:`TrustRule`).

    The larger of two measurements on the usable observations (all of the prior's weight
    below three): :func:`~metahp.bo.prior_weight` (how well the prior ranks them, against a
    pseudo-count of belief) and :func:`~metahp.bo.ranking_trust` (how often the
    prior ranks them better than a GP fitted on them alone). So the prior fades only when it
    ranks the target's trials badly *and* the target's own model ranks them better: a few
    trials that the prior happens to order wrongly, which a GP on three or four points cannot
    order either, no longer switch it off, while a prior that the target's own data refute
    still goes.
    """
    if good.sum() < 3:
        return 1.0, None
    weight = prior_weight(prior_obs[good], y[good])
    if weight >= 1.0:
        return weight, None
    with single_thread():
        own = fit_gp(features[good], y[good], init_state=None if optimize else own_state, optimize=optimize,
                     min_scale=min_scale)
        # Seeded by the number of observations: the same trials give the same weight.
        trust = ranking_trust(prior_obs[good], y[good], own, np.random.default_rng(len(y)))
    return max(weight, trust), own


def standardize_prior(prior: Prior, reference: np.ndarray) -> tuple[float, float]:
    """Location and scale of a prior's mean over reference points (``m x d``), to standardise it."""
    mean, _ = prior(reference)
    mu, sd = float(np.mean(mean)), float(np.std(mean))
    return mu, sd if sd > 1e-12 else 1.0
