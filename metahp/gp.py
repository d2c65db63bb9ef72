"""Fitting a GP by marginal likelihood, shared by the meta-model GP (``metahp.meta``) and the BO step (``metahp.bo``).

:func:`fit_gp` builds BoTorch's default ``SingleTaskGP`` on given features and targets;
:func:`fit_hyperparameters` maximises the marginal likelihood as BoTorch's
``fit_gpytorch_mll`` does (same optimiser, bounds and retry policy), with the objective
(:func:`neg_log_marginal_likelihood`) on dense tensors and, for the default model, its
gradient in closed form. torch, GPyTorch and BoTorch are imported on first use.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

__all__ = ["fit_gp", "fit_hyperparameters", "neg_log_marginal_likelihood", "single_thread", "train_cholesky"]


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


def train_cholesky(gp: Any) -> Any:
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
    chol = train_cholesky(gp)
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
