"""How the optimum moves with scale: a power-law fit of source optima on model, data and compute size.

Across a family of training runs the best learning rate and batch size are close to power
laws of model size and token budget (Kaplan et al. 2020; Li et al. 2025, "Step Law"). A tree
meta-model cannot extrapolate such a law, and a nearest-neighbour answer does not follow it
between the neighbours. :class:`ScaleTrend` fits, per numeric parameter, a ridge regression
of the source tasks' optimum (on the parameter's own scale: ``log10`` for log parameters) on
the ``log10`` of the scale meta-features the *target* gives, and keeps it only where
leave-one-task-out cross-validation says it predicts. With only ``model_params_nonembedding``
and ``budget_tokens`` known, the trend is a function of those two alone.

Each source's optimum is the mean of its best few configurations on that scale, not its single
best: the best point of a sweep is noisy where the loss surface is flat, and the mean of the top
three is a steadier estimate of where the basin lies (measured in
``benchmarks/real_questions.py``).

The prediction's standard deviation is the leave-one-out error widened by the target's leverage,
so it grows as the target moves beyond the sources; :meth:`ScaleTrend.coverage` says, in words,
how far beyond.

Example:
    >>> rng = np.random.default_rng(0)
    >>> n = 10 ** rng.uniform(7, 9, 12)
    >>> d = 10 ** rng.uniform(9, 11, 12)
    >>> optimum = {"learning_rate": np.log10(1.8 * n**-0.7 * d**0.3)}
    >>> trend = ScaleTrend.fit({"model_params": n, "budget_tokens": d}, optimum,
    ...                        target={"model_params": 1e10, "budget_tokens": 1e12})
    >>> value, std = trend.predict({"model_params": 1e10, "budget_tokens": 1e12})["learning_rate"]
    >>> round(10**value / (1.8 * 1e10**-0.7 * 1e12**0.3), 3), trend.coverage({"model_params": 1e10})[0][:3]
    (1.0, '10B')
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from metahp.vocabulary import SCALE_FEATURES

__all__ = ["ScaleTrend", "CrossScaleModel", "FEATURE_WORDS", "short_count"]

_ALPHAS = (1e-6, 0.01, 0.1, 1.0, 10.0)

#: How a scale meta-feature is said in a warning.
FEATURE_WORDS: dict[str, str] = {
    "model_params_nonembedding": "parameters",
    "model_params": "parameters",
    "model_params_active": "active parameters",
    "budget_tokens": "tokens",
    "budget_flops": "FLOPs",
    "budget_tokens_per_param": "tokens per parameter",
    "budget_steps": "steps",
    "data_tokens": "data tokens",
    "data_documents": "documents",
    "model_seq_len": "tokens of context",
}


def short_count(x: float) -> str:
    """``1.2e10`` -> ``'12B'``; ``3.5e8`` -> ``'350M'``; ``2e3`` -> ``'2K'``."""
    for factor, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if abs(x) >= factor:
            return f"{x / factor:.3g}{suffix}"
    return f"{x:.3g}"


@dataclass
class _Fit:
    coef: np.ndarray  # on standardised log features, intercept first
    r2: float
    rmse: float
    inv: np.ndarray  # (A^T A + penalty)^-1, for the leverage of a new point


@dataclass
class ScaleTrend:
    """Per-parameter power laws of the source optima in the scale meta-features.

    Build one with :meth:`fit`. Attributes:
        features: Scale meta-features the trend uses (``log10``).
        center: Mean of the sources' ``log10`` features.
        scale: Their standard deviation.
        low: Smallest source value of each feature (raw).
        high: Largest source value of each feature (raw).
        n_tasks: Source tasks the trend was fitted on.
        fits: Parameter -> its fit, only for parameters whose trend is kept.
        r2: Parameter -> leave-one-task-out R^2 (also for parameters not kept).
        prior: Parameter -> feature -> the exponent the fit is shrunk towards (0 where not given).
    """

    features: list[str]
    center: np.ndarray
    scale: np.ndarray
    low: np.ndarray
    high: np.ndarray
    n_tasks: int
    fits: dict[str, _Fit] = field(default_factory=dict)
    r2: dict[str, float] = field(default_factory=dict)
    prior: dict[str, dict[str, float]] = field(default_factory=dict)

    @classmethod
    def fit(
        cls,
        meta: Mapping[str, Sequence[float] | np.ndarray],
        optimum: Mapping[str, Sequence[float] | np.ndarray],
        *,
        target: Mapping[str, float],
        min_tasks: int = 8,
        min_r2: float = 0.5,
        prior: Mapping[str, Mapping[str, float]] | None = None,
    ) -> ScaleTrend:
        """Fit the trend of each parameter's optimum on the scale features the target gives.

        Args:
            meta: Scale meta-feature -> raw value per source task (length ``t``; NaN = unknown).
            optimum: Parameter -> the source tasks' optimum on its own scale (length ``t``; NaN = unknown).
            target: The target's meta-features; only scale features it gives, every source knows
                and that vary across the sources are used.
            min_tasks: Fewest source tasks a parameter's trend needs.
            min_r2: Leave-one-task-out R^2 a parameter's trend needs to be kept.
            prior: Parameter -> feature -> a published exponent (e.g. Step Law's lr ~ N^-0.713
                D^0.307): the ridge shrinks the exponents towards it instead of towards zero, by
                as much as leave-one-task-out error says (few sources over a narrow range of sizes
                pin an exponent down badly; many pull it to what they show).
        """
        columns = {name: np.asarray(values, dtype=float) for name, values in meta.items()}
        t = len(next(iter(columns.values()))) if columns else 0
        features: list[str] = []
        for name in SCALE_FEATURES:
            value = target.get(name)
            if name not in columns or value is None or not (math.isfinite(value) and value > 0):
                continue
            col = columns[name]
            ok = np.isfinite(col) & (col > 0)
            if ok.sum() < min_tasks or np.ptp(np.log10(col[ok])) < 1e-6:
                continue
            features.append(name)
        if features:
            logs = np.column_stack([np.log10(np.where(columns[f] > 0, columns[f], np.nan)) for f in features])
            rows = np.isfinite(logs).all(axis=1)
        else:
            logs, rows = np.zeros((t, 0)), np.zeros(t, dtype=bool)
        X = logs[rows]
        center = X.mean(axis=0) if len(X) else np.zeros(len(features))
        scale = X.std(axis=0) if len(X) else np.ones(len(features))
        scale = np.where(scale > 0, scale, 1.0)
        raw = 10 ** X if len(X) else X
        trend = cls(features=features, center=center, scale=scale,
                    low=raw.min(axis=0) if len(X) else np.zeros(len(features)),
                    high=raw.max(axis=0) if len(X) else np.zeros(len(features)), n_tasks=int(rows.sum()))
        if not features:
            return trend
        Z = (X - center) / scale
        for param, values in optimum.items():
            y_all = np.asarray(values, dtype=float)[rows]
            known = np.isfinite(y_all)
            y = y_all[known]
            if known.sum() < min_tasks or np.ptp(y) == 0:
                continue
            slopes = np.array([float((prior or {}).get(param, {}).get(f, 0.0)) for f in features])
            if slopes.any():
                trend.prior[param] = {f: float(v) for f, v in zip(features, slopes) if v}
            offset = X[known] @ slopes  # the prior's part, fixed; the ridge fits what is left
            sst = float(((y - y.mean()) ** 2).sum())
            best: tuple[float, _Fit] | None = None
            for alpha in _ALPHAS:
                fit = _ridge(Z[known], y - offset, alpha, sst=sst)
                if best is None or fit.r2 > best[0]:
                    best = (fit.r2, fit)
            assert best is not None
            trend.r2[param] = best[0]
            if best[0] >= min_r2:
                trend.fits[param] = best[1]
        return trend

    @property
    def active(self) -> bool:
        """Whether any parameter has a trend."""
        return bool(self.fits)

    def predict(self, target: Mapping[str, float]) -> dict[str, tuple[float, float]]:
        """Parameter -> (predicted optimum on its own scale, its standard deviation) for the target."""
        z = self._z(target)
        logs = z * self.scale + self.center
        a = np.concatenate([[1.0], z])
        out: dict[str, tuple[float, float]] = {}
        for param, fit in self.fits.items():
            leverage = float(a @ fit.inv @ a)
            base = sum(self.prior.get(param, {}).get(f, 0.0) * x for f, x in zip(self.features, logs))
            out[param] = (float(a @ fit.coef + base), fit.rmse * math.sqrt(1.0 + max(leverage, 0.0)))
        return out

    def slopes(self) -> dict[str, dict[str, float]]:
        """Parameter -> feature -> exponent of the power law (d log10 optimum / d log10 feature)."""
        return {param: {f: float(c / s) + self.prior.get(param, {}).get(f, 0.0)
                        for f, c, s in zip(self.features, fit.coef[1:], self.scale)}
                for param, fit in self.fits.items()}

    def coverage(self, target: Mapping[str, float], factor: float = 1.5) -> list[str]:
        """Sentences for each scale feature of the target beyond the sources' range by more than ``factor``."""
        out = []
        for f, lo, hi in zip(self.features, self.low, self.high):
            value = target.get(f)
            if value is None or not math.isfinite(value) or value <= 0:
                continue
            word = FEATURE_WORDS.get(f, f)
            if value > hi * factor:
                out.append(f"{short_count(value)} {word} is {value / hi:.3g}x the largest related source "
                           f"({short_count(hi)})")
            elif value < lo / factor:
                out.append(f"{short_count(value)} {word} is {lo / value:.3g}x below the smallest related source "
                           f"({short_count(lo)})")
        return out

    def _z(self, target: Mapping[str, float]) -> np.ndarray:
        values = np.array([math.log10(float(target[f])) for f in self.features])
        return (values - self.center) / self.scale


