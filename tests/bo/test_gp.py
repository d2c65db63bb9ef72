from __future__ import annotations

import numpy as np

from metahp import Categorical, Float, SearchSpace
from metahp.bo import CallablePrior, copula, impute_broken, prior_weight, propose, snap

SPACE = SearchSpace([Float("x", 0.0, 1.0), Float("y", 0.0, 1.0), Categorical("c", ["a", "b"])])


def objective(u: np.ndarray) -> np.ndarray:
    return (u[:, 0] - 0.7) ** 2 + (u[:, 1] - 0.2) ** 2 + 0.3 * (u[:, 2] < 0.5)


def test_prior_weight_follows_rank_agreement() -> None:
    rng = np.random.default_rng(0)
    y = rng.random(30)
    assert prior_weight(y[:2], -y[:2]) == 1.0  # too little evidence: trust the prior
    assert prior_weight(y, y) == 1.0
    assert prior_weight(y, -y) == 0.0
    unrelated = prior_weight(rng.random(30), y)
    assert 0.0 <= unrelated < 0.6
    assert prior_weight(np.ones(5), y[:5]) < 1.0  # a flat prior explains nothing


def test_prior_weight_counts_the_top_ranks_most() -> None:
    # Both priors order half the pairs right (the same plain Kendall tau); only the first gets
    # the best observations' order right, and only it keeps full weight.
    y = np.arange(10.0)
    right_at_top = np.r_[np.arange(5.0), np.arange(9.0, 4.0, -1.0)]
    wrong_at_top = np.r_[np.arange(4.0, -1.0, -1.0), np.arange(5.0, 10.0)]
    assert prior_weight(right_at_top, y) == 1.0
    assert prior_weight(wrong_at_top, y) < 0.7


def test_propose_keeps_a_prior_that_the_tasks_own_gp_cannot_outrank() -> None:
    # Five trials on a rough objective: the prior gets their best one wrong, so its rank
    # correlation alone would switch it off, but a GP fitted on the five cannot rank them
    # better, so the prior keeps the share of weight it earns against that GP.
    space = SearchSpace([Float("x", 0.0, 1.0), Float("y", 0.0, 1.0)])
    X = np.array([[0.1, 0.9], [0.9, 0.1], [0.5, 0.5], [0.2, 0.3], [0.7, 0.75]])
    values = np.sin(40 * X[:, 0]) + np.cos(37 * X[:, 1])
    y = copula(values)
    prior_obs = np.array([2.0, 3.0, 1.0, 0.0, 4.0])[np.argsort(np.argsort(y))]
    cand = np.random.default_rng(0).random((50, 2))
    prior_cand = np.random.default_rng(1).standard_normal(50)
    assert prior_weight(prior_obs, y) == 0.0
    _, _, fitted = propose(space, X, values, np.ones(5, bool), candidates=cand, prior_obs=prior_obs,
                           prior_cand=prior_cand)
    assert fitted.own is not None and 0.1 < fitted.weight < 1.0
    # A later step that keeps the hyperparameters conditions the same GPs on the data again.
    _, _, again = propose(space, X, values, np.ones(5, bool), candidates=cand, prior_obs=prior_obs,
                          prior_cand=prior_cand, init_state=fitted.model.state_dict(),  # type: ignore[attr-defined]
                          own_state=fitted.own.state_dict(), optimize=False)  # type: ignore[attr-defined]
    assert again.weight == fitted.weight
    # A prior that ranks the trials as they came keeps its full weight; the GP alone is still
    # fitted, to weigh the two models' evidence (metahp.bo.prior_support), and loses.
    _, _, agreed = propose(space, X, values, np.ones(5, bool), candidates=cand, prior_obs=y, prior_cand=prior_cand)
    assert agreed.weight == 1.0 and agreed.own is not None and agreed.support > 0.9


def test_copula_and_imputation() -> None:
    v = impute_broken(np.array([1.0, np.nan, 3.0, 2.0]), np.array([True, False, True, True]))
    assert v[1] > 3.0
    z = copula(v)
    assert np.argmax(z) == 1 and abs(z.sum()) < 1e-12


