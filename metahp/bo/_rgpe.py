"""RGPE: a ranking-weighted ensemble of source-task GPs and the target's own GP.

The alternative to the meta-model prior (Feurer, Letham, Hutter & Bakshy, "Practical
transfer learning for Bayesian optimization", 2018). Each source task of the knowledge base
gets its own GP on its recorded (normalised) scores; the target gets a GP on its own trials.
Their posteriors are combined as ``mean = sum_i w_i mean_i`` and ``var = sum_i w_i^2 var_i``.

The weights are measured on the target's trials: ``S`` posterior draws of every source
model at the target's points (and leave-one-out draws of the target model) are scored by
the number of mis-ranked pairs of target observations; ``w_i`` is the share of draws in
which model ``i`` has the fewest. A source whose median loss exceeds the 95th percentile of
the target model's is dropped (weight dilution). With few target trials the sources share
the weight; as trials come in, a source that ranks them wrongly loses its weight, so a
knowledge base that does not apply ends up ignored, as with the prior's trust weight.

Source GPs are fitted once per source (at most ``max_source_points`` of its trials, a seeded
random subsample) and cached per process, so leave-one-task-out replays and long studies
fit each source once.
"""

from __future__ import annotations

import hashlib
import threading
import warnings
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from metahp.bo._encoding import FeatureMap
from metahp.bo._gp import fit_gp, impute_broken, refit_due, single_thread
from metahp.bo._prior import copula
from metahp.bo._ranking import loo_draws, misranked
from metahp.space import SearchSpace

__all__ = ["SourceData", "RGPE", "ranking_weights"]

_CACHE: OrderedDict[str, object] = OrderedDict()
_CACHE_SLOTS = 512
_LOCK = threading.Lock()


@dataclass(frozen=True)
class SourceData:
    """One source task's recorded trials in the target space.

    Attributes:
        name: Task name.
        X: ``n x d`` unit-cube points (NaN where the source does not record a parameter).
        y: ``n`` normalised scores, lower is better.
    """

    name: str
    X: np.ndarray
    y: np.ndarray


def ranking_weights(source_draws: Sequence[np.ndarray], target_draws: np.ndarray | None, y: np.ndarray,
                    rng: np.random.Generator) -> np.ndarray:
    """RGPE weights from posterior draws at the target's points.

    Args:
        source_draws: One ``S x n`` array per source model.
        target_draws: ``S x n`` leave-one-out draws of the target model (``None`` before it exists).
        y: ``n`` target observations (lower is better).
        rng: Breaks ties between models at random.

    Returns:
        ``len(source_draws) + 1`` weights summing to 1 (the target's last).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> y = np.array([0.0, 1.0, 2.0])
        >>> good, bad = np.tile(y, (8, 1)), np.tile(-y, (8, 1))
        >>> ranking_weights([good, bad], None, y, rng).round(2).tolist()
        [1.0, 0.0, 0.0]
    """
    n_models = len(source_draws) + 1
    if y.shape[0] < 2:
        weights = np.zeros(n_models)
        weights[: max(1, n_models - 1)] = 1.0
        return weights / weights.sum()
    losses = [misranked(d, y) for d in source_draws]
    s = losses[0].shape[0] if losses else (target_draws.shape[0] if target_draws is not None else 1)
    target_loss = misranked(target_draws, y) if target_draws is not None else np.full(s, np.iinfo(np.int64).max)
    table = np.vstack([*losses, target_loss]).astype(float)  # models x S
    if target_draws is not None:
        cutoff = np.percentile(target_loss, 95)
        for i in range(len(losses)):
            if np.median(losses[i]) > cutoff:
                table[i] = np.inf  # weight dilution: a source worse than the target model is dropped
    best = table.min(axis=0)
    counts = np.zeros(n_models)
    for j in range(table.shape[1]):
        tied = np.flatnonzero(table[:, j] == best[j])
        counts[tied[int(rng.integers(tied.size))]] += 1
    return counts / counts.sum()


