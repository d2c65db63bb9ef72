"""Distances between tasks by their meta-features (standardised, NaN-aware)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from metahp.meta._base import Features, TaskMeta

__all__ = ["TaskIndex"]


def masked_rms(diff: np.ndarray) -> np.ndarray:
    """Root-mean-square of each row of ``diff`` (``t x m``) over its finite entries; inf for a row with none."""
    both = np.isfinite(diff)
    count = both.sum(axis=1)
    sq = np.where(both, diff, 0.0) ** 2
    with np.errstate(invalid="ignore", divide="ignore"):
        d = np.sqrt(sq.sum(axis=1) / count)
    return np.where(count > 0, d, np.inf)


class TaskIndex:
    """Source tasks placed in a standardised meta-feature space.

    Each meta-feature is transformed as the models see it (``log10`` for heavy-tailed
    positive ones) and standardised over the source tasks. The distance between two tasks
    is the root mean squared difference over the meta-features *both* have, so a missing
    meta-feature neither helps nor hurts. Tasks sharing no meta-feature are at distance
    ``inf``.

    Args:
        features: The fitted input transformation.
        names: Source task names (length ``t``).
        meta: Transformed meta-features of the source tasks (``t x m``).
    """

    def __init__(self, features: Features, names: Sequence[str], meta: np.ndarray) -> None:
        self.features = features
        self.names = list(names)
        with np.errstate(invalid="ignore"):
            self.center = np.nanmean(meta, axis=0) if meta.size else np.zeros(meta.shape[1])
            scale = np.nanstd(meta, axis=0) if meta.size else np.ones(meta.shape[1])
        self.center = np.nan_to_num(self.center)
        self.scale = np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)
        self.meta = (meta - self.center) / self.scale

    def standardise(self, task_meta: TaskMeta) -> np.ndarray:
        """The target's standardised meta vector (shape ``m``)."""
        return (self.features.meta_vector(task_meta) - self.center) / self.scale

    def distances(self, task_meta: TaskMeta) -> np.ndarray:
        """Distance from the target to every source task (shape ``t``)."""
        return self.distances_from(self.standardise(task_meta))

    def distances_from(self, z: np.ndarray) -> np.ndarray:
        """Distances from a standardised meta vector to every source task (shape ``t``)."""
        if self.meta.shape[1] == 0:
            return np.full(len(self.names), np.inf)
        return masked_rms(self.meta - z[None, :])

    def nearest(self, task_meta: TaskMeta, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Indices and distances of the ``k`` nearest source tasks, nearest first (ties by name)."""
        d = self.distances(task_meta)
        order = np.lexsort((np.array(self.names, dtype=object).astype(str), d))[: max(0, k)]
        return order, d[order]
