"""The meta-model contract and the input features shared by every meta-model."""

from __future__ import annotations

import abc
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from metahp.errors import InvalidConfigError, MetaHPError
from metahp.meta._frame import TrainingFrame, encode_column
from metahp.space import SearchSpace

__all__ = ["MetaModel", "Features", "TaskMeta", "Configs"]

TaskMeta = Mapping[str, float]
Configs = Sequence[Mapping[str, Any]] | np.ndarray


class Features:
    """Turns (task meta-features, configuration) into the model's input vector.

    Meta-features that are constant or missing throughout the training frame are dropped.
    Positive meta-features spanning more than two orders of magnitude (sizes, token
    counts, FLOPs) enter as ``log10``. Configurations enter encoded with the target
    space; parameters no source trial records are dropped. Missing values stay NaN; each
    model decides how to treat them.

    Args:
        frame: The training frame to learn the transformation from.
    """

    def __init__(self, frame: TrainingFrame) -> None:
        self.space: SearchSpace = frame.space
        raw = frame.meta_matrix()
        names = frame.meta_names
        self.meta_names: list[str] = []
        self.meta_log: list[bool] = []
        for j, name in enumerate(names):
            col = raw[:, j]
            finite = col[np.isfinite(col)]
            if finite.size == 0 or np.ptp(finite) == 0:
                continue
            positive = bool(np.all(finite > 0))
            self.meta_names.append(name)
            self.meta_log.append(positive and float(finite.max() / finite.min()) > 100.0)
        configs = frame.encoded_configs()
        self.config_dims: list[int] = [j for j in range(self.space.dim) if np.isfinite(configs[:, j]).any()]

    @property
    def names(self) -> list[str]:
        """Input column names: meta-features, then configuration dimensions."""
        return [f"meta.{n}" for n in self.meta_names] + [self.space.names[j] for j in self.config_dims]

    @property
    def n_meta(self) -> int:
        """Number of meta-feature inputs."""
        return len(self.meta_names)

    def meta_vector(self, task_meta: TaskMeta) -> np.ndarray:
        """Transformed meta-features of one task (shape ``m``), NaN where missing."""
        if not isinstance(task_meta, Mapping):
            raise MetaHPError(f"task meta-features must be a mapping of name to number, got {type(task_meta).__name__}")
        out = np.full(len(self.meta_names), np.nan)
        for j, name in enumerate(self.meta_names):
            v = task_meta.get(name)
            try:
                x = float(v) if v is not None else math.nan
            except (TypeError, ValueError):
                x = math.nan
            out[j] = x
        return self._transform_meta(out[None, :])[0]

    def meta_rows(self, raw: np.ndarray, raw_names: Sequence[str]) -> np.ndarray:
        """Transform a raw meta-feature matrix (``n x len(raw_names)``) to ``n x m``."""
        pos = {n: i for i, n in enumerate(raw_names)}
        out = np.full((raw.shape[0], len(self.meta_names)), np.nan)
        for j, name in enumerate(self.meta_names):
            if name in pos:
                out[:, j] = raw[:, pos[name]]
        return self._transform_meta(out)

    def _transform_meta(self, m: np.ndarray) -> np.ndarray:
        m = np.array(m, dtype=float)
        for j, log in enumerate(self.meta_log):
            if log:
                with np.errstate(divide="ignore", invalid="ignore"):
                    col = m[:, j]
                    m[:, j] = np.where(col > 0, np.log10(np.where(col > 0, col, 1.0)), np.nan)
        return m

    def encode(self, configs: Configs) -> np.ndarray:
        """Configurations as an ``n x d`` array in the target space's unit cube.

        Args:
            configs: Mappings of parameter to value (missing parameters become NaN), or an
                already encoded ``n x d`` array.

        Raises:
            InvalidConfigError: An array of the wrong width.
        """
        if isinstance(configs, np.ndarray):
            arr = np.asarray(configs, dtype=float)
            if arr.ndim == 1:
                arr = arr[None, :]
            if arr.ndim != 2 or arr.shape[1] != self.space.dim:
                raise InvalidConfigError(
                    f"encoded configurations must be n x {self.space.dim} (the target space's dim), got {arr.shape}"
                )
            return arr
        rows = list(configs)
        out = np.full((len(rows), self.space.dim), np.nan)
        if rows:
            frame = pd.DataFrame([dict(r) for r in rows])
            for j, (name, param) in enumerate(self.space.items()):
                if name in frame.columns:
                    out[:, j] = encode_column(param, frame[name])
        return out

    def inputs(self, meta: np.ndarray, encoded: np.ndarray) -> np.ndarray:
        """Stack a transformed meta vector (``m``) or matrix (``n x m``) with encoded configs (``n x d``)."""
        cfg = encoded[:, self.config_dims]
        if meta.ndim == 1:
            meta = np.broadcast_to(meta, (cfg.shape[0], meta.shape[0]))
        return np.hstack([meta, cfg])

    def training_inputs(self, frame: TrainingFrame) -> np.ndarray:
        """The ``n x (m + d')`` input matrix of a training frame."""
        meta = self.meta_rows(frame.meta_matrix(), frame.meta_names)
        return self.inputs(meta, frame.encoded_configs())


