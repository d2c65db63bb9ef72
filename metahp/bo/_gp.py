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
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from metahp.bo._encoding import FeatureMap, snap
from metahp.bo._prior import Prior, copula, prior_weight
from metahp.bo._ranking import ranking_trust
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
           optimize: bool = True, min_scale: float = 0.0) -> object:
    """Fit a ``SingleTaskGP`` (BoTorch defaults: standardised outcome, RBF kernel with ARD) by marginal likelihood.

    Args:
        features: ``n x f`` GP inputs.
        residual: ``n`` targets (normalised observations minus the weighted prior mean).
        init_state: A previous model's ``state_dict`` to start the optimiser from.
        optimize: Optimise the hyperparameters; ``False`` (only with ``init_state``) keeps
            those of ``init_state`` and just conditions the GP on the data.
        min_scale: The outcome standardisation divides by the targets' standard deviation
            only where it is at least this; a smaller spread is kept as it is (BoTorch's
            ``Standardize(min_stdv=...)``), so the GP's amplitude is not shrunk to it.

    Returns:
        The fitted model (``eval`` mode).
    """
    import torch
    from botorch.models import SingleTaskGP
    from botorch.models.transforms.outcome import Standardize
    from botorch.utils.types import DEFAULT

    train_x = torch.as_tensor(features, dtype=torch.float64)
    train_y = torch.as_tensor(residual, dtype=torch.float64).reshape(-1, 1)
    with warnings.catch_warnings():
        # Tiny or constant data sets make the input checks and the optimiser chatty; a failed
        # fit keeps the initial hyperparameters, which still give a usable GP.
        warnings.simplefilter("ignore")
        model = SingleTaskGP(train_x, train_y,
                             outcome_transform=Standardize(m=1, min_stdv=min_scale) if min_scale > 0 else DEFAULT)
        if init_state is not None:
            try:
                hyper = {k: v for k, v in init_state.items() if not k.startswith(("outcome_transform", "train_"))}
                model.load_state_dict(hyper, strict=False)
            except (RuntimeError, KeyError):
                pass
        if optimize or init_state is None:
            fit_hyperparameters(model)
    model.eval()
    return model


def _train_cholesky(gp: Any) -> Any:
    """Cholesky factor of a ``SingleTaskGP``'s training covariance plus noise (dense, differentiable).

    GPyTorch's ``psd_safe_cholesky`` policy for float64: on failure, retry with a jitter of
    1e-8, 1e-7 and 1e-6 on the diagonal, then raise ``NotPSDError``.
    """
    import torch
    from linear_operator.utils.errors import NotPSDError

    x = gp.train_inputs[0]
    n = x.shape[-2]
    k = gp.covar_module.forward(x, x)
    k = k if isinstance(k, torch.Tensor) else k.to_dense()
    k = k + torch.diag_embed(gp.likelihood.noise.expand(n))
    chol, info = torch.linalg.cholesky_ex(k)
    jitter = 1e-8
    while int(info) != 0 and jitter <= 1e-6:
        chol, info = torch.linalg.cholesky_ex(k + jitter * torch.eye(n, dtype=k.dtype))
        jitter *= 10
    if int(info) != 0:
        raise NotPSDError("the GP covariance is not positive definite even with jitter")
    return chol


def neg_log_marginal_likelihood(model: object) -> Any:
    """GPyTorch's ``ExactMarginalLogLikelihood`` of a ``SingleTaskGP`` on its training data, negated.

    The same objective as ``-ExactMarginalLogLikelihood(likelihood, model)(model(X), y)``
    (Gaussian log density of the standardised targets plus the log priors of the
    hyperparameters, over ``n``), computed on dense tensors: for the few dozen points of a
    BO step GPyTorch's lazy operators and distribution objects cost several times the
    arithmetic, and the fit evaluates this some fifty times per step.

    Args:
        model: A ``SingleTaskGP`` with a ``GaussianLikelihood`` and no input transform, in train mode.

    Returns:
        A scalar tensor, differentiable in the model's parameters.
    """
    import torch
    from gpytorch.means import ConstantMean

    gp: Any = model
    if getattr(gp, "input_transform", None) is not None:
        raise ValueError("neg_log_marginal_likelihood does not apply input transforms; fit_gp uses none")
    x = gp.train_inputs[0]
    y = gp.train_targets
    n = y.shape[-1]
    mean = gp.mean_module.constant.expand(n) if isinstance(gp.mean_module, ConstantMean) else gp.mean_module(x)
    chol = _train_cholesky(gp)
    white = torch.linalg.solve_triangular(chol, (y - mean).unsqueeze(-1), upper=False)
    log_lik = -0.5 * (white.square().sum() + n * math.log(2 * math.pi)) - chol.diagonal().log().sum()
    for _, module, prior, closure, _ in gp.named_priors():
        log_lik = log_lik + prior.log_prob(closure(module)).sum()
    return -log_lik / n