class RGPE:
    """The RGPE ensemble over a fixed set of source tasks, refitted on the target's trials per step.

    Args:
        space: The target search space.
        sources: The source tasks' data.
        seed: Seed of the subsampling, the draws and the tie-breaking.
        n_samples: Posterior draws per model for the ranking losses.
        max_source_points: Source trials used per source GP (a seeded random subsample).
    """

    def __init__(self, space: SearchSpace, sources: Sequence[SourceData], seed: int = 0, n_samples: int = 128,
                 max_source_points: int = 200) -> None:
        self.space = space
        self.fmap = FeatureMap(space)
        self.seed = int(seed)
        self.n_samples = int(n_samples)
        self.max_source_points = int(max_source_points)
        self.sources = [s for s in sources if s.y.size >= 2]
        self._models: list[object] | None = None
        self._target_state: dict | None = None
        self._target_fitted_at: int | None = None
        self._cand_cache: tuple[bytes, np.ndarray, np.ndarray] | None = None
        self.weights: np.ndarray | None = None

    # -- source models -----------------------------------------------------------------------
    def _source_models(self) -> list[object]:
        if self._models is None:
            self._models = [self._fit_source(s) for s in self.sources]
        return self._models

    def _fit_source(self, source: SourceData) -> object:
        X = np.where(np.isfinite(source.X), source.X, 0.5)
        y = np.asarray(source.y, dtype=float)
        key = hashlib.sha256(b"".join([repr(self.space.to_dict()).encode(), X.tobytes(), y.tobytes(),
                                       str(self.max_source_points).encode()])).hexdigest()
        with _LOCK:
            if key in _CACHE:
                _CACHE.move_to_end(key)
                return _CACHE[key]
        if len(y) > self.max_source_points:
            keep = np.sort(np.random.default_rng(len(y)).choice(len(y), self.max_source_points, replace=False))
            X, y = X[keep], y[keep]
        finite = np.isfinite(y)
        with single_thread():
            model = fit_gp(self.fmap(X), copula(impute_broken(y, finite)))
        with _LOCK:
            _CACHE[key] = model
            while len(_CACHE) > _CACHE_SLOTS:
                _CACHE.popitem(last=False)
        return model

    # -- the ensemble ------------------------------------------------------------------------
    def fit(self, X: np.ndarray, values: np.ndarray, ok: np.ndarray, step: int = 0) -> np.ndarray:
        """Fit the target GP on its trials and measure the weights (returned; also ``self.weights``).

        Args:
            X: ``n x d`` unit-cube points of the finished trials.
            values: ``n`` minimised values (anything where ``ok`` is False).
            ok: ``n`` mask of usable values; the others are imputed as bad.
            step: Step number (varies the random draws between steps).
        """
        import torch

        rng = np.random.default_rng([self.seed, int(step)])
        y = copula(impute_broken(values, ok))
        feats = self.fmap(X)
        models = self._source_models()
        source_draws = []
        with single_thread(), torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            xt = torch.as_tensor(feats, dtype=torch.float64)
            for model in models:
                post = model.posterior(xt)  # type: ignore[attr-defined]
                mean = post.mean.reshape(-1).numpy()
                cov = post.covariance_matrix.reshape(len(y), len(y)).numpy()
                chol = np.linalg.cholesky(cov + 1e-9 * np.eye(len(y)) * max(1.0, float(np.trace(cov)) / len(y)))
                source_draws.append(mean[None, :] + rng.standard_normal((self.n_samples, len(y))) @ chol.T)
        target = None
        target_draws = None
        if len(y) >= 3:
            optimize = self._target_state is None or refit_due(len(y), self._target_fitted_at)
            with single_thread():
                target = fit_gp(feats, y, init_state=self._target_state, optimize=optimize)
            self._target_state = target.state_dict()  # type: ignore[attr-defined]
            if optimize:
                self._target_fitted_at = len(y)
            target_draws = loo_draws(target, self.n_samples, rng)
        self.weights = ranking_weights(source_draws, target_draws, y, rng)
        self._target = target
        self._best = float(y[np.asarray(ok, dtype=bool)].min()) if np.any(ok) else float(y.min())
        return self.weights

    def _predict(self, model: object, feats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        import torch

        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            post = model.posterior(torch.as_tensor(feats, dtype=torch.float64))  # type: ignore[attr-defined]
            return post.mean.reshape(-1).numpy(), post.variance.reshape(-1).clamp_min(1e-12).numpy()

    def log_ei(self, candidates: np.ndarray) -> np.ndarray:
        """Log expected improvement of the ensemble below the best target observation (``m``).

        Source predictions at a repeated candidate set (a pool) are computed once.
        """
        import torch
        from botorch.acquisition.analytic import _log_ei_helper

        assert self.weights is not None, "call fit() first"
        feats = self.fmap(candidates)
        key = hashlib.sha256(feats.tobytes()).digest()
        models = self._source_models()
        if self._cand_cache is None or self._cand_cache[0] != key:
            with single_thread():
                preds = [self._predict(m, feats) for m in models]
            means = np.array([p[0] for p in preds]).reshape(len(models), -1)
            variances = np.array([p[1] for p in preds]).reshape(len(models), -1)
            self._cand_cache = (key, means, variances)
        _, means, variances = self._cand_cache
        w = self.weights
        mean = w[:-1] @ means if len(models) else np.zeros(len(feats))
        var = (w[:-1] ** 2) @ variances if len(models) else np.zeros(len(feats))
        if w[-1] > 0 and self._target is not None:
            with single_thread():
                tm, tv = self._predict(self._target, feats)
            mean = mean + w[-1] * tm
            var = var + w[-1] ** 2 * tv
        sd = np.sqrt(np.maximum(var, 1e-12))
        u = torch.as_tensor((self._best - mean) / sd, dtype=torch.float64)
        return (_log_ei_helper(u).numpy() + np.log(sd)).astype(float)