def test_propose_finds_low_region_and_uses_prior() -> None:
    rng = np.random.default_rng(1)
    X = snap(SPACE, rng.random((12, 3)))
    cand = snap(SPACE, rng.random((3000, 3)))
    idx, scores, fitted = propose(SPACE, X, objective(X), np.ones(12, bool), candidates=cand)
    assert scores.shape == (3000,) and np.isfinite(scores[idx])
    assert objective(cand[idx : idx + 1])[0] < np.quantile(objective(cand), 0.1)
    # With an exact prior and two observations the GP goes straight to the prior's optimum region.
    prior = CallablePrior(objective)
    p_obs, p_cand = prior(X[:2])[0], prior(cand)[0]
    mu, sd = p_cand.mean(), p_cand.std()
    idx2, _, fitted2 = propose(SPACE, X[:2], objective(X[:2]), np.ones(2, bool), candidates=cand,
                               prior_obs=(p_obs - mu) / sd, prior_cand=(p_cand - mu) / sd)
    assert fitted2.weight == 1.0
    assert objective(cand[idx2 : idx2 + 1])[0] < np.quantile(objective(cand), 0.02)


def test_propose_survives_all_broken_and_constant_data() -> None:
    X = snap(SPACE, np.random.default_rng(2).random((6, 3)))
    cand = snap(SPACE, np.random.default_rng(3).random((100, 3)))
    for values, ok in ((np.full(6, np.nan), np.zeros(6, bool)), (np.ones(6), np.ones(6, bool)),
                       (np.array([1.0, np.inf, np.nan, 2.0, 1e300, 0.5]), np.array([1, 0, 0, 1, 1, 1], bool))):
        idx, scores, _ = propose(SPACE, X, values, ok, candidates=cand)
        assert 0 <= idx < 100 and scores.shape == (100,)


def test_propose_leaves_a_plateau_the_prior_points_into() -> None:
    # Every trial so far landed on a plateau (equal values) in the corner the prior favours.
    # The observations then say nothing about how much better the objective can get; the
    # GP keeps the copula scale's amplitude and the next pick leaves the plateau's corner
    # instead of creeping along the prior's ranking next to the tied trials.
    space = SearchSpace([Float("x", 0.0, 1.0), Float("y", 0.0, 1.0)])
    X = np.array([[0.0, 0.0], [0.1, 0.05], [0.05, 0.15], [0.15, 0.1], [0.0, 0.2], [0.2, 0.0]])
    grid = np.stack(np.meshgrid(np.linspace(0, 1, 21), np.linspace(0, 1, 21)), -1).reshape(-1, 2)
    cand = grid[np.min(np.linalg.norm(grid[:, None] - X[None], axis=2), axis=1) > 1e-9]
    prior = CallablePrior(lambda u: u.sum(axis=1))
    p_obs, p_cand = prior(X)[0], prior(cand)[0]
    mu, sd = p_cand.mean(), p_cand.std()
    idx, _, fitted = propose(space, X, np.ones(len(X)), np.ones(len(X), bool), candidates=cand,
                             prior_obs=(p_obs - mu) / sd, prior_cand=(p_cand - mu) / sd)
    assert 0.0 < fitted.weight < 0.5  # the prior has explained nothing, so it fades
    assert np.min(np.linalg.norm(X - cand[idx], axis=1)) > 0.3


def _default_gp(n: int, d: int, seed: int) -> tuple[object, object, object]:
    import torch
    from botorch.models import SingleTaskGP

    rng = np.random.default_rng(seed)
    x = torch.as_tensor(rng.random((n, d)))
    y = torch.as_tensor(np.sin(4 * x[:, :1].numpy()) + 0.05 * rng.standard_normal((n, 1)))
    return SingleTaskGP(x, y), x, y