_DEFAULT_PARAMETERS = ["likelihood.noise_covar.raw_noise", "mean_module.raw_constant", "covar_module.raw_lengthscale"]
"""The free parameters of BoTorch's default ``SingleTaskGP``, in the optimiser's order."""


def _rbf_objective(gp: Any, names: list[str]) -> Callable[[np.ndarray], tuple[float, np.ndarray]] | None:
    """:func:`neg_log_marginal_likelihood` and its gradient in closed form, for BoTorch's default ``SingleTaskGP``.

    That model (constant mean; RBF kernel with one lengthscale per input; Gaussian noise; log-normal
    priors on the lengthscales and the noise; both kept above their floors by the optimiser's
    bounds, not by a transform) has three parameter groups whose gradient is a few ``n x n``
    products: ``d/dθ log p(y) = tr((αα' - K⁻¹) dK/dθ) / 2`` with ``α = K⁻¹(y - c)``. NumPy does
    that in a tenth of the time autograd takes to trace the same computation.

    Args:
        gp: The model (train mode).
        names: Its free parameters, in the order of the optimiser's vector.

    Returns:
        ``theta -> (loss, gradient)``, or None for any other model structure (the caller then
        differentiates :func:`neg_log_marginal_likelihood` with autograd).
    """
    from gpytorch.kernels import RBFKernel
    from gpytorch.likelihoods import GaussianLikelihood
    from gpytorch.means import ConstantMean
    from gpytorch.priors import LogNormalPrior
    from scipy.linalg import cho_solve

    kernel, likelihood = gp.covar_module, gp.likelihood
    priors = {name for name, *_ in gp.named_priors()}
    x = gp.train_inputs[0].detach().numpy()
    n, d = x.shape
    simple = (
        type(kernel) is RBFKernel and type(gp.mean_module) is ConstantMean and type(likelihood) is GaussianLikelihood
        and names == _DEFAULT_PARAMETERS and tuple(kernel.raw_lengthscale.shape) == (1, d)
        and getattr(gp, "input_transform", None) is None
        and priors == {"likelihood.noise_covar.noise_prior", "covar_module.lengthscale_prior"}
        and isinstance(kernel.lengthscale_prior, LogNormalPrior)
        and isinstance(likelihood.noise_covar.noise_prior, LogNormalPrior)
        and not kernel.raw_lengthscale_constraint.enforced and not likelihood.noise_covar.raw_noise_constraint.enforced
    )
    if not simple:
        return None
    y = gp.train_targets.detach().numpy()
    centred = x - x.mean(0)  # as GPyTorch's sq_dist, which also takes the |a|² + |b|² - 2ab form
    centred_sq = centred**2
    ls_loc, ls_scale = float(kernel.lengthscale_prior.loc), float(kernel.lengthscale_prior.scale)
    nz_loc, nz_scale = float(likelihood.noise_covar.noise_prior.loc), float(likelihood.noise_covar.noise_prior.scale)
    eye = np.eye(n)

    def log_normal(v: np.ndarray, loc: float, scale: float) -> tuple[float, np.ndarray]:
        # torch's Normal.log_prob takes log(scale) and scale² in the prior's float32.
        var, log_scale = float(np.float32(scale) ** 2), float(np.log(np.float32(scale)))
        u = np.log(v) - loc
        value = -np.log(v) - log_scale - math.log(math.sqrt(2 * math.pi)) - u**2 / (2 * var)
        return float(value.sum()), -1.0 / v - u / (var * v)

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        noise, constant, ls = theta[0], theta[1], theta[2:]
        scaled = centred / ls
        norms = (scaled**2).sum(1)
        k = np.exp(-0.5 * np.maximum(norms[:, None] + norms[None, :] - 2.0 * scaled @ scaled.T, 0.0))
        ky = k + noise * eye
        jitter = 0.0
        while True:  # GPyTorch's psd_safe_cholesky: up to three growing jitters
            try:
                chol = np.linalg.cholesky(ky + jitter * eye)
                break
            except np.linalg.LinAlgError:
                jitter = 1e-8 if jitter == 0.0 else jitter * 10
                if jitter > 1e-6:
                    raise
        r = y - constant
        inv = cho_solve((chol, True), eye)
        alpha = inv @ r
        log_lik = -0.5 * float(r @ alpha) - float(np.log(np.diag(chol)).sum()) - 0.5 * n * math.log(2 * math.pi)
        w = np.outer(alpha, alpha) - inv  # d log_lik / d ky = w / 2
        lp_ls, dlp_ls = log_normal(ls, ls_loc, ls_scale)
        lp_nz, dlp_nz = log_normal(np.array([noise]), nz_loc, nz_scale)
        grad = np.empty_like(theta)
        grad[0] = 0.5 * np.trace(w) + dlp_nz[0]
        grad[1] = alpha.sum()
        # d k_ab / d ls_j = k_ab (x_aj - x_bj)² / ls_j³, summed against w without an n x n x d array.
        wk = w * k
        pair_sq = 2.0 * (wk.sum(1) @ centred_sq) - 2.0 * (centred * (wk @ centred)).sum(0)
        grad[2:] = 0.5 * pair_sq / ls**3 + dlp_ls
        return -(log_lik + lp_ls + lp_nz) / n, -grad / n

    return objective