class MetaModel(BaseEstimator, abc.ABC):  # type: ignore[misc]
    """A model of a task's normalised score as a function of its meta-features and a configuration.

    The contract (scikit-learn's): ``__init__`` only stores its keyword arguments;
    :meth:`fit` learns from a :class:`~metahp.meta.TrainingFrame` and returns ``self``;
    learned state ends in ``_``; :meth:`predict` returns the predictive mean and standard
    deviation of the per-task Gaussian-copula score (lower is better). ``fit`` must not
    mutate the frame. Models are deterministic given their ``seed``.
    """

    features_: Features

    @abc.abstractmethod
    def fit(self, frame: TrainingFrame) -> MetaModel:
        """Learn from a training frame and return ``self``."""

    @abc.abstractmethod
    def _predict_inputs(self, meta: np.ndarray, encoded: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and std (shape ``n``) for one transformed meta vector and ``n x d`` configs."""

    def predict(self, task_meta: TaskMeta, configs: Configs) -> tuple[np.ndarray, np.ndarray]:
        """Predict the normalised score of configurations on a task.

        Args:
            task_meta: The target task's meta-features (missing ones absent or NaN).
            configs: Configurations of the target space (mappings), or an encoded
                ``n x d`` array.

        Returns:
            ``(mean, std)``, each of shape ``n``; lower mean is better.

        Raises:
            MetaHPError: The model is not fitted.
        """
        self._check_fitted()
        encoded = self.features_.encode(configs)
        if encoded.shape[0] == 0:
            return np.zeros(0), np.zeros(0)
        return self._predict_inputs(self.features_.meta_vector(task_meta), encoded)

    def predict_tasks(self, task_metas: Sequence[TaskMeta], configs: Configs) -> tuple[np.ndarray, np.ndarray]:
        """Predict the same configurations for several tasks at once.

        Returns:
            ``(mean, std)``, each ``t x n`` for ``t`` tasks and ``n`` configurations.
        """
        self._check_fitted()
        encoded = self.features_.encode(configs)
        means, stds = [], []
        for tm in task_metas:
            m, s = self._predict_inputs(self.features_.meta_vector(tm), encoded)
            means.append(m)
            stds.append(s)
        n = encoded.shape[0]
        return (np.array(means).reshape(len(task_metas), n), np.array(stds).reshape(len(task_metas), n))

    def predict_each(self, task_metas: Sequence[TaskMeta], configs: Sequence[Configs]) -> np.ndarray:
        """Mean predictions for task ``i`` at its own configurations ``configs[i]`` (each of ``n``).

        Returns:
            ``t x n`` means for ``t`` tasks.
        """
        self._check_fitted()
        means = [self.predict(tm, c)[0] for tm, c in zip(task_metas, configs)]
        return np.array(means, dtype=float).reshape(len(task_metas), -1)

    def sample(self, task_meta: TaskMeta, configs: Configs, n_samples: int = 16, seed: int = 0) -> np.ndarray:
        """Draw scores of the configurations jointly (``n_samples x n``).

        The default draws independently from the predictive normal; models with a joint
        posterior (ensembles, GPs, neighbour tasks) override it, which is what lets a
        portfolio hedge between scenarios.
        """
        mean, std = self.predict(task_meta, configs)
        rng = np.random.default_rng(seed)
        return mean[None, :] + std[None, :] * rng.standard_normal((n_samples, mean.shape[0]))

    def predict_joint(self, task_meta: TaskMeta, configs: Configs, n_samples: int = 16,
                      seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`predict` and :meth:`sample` in one call (models may share the work).

        Returns:
            ``(mean, std, draws)`` with shapes ``n``, ``n`` and ``n_samples x n``.
        """
        mean, std = self.predict(task_meta, configs)
        return mean, std, self.sample(task_meta, configs, n_samples=n_samples, seed=seed)

    def _check_fitted(self) -> None:
        if not hasattr(self, "features_"):
            raise MetaHPError(f"{type(self).__name__} is not fitted; call fit(training_frame) first")

    @staticmethod
    def _check_frame(frame: TrainingFrame) -> None:
        if not isinstance(frame, TrainingFrame):
            raise MetaHPError(
                f"fit expects a metahp.meta.TrainingFrame (see metahp.meta.training_frame), got {type(frame).__name__}"
            )
        if len(frame) == 0:
            raise MetaHPError("the training frame has no trials; add trials to the knowledge base or relax exclude=")