def test_marginal_likelihood_and_gradient_match_gpytorch() -> None:
    import torch
    from botorch.optim.utils import get_parameters_and_bounds
    from gpytorch.mlls import ExactMarginalLogLikelihood

    from metahp.gp import _rbf_objective, neg_log_marginal_likelihood

    for n, d in ((4, 2), (40, 7)):
        model, x, _ = _default_gp(n, d, seed=n)
        model.train()  # type: ignore[attr-defined]
        params, _ = get_parameters_and_bounds(model)
        names = [k for k, p in params.items() if p.requires_grad]
        theta = np.concatenate([[0.03], [0.4], np.linspace(0.1, 1.5, d)])
        with torch.no_grad():
            params[names[0]].copy_(torch.tensor([theta[0]]))
            params[names[1]].copy_(torch.tensor(theta[1]))
            params[names[2]].copy_(torch.tensor(theta[2:]).reshape(1, -1))
        mll = ExactMarginalLogLikelihood(model.likelihood, model)  # type: ignore[attr-defined]
        reference = -mll(model(x), model.train_targets)  # type: ignore[operator, attr-defined]
        ours = neg_log_marginal_likelihood(model)
        assert abs(ours.detach().item() - reference.detach().item()) < 1e-10
        grads = torch.autograd.grad(reference, [params[k] for k in names])
        autograd = torch.cat([g.reshape(-1) for g in grads]).numpy()
        closed = _rbf_objective(model, names)
        assert closed is not None
        value, gradient = closed(theta)
        assert abs(value - reference.item()) < 1e-10
        np.testing.assert_allclose(gradient, autograd, atol=1e-9)


def test_fit_reaches_botorch_optimum_and_falls_back_for_other_models() -> None:
    import warnings

    import torch
    from botorch.fit import fit_gpytorch_mll
    from botorch.models import SingleTaskGP
    from gpytorch.kernels import RBFKernel, ScaleKernel
    from gpytorch.mlls import ExactMarginalLogLikelihood

    from metahp.gp import fit_hyperparameters, neg_log_marginal_likelihood

    for n, d in ((12, 3), (45, 6)):
        ours, x, y = _default_gp(n, d, seed=d)
        theirs = SingleTaskGP(x, y)  # type: ignore[arg-type]
        start = neg_log_marginal_likelihood(ours.train()).item()  # type: ignore[attr-defined]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit_gpytorch_mll(ExactMarginalLogLikelihood(theirs.likelihood, theirs),
                             optimizer_kwargs={"options": {"maxiter": 100}}, max_attempts=2)
        assert fit_hyperparameters(ours)
        theirs.train()
        fitted = neg_log_marginal_likelihood(ours).item()
        assert fitted < start - 1e-3
        assert fitted <= neg_log_marginal_likelihood(theirs).item() + 1e-6
    # A structure the closed form does not cover (a scaled RBF kernel) is fitted through autograd,
    # on the same objective as GPyTorch's.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        other = SingleTaskGP(x, y, covar_module=ScaleKernel(RBFKernel(ard_num_dims=x.shape[1])))  # type: ignore[arg-type]
    other.train()
    mll = ExactMarginalLogLikelihood(other.likelihood, other)
    with torch.no_grad():
        assert abs(neg_log_marginal_likelihood(other).item() + mll(other(x), other.train_targets).item()) < 1e-10
    before = neg_log_marginal_likelihood(other).item()
    assert fit_hyperparameters(other)
    assert neg_log_marginal_likelihood(other).item() < before - 1e-3
    assert torch.isfinite(other.covar_module.base_kernel.lengthscale).all()


def test_log_ei_matches_botorch() -> None:
    import torch
    from botorch.acquisition.analytic import LogExpectedImprovement

    from metahp.bo._gp import FittedGP, fit_gp, log_ei

    rng = np.random.default_rng(5)
    x = rng.random((25, 4))
    y = np.cos(3 * x[:, 1]) + 0.1 * rng.standard_normal(25)
    model = fit_gp(x, y)
    candidates = np.vstack([rng.random((300, 4)), x[:5]])  # observed points too: the variance floor
    offset = 0.2 * rng.standard_normal(len(candidates))
    fitted = FittedGP(model=model, best=float(y.min()), weight=0.5)
    ours = log_ei(fitted, candidates, offset, chunk=128)
    with torch.no_grad():
        best_f = torch.as_tensor(fitted.best - offset).unsqueeze(-1)
        reference = LogExpectedImprovement(model, best_f=best_f, maximize=False)(  # type: ignore[arg-type]
            torch.as_tensor(candidates).unsqueeze(1)).numpy()
    np.testing.assert_allclose(ours, reference, atol=1e-6)
    assert np.argmax(ours) == np.argmax(reference)
