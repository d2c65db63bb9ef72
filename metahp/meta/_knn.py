"""Nearest-source-task meta-model (the auto-sklearn-style baseline)."""

from __future__ import annotations

import numpy as np

from metahp.meta._base import Configs, Features, MetaModel, TaskMeta
from metahp.meta._frame import TrainingFrame
from metahp.meta._neighbours import TaskIndex

__all__ = ["KNNMetaModel"]


class KNNMetaModel(MetaModel):
    """Predict from the trials of the source tasks nearest in meta-feature space.

    For a target task, the ``n_tasks`` nearest source tasks (standardised, NaN-aware
    meta-feature distance, see :class:`~metahp.meta.TaskIndex`) each predict a
    configuration's score as the inverse-distance average of their ``n_configs`` nearest
    recorded configurations (encoded space, NaN-aware). The mean weights the tasks by
    inverse meta-distance; the std is the tasks' weighted disagreement plus ``noise``.

    Args:
        n_tasks: Source tasks consulted.
        n_configs: Recorded configurations averaged within each source task.
        max_trials_per_task: Trials kept per source task (a seeded subsample beyond it).
        noise: Standard-deviation floor.
        seed: Seed of the subsample.
    """

    def __init__(
        self,
        n_tasks: int = 5,
        n_configs: int = 3,
        max_trials_per_task: int = 5000,
        noise: float = 0.05,
        seed: int = 0,
    ) -> None:
        self.n_tasks = n_tasks
        self.n_configs = n_configs
        self.max_trials_per_task = max_trials_per_task
        self.noise = noise
        self.seed = seed

    def fit(self, frame: TrainingFrame) -> KNNMetaModel:
        """Index the source tasks and their trials; return ``self``."""
        self._check_frame(frame)
        features = Features(frame)
        encoded = frame.encoded_configs()[:, features.config_dims]
        meta = features.meta_rows(frame.meta_matrix(), frame.meta_names)
        scores = frame.data["score"].to_numpy(dtype=float)
        tasks = [str(t) for t in np.unique(frame.data["task"].to_numpy().astype(str))]
        task_col = frame.data["task"].to_numpy().astype(str)
        rng = np.random.default_rng(self.seed)
        configs, task_scores, task_meta = [], [], []
        for name in tasks:
            idx = np.flatnonzero(task_col == name)
            if idx.size > self.max_trials_per_task:
                idx = np.sort(rng.choice(idx, size=self.max_trials_per_task, replace=False))
            configs.append(encoded[idx])
            task_scores.append(scores[idx])
            task_meta.append(meta[idx[0]])
        self.features_ = features
        self.index_ = TaskIndex(features, tasks, np.array(task_meta).reshape(len(tasks), features.n_meta))
        self.configs_ = configs
        self.scores_ = task_scores
        return self

    def _task_predictions(self, meta: np.ndarray, encoded: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-neighbour predictions (``k x n``) and normalised weights (``k``)."""
        d_all = self.index_.distances_from((meta - self.index_.center) / self.index_.scale)
        names = np.array(self.index_.names)
        order = np.lexsort((names, d_all))[: max(1, int(self.n_tasks))]
        d = d_all[order]
        finite = np.isfinite(d)
        weights = np.where(finite, 1.0 / (np.where(finite, d, 0.0) + 0.1), 1.0) if finite.any() else np.ones(d.size)
        if finite.any():
            weights = np.where(finite, weights, 0.0)
        weights = weights / weights.sum()
        x = encoded[:, self.features_.config_dims]
        preds = np.empty((order.size, x.shape[0]))
        for r, t in enumerate(order):
            preds[r] = self._within_task(x, self.configs_[t], self.scores_[t])
        return preds, weights

    def _within_task(self, x: np.ndarray, configs: np.ndarray, scores: np.ndarray) -> np.ndarray:
        if x.shape[1] == 0:
            return np.full(x.shape[0], float(np.min(scores)))
        dist = _nan_distances(x, configs)
        k = min(max(1, int(self.n_configs)), configs.shape[0])
        near = np.argpartition(dist, k - 1, axis=1)[:, :k]
        nd = np.take_along_axis(dist, near, axis=1)
        w = 1.0 / (np.where(np.isfinite(nd), nd, 1e6) + 1e-3)
        return (w * scores[near]).sum(axis=1) / w.sum(axis=1)

    def _predict_inputs(self, meta: np.ndarray, encoded: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        preds, weights = self._task_predictions(meta, encoded)
        mean = weights @ preds
        var = weights @ (preds - mean[None, :]) ** 2
        return mean, np.sqrt(var) + self.noise

    def sample(self, task_meta: TaskMeta, configs: Configs, n_samples: int = 16, seed: int = 0) -> np.ndarray:
        """Each near source task is one joint scenario, drawn in proportion to its weight."""
        self._check_fitted()
        encoded = self.features_.encode(configs)
        preds, weights = self._task_predictions(self.features_.meta_vector(task_meta), encoded)
        pick = np.random.default_rng(seed).choice(preds.shape[0], size=n_samples, p=weights)
        return preds[pick]


def _nan_distances(a: np.ndarray, b: np.ndarray, block: int = 128) -> np.ndarray:
    """RMS distance over the coordinates both rows have (``len(a) x len(b)``); ``inf`` if none."""
    if np.isfinite(a).all() and np.isfinite(b).all():
        from scipy.spatial.distance import cdist

        return np.asarray(cdist(a, b), dtype=float) / np.sqrt(a.shape[1])
    out = np.empty((a.shape[0], b.shape[0]))
    for start in range(0, a.shape[0], block):
        diff = a[start:start + block, None, :] - b[None, :, :]
        both = np.isfinite(diff)
        count = both.sum(axis=2)
        with np.errstate(invalid="ignore", divide="ignore"):
            d = np.sqrt((np.where(both, diff, 0.0) ** 2).sum(axis=2) / count)
        out[start:start + block] = np.where(count > 0, d, np.inf)
    return out
