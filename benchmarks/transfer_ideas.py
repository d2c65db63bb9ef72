"""Changes aimed at the transfer benchmark's missed speed-ups, measured before shipping.

Issue 6 asks for a speed-up of at least 5 against cold GP on ``steplaw-dense`` (metahp has
4.7: it needs mean regret <= 0.0005 after two trials and has 0.0015, held up by the two
tasks at the edge of the knowledge base) and ``svm`` (2.5: it needs cold GP's 50-trial
regret by T = 10 and reaches it at T = 20). This script measures three candidate changes
against the shipped ones, on the protocol's leave-one-task-out pool replay and random
streams, and writes ``benchmarks/results/transfer_ideas.md``. Each is implemented here and
passed to the Study as a transfer strategy (``Study(..., transfer=PriorTransfer(step=...,
trust=..., min_scale=...))``, see :mod:`metahp.study`), so nothing patches the library and the
numbers can be remade; the baseline pins the prior weight's pseudo-count to 3, its value when
they were measured. Changes 1 and 2 were
not shipped; change 3 (``c = 1``) became :data:`metahp.bo.PRIOR_PSEUDO_COUNT`.

1. **Trend-relative meta-model** (aimed at ``steplaw-dense``): LightGBM on the
   configuration's offset from the optimum that the family's trend
   (:class:`metahp.meta.OptimumTrend`) predicts for each task, instead of (``relative``)
   or beside (``both``) its absolute position, so that the shape of a task's surface
   carries over to a task beyond the edge of the knowledge base. Judged zero-shot: the
   regret of the best of the first 1, 2, 3 configurations ranked by predicted mean.
2. **Source covariance in the BO step** (aimed at ``svm``): the warm-started GP's
   posterior gets an extra covariance term, the empirical covariance over the nearest
   source tasks of their (recorded, else predicted) scores at the pool's configurations,
   scaled by a factor chosen by marginal likelihood on the target's trials. Where the
   sources disagree (an RBF kernel that wins on a few data sets) the search explores, and
   an observation there informs the configurations the sources make covary with it.
3. **How fast the prior fades** (aimed at ``svm``): the GP step weighs the meta-model prior by
   ``w = clip((c + 2 n tau) / (c + n), 0, 1)`` (:func:`metahp.bo.prior_weight`, ``c = 3``);
   measured with ``c = 1`` (the target's own trials outweigh the prior sooner) and with
   ``w = 0`` (the prior only chooses the portfolio).

Two more, measured after ``c = 1`` shipped (baseline: the shipped Study), both aimed at ``svm``
still reaching cold GP's 50-trial regret only at T = 14; written to
``benchmarks/results/transfer_ideas_2.md`` with ``--experiments agreement,amplitude``:

4. **Agreement-weighted source prior** (after TST-R, Wistuba et al. 2016, which was built on
   this svm meta-dataset): from the third target observation on, the source tasks are ranked
   by the Kendall rank correlation between their (recorded, else predicted) scores at the
   target's observed configurations and the observations, and the mean of the top ``k``
   sources' standardised score surfaces over the pool replaces the meta-model's mean as the
   GP's prior mean (the prior weight still applies to it). With a handful of observations
   many sources tie on tau, so the order among tied sources is part of the method: the
   variants break ties by knowledge-base order or by meta-feature distance (nearest first),
   and one uses predicted surfaces only (what a search outside a pool would have).
5. **GP amplitude floor** (aimed at a trap seen on ``svm/haberman``: when the first trials
   all land on a plateau their copula scores tie, the residual the GP models has almost no
   spread, BoTorch's outcome standardisation shrinks the GP's amplitude with it, and the
   search follows the prior's ranking through the plateau): the residual is scaled by
   ``max(std, 1)`` instead of its standard deviation, so the GP keeps the copula scale's unit
   amplitude.

A sixth, measured after those (written to ``benchmarks/results/transfer_ideas_3.md`` with
``--experiments hedges``): three ways to hedge the prior instead of trusting one mean.

6. **Hedges**: (a) the step maximises the average of the shipped expected improvement and
   that of a GP fitted on the same observations without a prior (cold GP-BO's next step);
   (b) a Bayesian model average over prior means (a constant, the meta-model's mean, each
   source task's recorded surface), sharing the shipped step's GP kernel, each weighted by
   its likelihood on the target's observations; (c) experiment 4's top 3 with Kendall ties
   broken by the continuous Pearson correlation instead of an arbitrary order.

A seventh (``benchmarks/results/transfer_ideas_4.md``, ``--experiments trust``), on the five
external suites and the four families of the bundled knowledge base, is about the prior
weight's rule. Its pseudo-count ``c`` is a constant the suites disagree on (``svm`` wanted 1,
``nmt`` and the bundled language-model families 3), because a rank correlation over the
three or four trials of a portfolio is mostly noise: one pair the prior orders wrong among
near-equal recommendations switched the prior off. Rules measured on the target's own
trials from the third one on:

7. **Measured trust**: (a) ``tau``: the pseudo-count rule alone (:func:`metahp.bo.prior_weight`,
   ``c = 1``; what shipped before); (b) ``rank``: ``w`` is the share of 128 leave-one-out
   posterior draws of a GP fitted on the target's trials alone (no prior) that mis-rank more
   pairs of the target's observations than the prior's mean does (ties count half), RGPE's
   weighting rule (:class:`metahp.bo.RGPE`) applied to the prior against the target's own
   model (:func:`metahp.bo.ranking_trust`); (c) ``shipped``: the larger of (a) and
   (b), so the prior fades only when its ranking is poor *and* the target's own GP ranks
   better; (d) ``loo``: ``w`` in ``[0, 1]`` minimising the leave-one-out squared error of the
   GP whose mean is ``constant + w * prior`` (closed form for fixed kernel hyperparameters,
   those of the GP step's fit with (a)'s weight); (e) ``loo-rank``: ``w`` among 0, 1/4, ..., 1
   minimising the leave-one-out predictions' mis-ranked pairs (the largest on ties).

Experiments 4 to 6 were measured while the prior weight used the plain Kendall tau; it now
uses a top-weighted one (:func:`metahp.bo.prior_weight`), so a rerun measures every variant,
and the ``shipped`` baseline, on top of that.

Usage:
    .venv/bin/python benchmarks/transfer_ideas.py [--external ../shared/external]
        [--neighbours 10] [--experiments trend,covariance,weight] [--out benchmarks/results/transfer_ideas.md]
    .venv/bin/python benchmarks/transfer_ideas.py --experiments agreement,amplitude \\
        --out benchmarks/results/transfer_ideas_2.md
    .venv/bin/python benchmarks/transfer_ideas.py --experiments hedges --out benchmarks/results/transfer_ideas_3.md
    .venv/bin/python benchmarks/transfer_ideas.py --experiments trust --out benchmarks/results/transfer_ideas_4.md
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from metahp.bo import (
    FeatureMap,
    FittedGP,
    TrustRule,
    copula,
    fit_gp,
    impute_broken,
    log_ei,
    prior_weight,
    propose,
    ranking_trust,
    single_thread,
)
from metahp.study import PriorTransfer, StepFunction

ROOT = Path(__file__).resolve().parent.parent


# ---------------------------------------------------------------------------------------------
# 1. trend-relative meta-model

def trend_relative(suite: Any, mode: str, members: int = 5) -> np.ndarray:
    """Regret (tasks x 3) of the best of the first 1, 2, 3 pool members by predicted mean.

    ``mode``: ``absolute`` (metahp's LightGBM meta-model), ``relative`` or ``both``.
    """
    import lightgbm as lgb

    from metahp.kb import KnowledgeBase
    from metahp.meta import OptimumTrend, fit_meta, training_frame

    kb = KnowledgeBase(suite.kb_path)
    space = suite.space
    out = []
    for target in suite.tasks:
        fitted = fit_meta(kb, "lgbm", exclude=[target.name], space=space)
        assert fitted.model is not None and fitted.index is not None
        if mode == "absolute":
            mean = fitted.model.predict(target.meta_features, target.X)[0]
        else:
            frame = training_frame(kb, exclude=[target.name], space=space)
            features = fitted.model.features_
            best = np.array([t.best_encoded[0] for t in fitted.tasks])
            Z = np.nan_to_num(fitted.index.meta)
            trend = OptimumTrend(fitted.index.meta, best, list(range(space.dim)))
            intercept = np.nanmean(best - Z @ trend.coef.T, axis=0)  # the ridge's unpenalised intercept
            optimum = {t.name: intercept + Z[i] @ trend.coef.T for i, t in enumerate(fitted.tasks)}
            moves = np.asarray(trend.coef.any(axis=1))

            def inputs(meta: np.ndarray, X: np.ndarray, opt: np.ndarray, moves: np.ndarray = moves) -> np.ndarray:
                rel = X.copy()
                rel[:, moves] = X[:, moves] - opt[:, moves]
                return np.hstack([meta, rel] if mode == "relative" else [meta, rel, X])

            X = frame.encoded_configs()
            M = features.meta_rows(frame.meta_matrix(), frame.meta_names)
            opt_rows = np.array([optimum[t] for t in frame.data["task"]])
            y = frame.data["score"].to_numpy(dtype=float)
            z_target = np.nan_to_num(fitted.index.standardise(target.meta_features))
            o_target = np.broadcast_to(intercept + z_target @ trend.coef.T, (target.size, space.dim))
            m_target = np.broadcast_to(features.meta_vector(target.meta_features), (target.size, M.shape[1]))
            preds = []
            for i in range(members):  # the meta-model's own recipe: bagged LightGBM members
                idx = np.random.default_rng(i).choice(len(y), len(y), replace=True)
                params = {"objective": "regression", "learning_rate": 0.05, "num_leaves": 31, "min_data_in_leaf": 5,
                          "feature_fraction": 0.9, "num_threads": 1, "seed": i, "deterministic": True,
                          "verbosity": -1, "min_data_in_bin": 1}
                booster = lgb.train(params, lgb.Dataset(inputs(M, X, opt_rows)[idx], label=y[idx]), 300)
                preds.append(booster.predict(inputs(m_target, target.X, o_target)))
            mean = np.mean(preds, axis=0)
        r = (target.y - target.y.min()) / (target.y.max() - target.y.min())
        order = np.argsort(mean, kind="stable")
        out.append([r[order[:k]].min() for k in (1, 2, 3)])
    return np.array(out)


# ---------------------------------------------------------------------------------------------
# 2. source covariance in the BO step

_STATE: dict[str, Any] = {}


def _pool_rows(unit: np.ndarray) -> dict[tuple, int]:
    """Row of each pool point (``m x d`` unit-cube encodings), keyed by the point rounded to 1e-9."""
    return {tuple(np.round(x, 9)): i for i, x in enumerate(unit)}


def _rows_of(points: np.ndarray) -> np.ndarray:
    """Pool rows (from ``_STATE["row"]``, filled by :func:`_pool_rows`) of points taken from the pool."""
    return np.array([_STATE["row"][tuple(np.round(x, 9))] for x in points], dtype=int)


def _kernel_blocks(gp: Any, features_obs: np.ndarray,
                   features_cand: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """A fitted ``SingleTaskGP``'s kernel between observations and candidates, in standardised units.

    Returns:
        ``(K_oo (n x n), K_co (m x n), k_cc (m, the diagonal), noise variance)``.
    """
    import torch

    with torch.no_grad():
        xo, xc = torch.as_tensor(features_obs), torch.as_tensor(features_cand)
        return (gp.covar_module(xo, xo).to_dense().numpy(), gp.covar_module(xc, xo).to_dense().numpy(),
                gp.covar_module(xc, xc, diag=True).numpy(), float(gp.likelihood.noise.squeeze()))


def _source_covariance_propose(original: StepFunction) -> StepFunction:
    """The BO step ``original`` with the empirical source covariance added to the posterior."""
    import torch
    from botorch.acquisition.analytic import _log_ei_helper

    def step(space: Any, X: np.ndarray, values: np.ndarray, ok: np.ndarray, *, candidates: np.ndarray,
             prior_obs: Any = None, prior_cand: Any = None, **kwargs: Any) -> tuple[int, np.ndarray, Any]:
        idx, scores, fitted = original(space, X, values, ok, candidates=candidates, prior_obs=prior_obs,
                                       prior_cand=prior_cand, **kwargs)
        if prior_obs is None or prior_cand is None or "scores" not in _STATE:
            return idx, scores, fitted
        if "D" not in _STATE:  # on the study's standardised prior scale, centred over the sources
            assert _STATE["strategy"].prior_scale is not None
            mu, sd = _STATE["strategy"].prior_scale
            S = (_STATE["scores"] - mu) / sd
            _STATE["D"] = S - S.mean(axis=0)
        D = _STATE["D"]
        obs, cand = _rows_of(X), _rows_of(candidates)
        fmap = FeatureMap(space)
        gp: Any = fitted.model
        y = copula(impute_broken(values, ok))
        resid = y - fitted.weight * prior_obs
        tm, ts = float(gp.outcome_transform.means.squeeze()), float(gp.outcome_transform.stdvs.squeeze())
        K_oo, K_co, k_cc, noise = _kernel_blocks(gp, fmap(X), fmap(candidates))
        const = float(gp.mean_module.constant)
        s = D.shape[0]
        C_oo = D[:, obs].T @ D[:, obs] / s / ts**2
        C_co = D[:, cand].T @ D[:, obs] / s / ts**2
        c_cc = (D[:, cand] ** 2).sum(axis=0) / s / ts**2
        r = (resid - tm) / ts - const
        best = None
        for a in (0.0, 0.1, 0.3, 1.0, 3.0):  # the scale of the source term, by marginal likelihood
            try:
                L = np.linalg.cholesky(K_oo + a * C_oo + (noise + 1e-8) * np.eye(len(y)))
            except np.linalg.LinAlgError:
                continue
            alpha = np.linalg.solve(L.T, np.linalg.solve(L, r))
            loglik = -0.5 * r @ alpha - np.log(np.diag(L)).sum()
            if best is None or loglik > best[0]:
                best = (loglik, a, L, alpha)
        if best is None:
            return idx, scores, fitted
        _, a, L, alpha = best
        cross = K_co + a * C_co
        mean = (const + cross @ alpha) * ts + tm
        white = np.linalg.solve(L, cross.T)
        var = np.clip(k_cc + a * c_cc - (white**2).sum(axis=0), 1e-6, None) * ts**2
        sigma = np.sqrt(var)
        z = (fitted.best - fitted.weight * prior_cand - mean) / sigma
        out = (_log_ei_helper(torch.as_tensor(z)) + torch.as_tensor(sigma).log()).numpy()
        return int(np.argmax(out)), out, fitted

    return step


def _trust_with(weight: Callable[[np.ndarray, np.ndarray], float], rank: bool = True) -> TrustRule:
    """:func:`metahp.bo.measured_trust` with another rank-correlation rule ``weight(prior_obs, y)``.

    ``rank=False`` drops the ranking trust (the target-only GP is still fitted, as when it
    was measured, so the steps see the same random streams).
    """

    def rule(features: np.ndarray, y: np.ndarray, good: np.ndarray, prior_obs: np.ndarray, *,
             own_state: dict | None, init_state: dict | None, optimize: bool,
             min_scale: float) -> tuple[float, object | None]:
        if good.sum() < 3:
            return 1.0, None
        w = weight(prior_obs[good], y[good])
        if w >= 1.0:
            return w, None
        with single_thread():
            own = fit_gp(features[good], y[good], init_state=None if optimize else own_state, optimize=optimize,
                         min_scale=min_scale)
            trust = ranking_trust(prior_obs[good], y[good], own, np.random.default_rng(len(y))) if rank else 0.0
        return max(w, trust), own

    return rule


def _pseudo_count_trust(variant: str) -> TrustRule:
    """The prior weight's variant ``c=<pseudo-count>`` or ``w=0`` (no rank correlation rule)."""
    if variant == "w=0":
        return _trust_with(lambda prior_mean, observed: 0.0)
    c = float(variant.split("=")[1])
    return _trust_with(lambda prior_mean, observed: prior_weight(prior_mean, observed, c))


def _replay(suite: Any, budget: int, seeds: int, n_tasks: int, strategy: Callable[[], PriorTransfer],
            prepare: Callable[[np.ndarray, Any, Any], None] | None = None) -> np.ndarray:
    """Mean regret curve (T = 1 .. budget) of metahp's pool-mode Study with ``strategy()`` as its transfer strategy.

    ``prepare(pool, fitted, target)``, when given, runs before each study's first trial (it
    fills ``_STATE`` for the variant's step; ``_STATE["strategy"]`` is the study's strategy);
    ``pool`` is the encoded pool and ``fitted`` the leave-one-task-out LightGBM fit.
    """
    from metahp.bench import PoolProblem, stream_seed
    from metahp.kb import KnowledgeBase
    from metahp.meta import fit_meta
    from metahp.study import Study

    kb = KnowledgeBase(suite.kb_path)
    tasks = suite.tasks[:: max(1, len(suite.tasks) // n_tasks)][:n_tasks]
    curves = []
    for target in tasks:
        fitted = fit_meta(kb, "lgbm", exclude=[target.name], space=suite.space)
        assert fitted.model is not None and fitted.index is not None
        for seed in range(seeds):
            problem = PoolProblem(target, min(budget, target.size))
            chosen = strategy()
            study = Study(suite.space, task=target.name, kb=kb, exclude=[target.name], candidates=problem.pool.frame,
                          seed=stream_seed(suite.name, target.name, seed) % 2**31, transfer=chosen)
            _STATE.clear()
            _STATE["strategy"] = chosen
            if prepare is not None:
                prepare(suite.space.encode_frame(problem.pool.frame), fitted, target)
            while problem.remaining > 0:
                trial = study.ask()
                if trial.candidate is None:
                    raise RuntimeError("a pool-mode Study returned a configuration outside its candidates")
                study.tell(trial, problem.evaluate(int(trial.candidate)))
            r = (target.y - target.y.min()) / (target.y.max() - target.y.min())
            curves.append(np.minimum.accumulate(r[problem.order]))
    length = max(len(c) for c in curves)
    return np.array([np.pad(c, (0, length - len(c)), mode="edge") for c in curves]).mean(axis=0)


def _source_scores(fitted: Any, unit: np.ndarray, sources: Any, recorded: bool = True) -> np.ndarray:
    """Source tasks' scores at the pool (``len(sources) x m``): recorded where they are, else predicted."""
    predicted = np.asarray(fitted.model.predict_tasks([fitted.source_meta_features(int(i)) for i in sources], unit)[0])
    if not recorded:
        return predicted
    seen = [fitted.tasks[int(i)].scores_at(unit) for i in sources]
    return np.array([np.where(np.isfinite(v), v, p) for v, p in zip(seen, predicted)])


def source_covariance(suite: Any, enabled: bool, budget: int, seeds: int, n_tasks: int,
                      neighbours: int, weight: str = "c=3") -> np.ndarray:
    """Mean regret curve (T = 1 .. budget) of metahp's pool-mode Study, with or without the source term.

    ``weight`` selects the prior weight's variant (see :func:`_pseudo_count_trust`).
    """

    def prepare(unit: np.ndarray, fitted: Any, target: Any) -> None:
        near, _ = fitted.index.nearest(target.meta_features, neighbours)
        _STATE.update(row=_pool_rows(unit), scores=_source_scores(fitted, unit, near))

    step: StepFunction = _source_covariance_propose(propose) if enabled else propose
    trust = _pseudo_count_trust(weight)
    return _replay(suite, budget, seeds, n_tasks, lambda: PriorTransfer(step=step, trust=trust),
                   prepare if enabled else None)


# ---------------------------------------------------------------------------------------------
# 4. agreement-weighted source prior, 5. GP amplitude floor


def _agreement_propose(original: StepFunction, k: int, ties: str = "order") -> StepFunction:
    """The BO step ``original`` whose prior mean is the mean of the ``k`` sources that rank the observations best.

    ``ties="order"`` breaks ties on Kendall's tau by ``_STATE["tie_order"]``; ``ties="pearson"``
    by the (continuous) Pearson correlation of the same scores with the observations, higher first.
    """
    from scipy.stats import kendalltau, pearsonr

    def step(space: Any, X: np.ndarray, values: np.ndarray, ok: np.ndarray, *, candidates: np.ndarray,
             prior_obs: Any = None, prior_cand: Any = None, **kwargs: Any) -> tuple[int, np.ndarray, Any]:
        good = np.asarray(ok, dtype=bool)
        if prior_obs is not None and prior_cand is not None and "surfaces" in _STATE and good.sum() >= 3:
            S = _STATE["surfaces"]
            obs, cand = _rows_of(X), _rows_of(candidates)
            y = copula(impute_broken(values, ok))[good]
            taus, linear = np.zeros(len(S)), np.zeros(len(S))
            for i, surface in enumerate(S):
                at = surface[obs[good]]
                if np.ptp(at) > 0 and np.ptp(y) > 0:
                    taus[i] = np.nan_to_num(float(kendalltau(at, y).statistic))
                    if ties == "pearson":
                        linear[i] = np.nan_to_num(float(pearsonr(at, y).statistic))
            second = -linear if ties == "pearson" else _STATE["tie_order"]
            top = np.lexsort((second, -np.round(taus, 12)))[:k]
            mix = S[top].mean(axis=0)
            mix = (mix - mix.mean()) / (mix.std() + 1e-12)
            prior_obs, prior_cand = mix[obs], mix[cand]
        return original(space, X, values, ok, candidates=candidates, prior_obs=prior_obs, prior_cand=prior_cand,
                        **kwargs)

    return step


def _hedged_propose(original: StepFunction, share: float) -> StepFunction:
    """The BO step ``original`` maximising ``(1 - share) EI_prior + share EI_cold``.

    ``EI_prior`` is the shipped step's expected improvement; ``EI_cold`` that of a GP fitted
    on the same observations without the prior (what cold GP-BO would do next). The
    mixture is the expected improvement under a model that trusts the prior with
    probability ``1 - share``.
    """

    def step(space: Any, X: np.ndarray, values: np.ndarray, ok: np.ndarray, *, candidates: np.ndarray,
             prior_obs: Any = None, prior_cand: Any = None, **kwargs: Any) -> tuple[int, np.ndarray, Any]:
        idx, scores, fitted = original(space, X, values, ok, candidates=candidates, prior_obs=prior_obs,
                                       prior_cand=prior_cand, **kwargs)
        if prior_obs is None or prior_cand is None:
            return idx, scores, fitted
        fmap = FeatureMap(space)
        with single_thread():
            cold = fit_gp(fmap(X), copula(impute_broken(values, ok)))
            cold_scores = log_ei(FittedGP(model=cold, best=fitted.best, weight=0.0), fmap(candidates))
        mixed = np.logaddexp(np.log1p(-share) + scores, np.log(share) + cold_scores)
        mixed = np.where(np.isfinite(mixed), mixed, -np.inf)
        return int(np.argmax(mixed)), mixed, fitted

    return step


def _rank_trust(features: np.ndarray, y: np.ndarray, good: np.ndarray, prior_obs: np.ndarray) -> float:
    """Share of a target-only GP's leave-one-out draws that mis-rank more observed pairs than the prior.

    :func:`metahp.bo.ranking_trust`, except that observations that all tie give 0.5 (every
    draw and the prior lose nothing, a tie) where the library returns 0; experiment 7 was
    measured this way.
    """
    if np.ptp(y[good]) == 0:
        return 0.5
    with single_thread():
        target = fit_gp(features[good], y[good])
    return ranking_trust(prior_obs[good], y[good], target, np.random.default_rng(len(y)))


def _loo_trust(features: np.ndarray, y: np.ndarray, good: np.ndarray, prior_obs: np.ndarray,
               init_state: Any, optimize: bool, ranked: bool) -> float:
    """The prior weight that minimises the GP's leave-one-out error (squared, or mis-ranked pairs).

    The kernel is the GP step's fit with the pseudo-count rule's weight; for that kernel the
    leave-one-out residuals are linear in ``w``: ``e(w) = D^-1 K^-1 (y - c - w p)``.
    """
    import torch

    from metahp.bo import misranked

    shipped = prior_weight(prior_obs[good], y[good])  # the rank-correlation rule alone
    with single_thread():
        model: Any = fit_gp(features, y - shipped * prior_obs, init_state=init_state, optimize=optimize)
    with torch.no_grad():
        x = model.train_inputs[0]
        cov = model.covar_module(x).to_dense() + torch.diag(model.likelihood.noise.reshape(-1).expand(x.shape[0]))
        inv = torch.linalg.inv(cov).numpy()
        scale = float(model.outcome_transform.stdvs.reshape(-1)[0])
        loc = float(model.outcome_transform.means.reshape(-1)[0])
        constant = float(model.mean_module.constant)
    ys, ps, diag = (y - loc) / scale, prior_obs / scale, np.diag(inv)
    a, b = ((inv @ (ys - constant)) / diag)[good], ((inv @ ps) / diag)[good]
    if not ranked:
        return float(np.clip(a @ b / max(float(b @ b), 1e-12), 0.0, 1.0))
    grid = np.linspace(0.0, 1.0, 5)
    losses = np.array([misranked((ys[good] - (a - w * b))[None, :], ys[good])[0] for w in grid])
    return float(grid[np.flatnonzero(losses == losses.min())].max())


def _measured_by(rule: str) -> TrustRule:
    """The prior weight measured by ``rule`` (``rank``, ``loo``, ``loo-rank``) instead of the shipped rule."""

    def trust(features: np.ndarray, y: np.ndarray, good: np.ndarray, prior_obs: np.ndarray, *,
              own_state: dict | None, init_state: dict | None, optimize: bool,
              min_scale: float) -> tuple[float, object | None]:
        if good.sum() < 3:
            return 1.0, None
        if rule == "rank":
            return _rank_trust(features, y, good, prior_obs), None
        return _loo_trust(features, y, good, prior_obs, init_state, optimize, ranked=rule == "loo-rank"), None

    return trust


def _gls(H: np.ndarray, inv_cov_H: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Generalised least squares coefficients of ``y`` on the columns of ``H``, given ``C^-1 H``."""
    return np.linalg.lstsq(H.T @ inv_cov_H, inv_cov_H.T @ y, rcond=None)[0]


def _source_bma_propose(original: StepFunction) -> StepFunction:
    """The BO step ``original`` maximising EI under a Bayesian model average over prior means.

    The models share the shipped step's fitted GP kernel (amplitude, lengthscales, noise)
    and differ in their mean: a constant (cold), ``a + b s(x)`` with ``s`` the meta-model's
    standardised mean, or ``a + b S_j(x)`` with ``S_j`` source task ``j``'s standardised
    recorded surface (``_STATE["surfaces"]``); ``a`` and ``b >= 0`` by generalised least
    squares. Each model's weight is its profile likelihood on the target's observations
    (BIC penalty per mean parameter) times a prior mass of 1/3 for the cold model, 1/3 for
    the meta-model and 1/3 shared by the sources; the step maximises the weighted sum of
    the models' expected improvements.
    """
    import torch
    from botorch.acquisition.analytic import _log_ei_helper

    def step(space: Any, X: np.ndarray, values: np.ndarray, ok: np.ndarray, *, candidates: np.ndarray,
             prior_obs: Any = None, prior_cand: Any = None, **kwargs: Any) -> tuple[int, np.ndarray, Any]:
        idx, scores, fitted = original(space, X, values, ok, candidates=candidates, prior_obs=prior_obs,
                                       prior_cand=prior_cand, **kwargs)
        if prior_obs is None or prior_cand is None or "surfaces" not in _STATE or np.sum(ok) < 3:
            return idx, scores, fitted
        S, obs, cand = _STATE["surfaces"], _rows_of(X), _rows_of(candidates)
        fmap = FeatureMap(space)
        gp: Any = fitted.model
        y = copula(impute_broken(values, ok))
        n = len(y)
        scale = float(gp.outcome_transform.stdvs.squeeze()) ** 2
        K, K_co, k_cc, noise = _kernel_blocks(gp, fmap(X), fmap(candidates))
        K, K_co, k_cc, noise = scale * K, scale * K_co, scale * k_cc, scale * noise
        chol = np.linalg.cholesky(K + (noise + 1e-8 * scale) * np.eye(n))

        def solve(b: np.ndarray) -> np.ndarray:
            return np.linalg.solve(chol.T, np.linalg.solve(chol, b))

        white = np.linalg.solve(chol, K_co.T)
        sigma = np.sqrt(np.clip(k_cc - (white**2).sum(axis=0), 1e-12, None))
        means = [(None, None, np.log(1 / 3)), (prior_obs, prior_cand, np.log(1 / 3))]
        means += [(S[j, obs], S[j, cand], np.log(1 / (3 * len(S)))) for j in range(len(S))]
        log_post, log_eis = [], []
        for at_obs, at_cand, log_mass in means:
            H = np.ones((n, 1)) if at_obs is None else np.column_stack([np.ones(n), at_obs])
            Hc = np.ones((len(cand), 1)) if at_cand is None else np.column_stack([np.ones(len(cand)), at_cand])
            beta = _gls(H, solve(H), y)
            if beta.size == 2 and beta[1] < 0:  # a source that ranks the target backwards: its mean is a constant
                H, Hc = H[:, :1], Hc[:, :1]
                beta = _gls(H, solve(H), y)
            alpha = solve(y - H @ beta)
            log_post.append(-0.5 * (y - H @ beta) @ alpha - 0.5 * np.log(n) * H.shape[1] + log_mass)
            z = (fitted.best - Hc @ beta - K_co @ alpha) / sigma
            log_eis.append((_log_ei_helper(torch.as_tensor(z)) + torch.as_tensor(sigma).log()).numpy())
        weights = np.array(log_post) - np.logaddexp.reduce(log_post)
        mixed = np.logaddexp.reduce(weights[:, None] + np.array(log_eis), axis=0)
        mixed = np.where(np.isfinite(mixed), mixed, -np.inf)
        return int(np.argmax(mixed)), mixed, fitted

    return step


def _variant(variant: str) -> Callable[[], PriorTransfer]:
    """A factory of the transfer strategy (one per study) of one variant.

    ``shipped``; ``top<k>-kb``, ``top<k>-near``, ``top<k>-pred``, ``top<k>-pearson`` (agreement
    prior; ``-pearson`` breaks Kendall ties by Pearson correlation); ``floor``; ``hedge`` (half
    the EI from a cold GP); ``bma`` (model average over prior means); ``tau``, ``rank``,
    ``loo``, ``loo-rank`` (experiment 7's measured trust).
    """
    step: StepFunction = propose
    trust: TrustRule | None = None
    floor = 0.0
    if variant.startswith("top"):
        k, _, ties = variant[3:].partition("-")
        step = _agreement_propose(propose, int(k), "pearson" if ties == "pearson" else "order")
    elif variant == "hedge":
        step = _hedged_propose(propose, 0.5)
    elif variant == "bma":
        step = _source_bma_propose(propose)
    elif variant in ("rank", "loo", "loo-rank"):
        trust = _measured_by(variant)
    elif variant == "tau":
        trust = _trust_with(prior_weight, rank=False)
    elif variant == "floor":
        # Every GP of the step standardises its outcome by max(std, 1) (BoTorch's Standardize(min_stdv=1)).
        floor = 1.0
    return lambda: PriorTransfer(step=step, trust=trust, min_scale=floor)


def variant_curve(suite: Any, variant: str, budget: int, seeds: int, n_tasks: int) -> np.ndarray:
    """Mean regret curve (T = 1 .. budget) of metahp's pool-mode Study under one variant of :func:`_variant`."""

    def prepare(unit: np.ndarray, fitted: Any, target: Any) -> None:
        every = np.arange(len(fitted.tasks))
        S = _source_scores(fitted, unit, every, recorded=not variant.endswith("-pred"))
        tie_order = every.astype(float)
        if variant.endswith("-near"):
            near, _ = fitted.index.nearest(target.meta_features, len(every))
            tie_order[near] = np.arange(len(every))
        _STATE.update(row=_pool_rows(unit),
                      surfaces=(S - S.mean(axis=1, keepdims=True)) / (S.std(axis=1, keepdims=True) + 1e-12),
                      tie_order=tie_order)

    uses_sources = variant.startswith(("top", "bma"))
    return _replay(suite, budget, seeds, n_tasks, _variant(variant), prepare if uses_sources else None)


def _svm_target() -> float:
    """Cold GP's mean regret at T = 50 on svm in the committed full run (the speed-up's target)."""
    import json

    report = json.loads((ROOT / "benchmarks" / "results" / "transfer_svm.json").read_text())
    return max(float(report["methods"]["gp"]["regret_curve"][49]), 0.0005)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--external",
                        default=os.environ.get("METAHP_EXTERNAL", str(ROOT.parent / "shared" / "external")))
    parser.add_argument("--neighbours", type=int, default=10)
    parser.add_argument("--experiments", default="trend,covariance,weight",
                        help="comma-separated subset of trend, covariance, weight, agreement, amplitude, hedges, "
                        "trust")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "transfer_ideas.md"))
    args = parser.parse_args()
    warnings.simplefilter("ignore")

    from metahp.bench import build_external_kb, load_suite

    started = time.perf_counter()
    folder = tempfile.mkdtemp(prefix="metahp-ideas-")
    os.environ.setdefault("METAHP_HOME", str(Path(folder) / "home"))
    suites = {name: load_suite(build_external_kb(folder, name, args.external), name)
              for name in ("steplaw-dense", "svm", "fcnet", "hpobench-mlp", "nmt")}
    chosen = set(args.experiments.split(","))
    header = "| suite | tasks × seeds | variant | T=1 | T=3 | T=5 | T=10 | T=15 | T=20 |"
    rule = "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"
    lines = [
        "# Changes aimed at the missed speed-ups, measured",
        "",
        "Made by `.venv/bin/python benchmarks/transfer_ideas.py --experiments "
        f"{args.experiments} --out {os.path.relpath(args.out, ROOT)}` (see its docstring for what each change is). "
        "Mean normalised regret; `metahp` is the Study (3-trial portfolio, then the GP with the meta-model prior)"
        + (" with the prior weight's pseudo-count c = 3, its value when these were measured. Changes 1 and 2 "
           "were not shipped; c = 1 (change 3) was, after this run." if chosen & {"trend", "covariance", "weight"}
           else ", as shipped."),
    ]
    if "trend" in chosen:
        lines += [
            "",
            "## 1. Trend-relative meta-model, zero-shot on steplaw-dense (17 tasks)",
            "",
            "Mean normalised regret of the best of the first k pool members by predicted mean.",
            "",
            "| meta-model inputs | k=1 | k=2 | k=3 |",
            "| --- | ---: | ---: | ---: |",
        ]
        for mode in ("absolute", "relative", "both"):
            R = trend_relative(suites["steplaw-dense"], mode)
            lines.append(f"| {mode} | " + " | ".join(f"{v:.4f}" for v in R.mean(axis=0)) + " |")
            print(f"[{time.perf_counter() - started:5.0f}s] trend-relative {mode}", file=sys.stderr)

    def study_rows(plan: dict[str, tuple[int, int]], variants: list[tuple[str, bool, str]]) -> None:
        lines.extend(["", header, rule])
        for name, (n_tasks, seeds) in plan.items():
            for label, enabled, weight in variants:
                curve = source_covariance(suites[name], enabled, 20, seeds, n_tasks, args.neighbours, weight)
                cells = " | ".join(f"{curve[T - 1]:.4f}" for T in (1, 3, 5, 10, 15, 20))
                n = min(n_tasks, len(suites[name].tasks))
                lines.append(f"| {name} | {n} × {seeds} | {label} | {cells} |")
                print(f"[{time.perf_counter() - started:5.0f}s] {name} {label}", file=sys.stderr)

    if "covariance" in chosen:
        lines += ["", f"## 2. Source covariance ({args.neighbours} nearest sources) in the warm-started BO step"]
        study_rows({"svm": (50, 3), "fcnet": (6, 2), "hpobench-mlp": (6, 2), "nmt": (6, 2), "steplaw-dense": (6, 2)},
                   [("metahp", False, "c=3"), ("source covariance", True, "c=3")])
    if "weight" in chosen:
        lines += ["", "## 3. How fast the prior fades: pseudo-count c of the prior weight"]
        study_rows({"svm": (50, 2), "fcnet": (50, 2), "hpobench-mlp": (50, 2), "nmt": (50, 2),
                    "steplaw-dense": (50, 2)},
                   [("metahp (c = 3)", False, "c=3"), ("c = 1", False, "c=1"),
                    ("w = 0 after the portfolio", False, "w=0")])
    if chosen & {"agreement", "amplitude", "hedges", "trust"}:
        target = _svm_target()
        baseline = ("Rows `tau` are the Study as it was before experiment 7 (the pseudo-count rule alone, c = 1), "
                    "rows `shipped` the Study as shipped now" if "trust" in chosen
                    else "Against the shipped Study (pseudo-count c = 1, the baseline rows `shipped`)")
        lines += ["", f"{baseline}; the last column is "
                  f"the first T <= 20 at which the mean reaches {target:.4f}, cold GP's mean regret at T = 50 in the "
                  "committed svm run (5 seeds), '-' where it does not."]
        header2 = header.replace("T=20 |", "T=20 | reaches |")
        rule2 = rule + " ---: |"

        def variant_rows(title: str, plan: dict[str, tuple[int, int]], variants: list[tuple[str, str]]) -> None:
            lines.extend(["", title, "", header2, rule2])
            for name, (n_tasks, seeds) in plan.items():
                for label, variant in variants:
                    curve = variant_curve(suites[name], variant, 20, seeds, n_tasks)
                    cells = " | ".join(f"{curve[T - 1]:.4f}" for T in (1, 3, 5, 10, 15, 20))
                    hit = np.flatnonzero(curve <= target) + 1 if name == "svm" else np.zeros(0, dtype=int)
                    reach = str(int(hit[0])) if hit.size else "-"
                    n = min(n_tasks, len(suites[name].tasks))
                    lines.append(f"| {name} | {n} × {seeds} | {label} | {cells} | {reach} |")
                    print(f"[{time.perf_counter() - started:5.0f}s] {name} {label}", file=sys.stderr)

        if "agreement" in chosen:
            variant_rows("## 4. Agreement-weighted source prior (TST-R style)",
                         {"svm": (50, 3)},
                         [("shipped", "shipped"), ("top 3, ties by kb order", "top3-kb"),
                          ("top 5, ties by kb order", "top5-kb"), ("top 3, ties by meta-feature distance", "top3-near"),
                          ("top 3, predicted surfaces", "top3-pred")])
            variant_rows("### The same, top 3 with ties by kb order, on the other suites",
                         {"fcnet": (50, 2), "hpobench-mlp": (50, 2), "nmt": (50, 2), "steplaw-dense": (50, 2)},
                         [("shipped", "shipped"), ("top 3, ties by kb order", "top3-kb")])
        if "amplitude" in chosen:
            variant_rows("## 5. GP amplitude floor", {"svm": (50, 3)}, [("shipped", "shipped"), ("floor", "floor")])
        if "hedges" in chosen:
            variant_rows("## 6. Hedging the prior: cold-GP EI, model average over sources, continuous tie-break",
                         {"svm": (50, 3)},
                         [("shipped", "shipped"), ("EI half from a cold GP", "hedge"),
                          ("model average over prior means", "bma"), ("top 3, ties by Pearson", "top3-pearson")])
            variant_rows("### The cold-GP EI hedge on the other suites",
                         {"fcnet": (50, 5), "hpobench-mlp": (50, 5), "nmt": (50, 5), "steplaw-dense": (50, 5)},
                         [("shipped", "shipped"), ("EI half from a cold GP", "hedge")])
        if "trust" in chosen:
            from metahp._paths import bundled_kb_dir
            from metahp.kb import KnowledgeBase

            bundled = Path(folder) / "bundled.duckdb"  # the knowledge base metahp ships, and only it
            with KnowledgeBase(bundled) as kb:
                kb.import_(bundled_kb_dir())
            for family in ("cls-scratch", "lm-arch", "lm-synthetic", "lm-text"):
                suites[family] = load_suite(bundled, family)
            variant_rows("## 7. Measured trust instead of the pseudo-count alone",
                         {name: (50, 5) for name in suites},
                         [("tau: pseudo-count rule alone (before)", "tau"),
                          ("shipped: the larger of tau and rank", "shipped"),
                          ("rank: prior against a target-only GP", "rank"),
                          ("loo: least leave-one-out squared error", "loo"),
                          ("loo-rank: fewest leave-one-out mis-ranked pairs", "loo-rank")])
    lines += ["", f"Whole run {time.perf_counter() - started:.0f} s on one process."]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
