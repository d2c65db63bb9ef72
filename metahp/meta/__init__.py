"""Meta-learning: per-task normalisation and meta-models of a task's score.

A meta-model predicts, for a task described by its meta-features and a configuration of
the target search space, the task's per-task normalised score (a Gaussian-copula score;
lower is better). Every model follows one scikit-learn-style contract
(:class:`MetaModel`): ``fit(training_frame) -> self``, ``predict(task_meta, configs) ->
(mean, std)``. Models are chosen by name from :data:`META_MODELS`.

Example:
    >>> from metahp.meta import META_MODELS
    >>> sorted(META_MODELS)
    ['gp', 'knn', 'lgbm']
"""

from __future__ import annotations

from metahp.meta._base import Features, MetaModel
from metahp.meta._fitted import CacheInfo, FittedMeta, TaskSummary, cache_info, clear_memory_cache, fit_frame, fit_meta
from metahp.meta._frame import META_PREFIX, TrainingFrame, build_training_frame, encode_column, training_frame
from metahp.meta._gp import GPMetaModel
from metahp.meta._knn import KNNMetaModel
from metahp.meta._lgbm import LGBMMetaModel
from metahp.meta._neighbours import TaskIndex
from metahp.meta._normalize import BROKEN_STATUSES, gaussian_copula, normalize_objectives
from metahp.meta._scale import CrossScaleModel, ScaleTrend, short_count
from metahp.meta._sources import (
    MIN_TRIALS_FOR_OPTIMUM,
    MIN_TRIALS_TO_RANK,
    SourceSelection,
    meta_distances,
    select_sources,
)
from metahp.meta._trend import OptimumTrend

__all__ = [
    "META_MODELS",
    "META_PREFIX",
    "BROKEN_STATUSES",
    "CacheInfo",
    "Features",
    "FittedMeta",
    "GPMetaModel",
    "KNNMetaModel",
    "OptimumTrend",
    "ScaleTrend",
    "CrossScaleModel",
    "short_count",
    "SourceSelection",
    "select_sources",
    "meta_distances",
    "MIN_TRIALS_FOR_OPTIMUM",
    "MIN_TRIALS_TO_RANK",
    "LGBMMetaModel",
    "MetaModel",
    "TaskIndex",
    "TaskSummary",
    "TrainingFrame",
    "build_training_frame",
    "cache_info",
    "clear_memory_cache",
    "encode_column",
    "fit_frame",
    "fit_meta",
    "gaussian_copula",
    "normalize_objectives",
    "training_frame",
]

META_MODELS: dict[str, type[MetaModel]] = {
    "lgbm": LGBMMetaModel,
    "gp": GPMetaModel,
    "knn": KNNMetaModel,
}
"""Meta-models by name; ``META_MODELS[name]()`` is an unfitted model with default settings."""
