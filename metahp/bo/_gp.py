"""The BO step as a plain pipeline: data -> fitted GP -> LogEI -> best candidate.

Data are the target's own trials, encoded in the unit cube and mapped to GP features
(:class:`~metahp.bo.FeatureMap`). Observations are minimised values put through a Gaussian
copula (ranks -> normal quantiles), which makes the GP indifferent to the objective's
units and to a few huge losses. With a prior, the GP (BoTorch ``SingleTaskGP``) models the
residual ``y - w * s(x)``, where ``s`` is the prior mean standardised over a reference set
and ``w`` the measured trust (:func:`~metahp.bo.prior_weight`); the residual posterior
plus ``w * s(x)`` is the posterior of ``y``. Expected improvement of ``y`` below ``best``
equals expected improvement of the residual below ``best - w * s(x)``, so BoTorch's
``LogExpectedImprovement`` is used unchanged with a per-candidate ``best_f``.

The acquisition is maximised over a finite set: the pool in pool mode, otherwise a scrambled
Sobol set plus Gaussian perturbations of the best observations, snapped to representable
configurations (integer grid, categorical choices). The prior is a black box (a gradient
boosted model, say), so gradient-based optimisation of the acquisition would not see it.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from metahp.bo._encoding import FeatureMap, snap
from metahp.bo._prior import Prior, copula, prior_weight
from metahp.space import Categorical, SearchSpace

__all__ = ["FittedGP", "fit_gp", "log_ei", "candidate_points", "impute_broken", "propose", "single_thread",
           "refit_due"]

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
    """

    model: object
    best: float
    weight: float


@contextmanager
def single_thread() -> Iterator[None]:
    """Run torch on one intra-op thread, then restore the previous setting.

    The GPs here are small (a few hundred points at most): extra threads only add
    synchronisation, and on a busy machine they make a fit ten times slower.
    """
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


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


def fit_gp(features: np.ndarray, residual: np.ndarray, *, init_state: dict | None = None,
           optimize: bool = True) -> object:
    """Fit a ``SingleTaskGP`` (BoTorch defaults: standardised outcome, RBF kernel with ARD) by marginal likelihood.

    Args:
        features: ``n x f`` GP inputs.
        residual: ``n`` targets (normalised observations minus the weighted prior mean).
        init_state: A previous model's ``state_dict`` to start the optimiser from.
        optimize: Optimise the hyperparameters; ``False`` (only with ``init_state``) keeps
            those of ``init_state`` and just conditions the GP on the data.

    Returns:
        The fitted model (``eval`` mode).
    """
    import torch
    from botorch.fit import fit_gpytorch_mll
    from botorch.models import SingleTaskGP
    from gpytorch.mlls import ExactMarginalLogLikelihood

    train_x = torch.as_tensor(features, dtype=torch.float64)
    train_y = torch.as_tensor(residual, dtype=torch.float64).reshape(-1, 1)
    with warnings.catch_warnings():
        # Tiny or constant data sets make the input checks and the optimiser chatty; a failed
        # fit keeps the initial hyperparameters, which still give a usable GP.
        warnings.simplefilter("ignore")
        model = SingleTaskGP(train_x, train_y)
        if init_state is not None:
            try:
                hyper = {k: v for k, v in init_state.items() if not k.startswith(("outcome_transform", "train_"))}
                model.load_state_dict(hyper, strict=False)
            except (RuntimeError, KeyError):
                pass
        if optimize or init_state is None:
            mll = ExactMarginalLogLikelihood(model.likelihood, model)
            try:
                fit_gpytorch_mll(mll, optimizer_kwargs={"options": {"maxiter": 100}}, max_attempts=2)
            except Exception:  # noqa: BLE001 - any numerical failure: keep the initial hyperparameters
                pass
    model.eval()
    return model


def log_ei(fitted: FittedGP, features: np.ndarray, offset: np.ndarray | None = None, chunk: int = 8192) -> np.ndarray:
    """Log expected improvement (BoTorch ``LogExpectedImprovement``, minimising) at many points.

    Args:
        fitted: The fitted GP.
        features: ``m x f`` candidate features.
        offset: ``m`` weighted prior means at the candidates (zero without a prior).
        chunk: Candidates per batch.

    Returns:
        Shape ``m``.
    """
    import torch
    from botorch.acquisition.analytic import LogExpectedImprovement

    m = features.shape[0]
    shift = np.zeros(m) if offset is None else np.asarray(offset, dtype=float)
    out = np.empty(m)
    with torch.no_grad():
        for start in range(0, m, chunk):
            stop = min(start + chunk, m)
            best_f = torch.as_tensor(fitted.best - shift[start:stop], dtype=torch.float64).unsqueeze(-1)
            acq = LogExpectedImprovement(fitted.model, best_f=best_f, maximize=False)  # type: ignore[arg-type]
            x = torch.as_tensor(features[start:stop], dtype=torch.float64).unsqueeze(1)
            out[start:stop] = acq(x).numpy()
    return out


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
    optimize: bool = True,
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
        optimize: Re-optimise the hyperparameters (see :func:`refit_due`); ``False`` reuses
            ``init_state``'s.

    Returns:
        ``(index into candidates, LogEI of all candidates (m), the fitted GP)``.
    """
    fmap = FeatureMap(space)
    y = copula(impute_broken(values, ok))
    weight = 0.0
    if prior_obs is not None and prior_cand is not None:
        good = np.asarray(ok, dtype=bool)
        weight = prior_weight(prior_obs[good], y[good]) if good.sum() >= 3 else 1.0
    offset_obs = weight * prior_obs if prior_obs is not None else np.zeros(len(y))
    offset_cand = weight * prior_cand if prior_cand is not None else None
    good_y = y[np.asarray(ok, dtype=bool)]
    best = float(good_y.min()) if good_y.size else float(y.min())
    with single_thread():
        model = fit_gp(fmap(X), y - offset_obs, init_state=init_state, optimize=optimize)
        fitted = FittedGP(model=model, best=best, weight=weight)
        scores = log_ei(fitted, fmap(candidates), offset_cand)
    scores = np.where(np.isfinite(scores), scores, -np.inf)
    return int(np.argmax(scores)), scores, fitted


def standardize_prior(prior: Prior, reference: np.ndarray) -> tuple[float, float]:
    """Location and scale of a prior's mean over reference points (``m x d``), to standardise it."""
    mean, _ = prior(reference)
    mu, sd = float(np.mean(mean)), float(np.std(mean))
    return mu, sd if sd > 1e-12 else 1.0