def fit_hyperparameters(model: object, maxiter: int = 100, *, blas_threads: int | None = 1) -> bool:
    """Maximise a ``SingleTaskGP``'s marginal likelihood as BoTorch's ``fit_gpytorch_mll`` does, faster.

    The same optimiser, start, bounds and retry policy as ``fit_gpytorch_mll(mll,
    optimizer_kwargs={"options": {"maxiter": maxiter}}, max_attempts=2)``: L-BFGS-B on the raw
    parameters within BoTorch's bounds from the current values; an abnormal termination or
    a covariance that is not positive definite retries once from hyperparameters drawn from
    their priors; if that fails too the initial hyperparameters are restored. The objective
    is :func:`neg_log_marginal_likelihood`.

    Args:
        model: The model; left in train mode.
        maxiter: L-BFGS-B iteration limit.
        blas_threads: BLAS threads while fitting (``None``: no limit). One by default: a BO
            step's matrices are small, and BLAS threads spinning against another busy process
            (a second study, a benchmark worker) make its fit many times slower.

    Returns:
        Whether an attempt succeeded (otherwise the initial hyperparameters are kept).
    """
    import torch
    from botorch.optim.utils import get_parameters_and_bounds, sample_all_priors
    from scipy.optimize import minimize
    from threadpoolctl import threadpool_limits

    gp: Any = model
    gp.train()
    params, bounds = get_parameters_and_bounds(gp)
    names = [k for k, p in params.items() if p.requires_grad]
    tensors = [params[k] for k in names]
    sizes = [p.numel() for p in tensors]
    box = [(bounds.get(k, (None, None))) for k in names for _ in range(params[k].numel())]
    box = [(None if lo is None else float(lo), None if hi is None else float(hi)) for lo, hi in box]

    def load(theta: np.ndarray) -> None:
        with torch.no_grad():
            offset = 0
            for p, size in zip(tensors, sizes):
                p.copy_(torch.as_tensor(theta[offset:offset + size], dtype=p.dtype).reshape(p.shape))
                offset += size

    def autograd_objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        load(theta)
        loss = neg_log_marginal_likelihood(gp)
        grads = torch.autograd.grad(loss, tensors, allow_unused=True)
        flat = [torch.zeros_like(p) if g is None else g for g, p in zip(grads, tensors)]
        return loss.item(), torch.cat([g.reshape(-1) for g in flat]).numpy()

    objective = _rbf_objective(gp, names) or autograd_objective
    initial = {k: v.detach().clone() for k, v in gp.state_dict().items()}
    with threadpool_limits(limits=blas_threads, user_api="blas"):
        for attempt in range(2):
            if attempt:
                gp.load_state_dict(initial)
                sample_all_priors(gp)
            theta0 = torch.cat([p.detach().reshape(-1) for p in tensors]).numpy().astype(float)
            try:
                result = minimize(objective, theta0, jac=True, method="L-BFGS-B", bounds=box,
                                  options={"maxiter": maxiter})
            except (RuntimeError, ValueError, np.linalg.LinAlgError):  # NotPSDError is a RuntimeError
                continue
            if result.status in (0, 1) and np.all(np.isfinite(result.x)):  # converged, or out of iterations
                load(result.x)
                return True
    gp.load_state_dict(initial)
    return False


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
    with single_thread():
        model = fit_gp(features, y - offset_obs, init_state=init_state, optimize=optimize,
                       min_scale=max(min_scale, 1.0 if flat else 0.0))
        fitted = FittedGP(model=model, best=best, weight=weight, own=own)
        cand_features = fmap(candidates)
        scores = log_ei(fitted, cand_features, offset_cand)
        if weight > 0.0 and not flat and int(np.sum(ok)) >= 3:
            # The ranking rules above stay noisy however many trials there are; the marginal
            # likelihood decides, ever more sharply, whether the prior explains the trials at all.
            from metahp.bo._evidence import average_with_alone

            scores, fitted = average_with_alone(fitted, features, y, cand_features, scores, own_state=own_state,
                                                optimize=optimize, min_scale=min_scale, all_good=bool(np.all(ok)))
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