def _ridge(Z: np.ndarray, y: np.ndarray, alpha: float, sst: float | None = None) -> _Fit:
    """Ridge fit (intercept not shrunk) with its leave-one-out R^2 and RMSE, in closed form.

    ``sst``: the total sum of squares the R^2 is relative to (default: ``y``'s own).
    """
    A = np.column_stack([np.ones(len(Z)), Z])
    penalty = alpha * np.eye(A.shape[1])
    penalty[0, 0] = 0.0
    inv = np.linalg.pinv(A.T @ A + penalty)
    coef = inv @ A.T @ y
    hat = ((A @ inv) * A).sum(axis=1)
    resid = (y - A @ coef) / np.clip(1.0 - hat, 1e-9, None)
    sst = float(((y - y.mean()) ** 2).sum()) if sst is None else sst
    press = float((resid**2).sum())
    r2 = 1.0 - press / sst if sst > 0 else -math.inf
    return _Fit(coef=coef, r2=r2, rmse=math.sqrt(press / len(y)), inv=inv)


class CrossScaleModel:
    """The raw objective as a function of scale and configuration, across tasks of one trial each.

    Where nearly every (model, tokens) pair holds one run (scan-bench draws shape, budget and
    hyperparameters together), per-task normalisation sees one value per task and learns
    nothing; the objective itself is comparable across the family's tasks (one data set, one
    loss), so a regressor on ``log10`` scale features and the configuration learns both the
    scaling of the loss and the configuration's effect at each scale. Gradient-boosted trees
    (LightGBM), as the meta-models.

    Args:
        n_estimators: Boosting rounds.
        learning_rate: Boosting learning rate.
        min_child_samples: Fewest runs per leaf.
        seed: Random seed.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> n, lr = 10 ** rng.uniform(7, 9, 400), 10 ** rng.uniform(-4, -2, 400)
        >>> loss = 10 * n**-0.1 + (np.log10(lr) + 3) ** 2 + 0.01 * rng.standard_normal(400)
        >>> model = CrossScaleModel().fit({"model_params": n}, {"learning_rate": np.log10(lr)}, loss)
        >>> good, bad = model.predict({"model_params": [1e8, 1e8]}, {"learning_rate": [-3.0, -2.0]})
        >>> bool(good < bad)
        True
    """

    def __init__(self, n_estimators: int = 400, learning_rate: float = 0.03, min_child_samples: int = 10,
                 seed: int = 0) -> None:
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.min_child_samples = min_child_samples
        self.seed = seed

    def fit(self, meta: Mapping[str, Sequence[float] | np.ndarray], config: Mapping[str, Sequence[float] | np.ndarray],
            objective: Sequence[float] | np.ndarray) -> CrossScaleModel:
        """Fit on runs: raw scale meta-features, configurations on each parameter's scale, objectives.

        Returns:
            ``self``.
        """
        import lightgbm as lgb

        self.meta_names_ = list(meta)
        self.config_names_ = list(config)
        X = self._matrix(meta, config)
        y = np.asarray(objective, dtype=float)
        keep = np.isfinite(y)
        self.model_ = lgb.LGBMRegressor(n_estimators=self.n_estimators, learning_rate=self.learning_rate,
                                        min_child_samples=self.min_child_samples, random_state=self.seed,
                                        n_jobs=1, verbose=-1)
        self.model_.fit(X[keep], y[keep])
        return self

    def predict(self, meta: Mapping[str, Sequence[float] | np.ndarray],
                config: Mapping[str, Sequence[float] | np.ndarray]) -> np.ndarray:
        """Predicted objective of each run (``n``)."""
        return np.asarray(self.model_.predict(self._matrix(meta, config)), dtype=float)

    def _matrix(self, meta: Mapping[str, Sequence[float] | np.ndarray],
                config: Mapping[str, Sequence[float] | np.ndarray]) -> np.ndarray:
        cols = []
        for name in self.meta_names_:
            x = np.asarray(meta[name], dtype=float)
            with np.errstate(divide="ignore", invalid="ignore"):
                cols.append(np.where(x > 0, np.log10(np.where(x > 0, x, 1.0)), np.nan))
        cols.extend(np.asarray(config[name], dtype=float) for name in self.config_names_)
        return np.column_stack(cols)
