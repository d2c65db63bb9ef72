"""Fitted meta-models with what the recommender needs beside them, cached on disk.

A fitted model is cached per (knowledge-base content hash, model name and parameters,
family, excluded tasks, target-space signature), in memory and as a pickle under
``metahp._paths.cache_dir() / "meta_models"``. Only objects metahp itself fitted and wrote
into its own cache folder are ever unpickled. A changed knowledge base changes its content
hash, so stale entries are simply never read again.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from metahp import __version__
from metahp._paths import cache_dir
from metahp.errors import MetaHPError
from metahp.meta._base import Features, MetaModel
from metahp.meta._frame import TrainingFrame, _default_space, encode_column, training_frame
from metahp.meta._neighbours import TaskIndex
from metahp.space import SearchSpace
from metahp.types import sign

if TYPE_CHECKING:  # pragma: no cover
    from metahp.kb import KnowledgeBase

__all__ = ["FittedMeta", "TaskSummary", "CacheInfo", "fit_meta", "cache_info", "clear_memory_cache", "summarise_frame"]

CACHE_FORMAT = 3
_MEMORY_SLOTS = 8


@dataclass
class TaskSummary:
    """What the recommender shows and uses about one source task.

    Attributes:
        name: Task name.
        family: Task family.
        objective_name: Name of the objective.
        direction: ``minimize`` or ``maximize`` (the original direction).
        best_configs: The task's best configurations (target-space parameters it records), best first.
        best_value: Best objective, original sign.
        quantiles: Finite minimised objectives at 101 evenly spaced quantiles of the task's
            runs, broken runs counted as worst (NaN where a quantile falls among them).
        n_trials: Trials of the task in the frame.
        best_encoded: ``best_configs`` encoded with the target space (NaN where unknown).
        observed: Every trial's configuration encoded with the target space (``n x d``,
            NaN where unknown), for looking up what the task recorded at a given point.
        observed_score: The trials' normalised scores (``n``; lower is better).
    """

    name: str
    family: str
    objective_name: str
    direction: str
    best_configs: list[dict[str, Any]]
    best_value: float
    quantiles: np.ndarray
    n_trials: int
    best_encoded: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    observed: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    observed_score: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def scores_at(self, points: np.ndarray) -> np.ndarray:
        """The task's recorded normalised score at each of ``points`` (``m x d``; NaN where not recorded).

        A point matches a trial when every dimension the trial knows agrees to 1e-6;
        repeated trials of one configuration are averaged.
        """
        points = np.asarray(points, dtype=float)
        out = np.full(points.shape[0], np.nan)
        if self.observed.size == 0 or points.size == 0:
            return out
        known = np.isfinite(self.observed).all(axis=0)
        if not known.any():
            return out
        sums: dict[bytes, list[float]] = {}
        for row, score in zip(np.round(self.observed[:, known], 6) + 0.0, self.observed_score):
            sums.setdefault(row.tobytes(), []).append(float(score))
        for i, row in enumerate(np.round(points[:, known], 6) + 0.0):
            hit = sums.get(row.tobytes())
            if hit:
                out[i] = float(np.mean(hit))
        return out


@dataclass
class FittedMeta:
    """A fitted meta-model with the source tasks' summaries and neighbour index.

    ``model`` is ``None`` when the knowledge base holds no trial sharing a parameter with
    the target space (the recommender then falls back to literature defaults).
    """

    key: str
    model_name: str
    model: MetaModel | None
    space: SearchSpace
    param_columns: list[str]
    tasks: list[TaskSummary]
    index: TaskIndex | None
    n_trials: int
    meta_names: list[str] = field(default_factory=list)

    def source_meta_features(self, i: int) -> dict[str, float]:
        """The meta-features of source task ``i`` (of :attr:`tasks`) as the neighbour index holds them.

        The index's standardised values mapped back (``10**v`` for log-scaled features); a
        feature the task lacks is absent.
        """
        assert self.index is not None
        z = self.index.meta[i] * self.index.scale + self.index.center
        out: dict[str, float] = {}
        for name, log, v in zip(self.index.features.meta_names, self.index.features.meta_log, z):
            if np.isfinite(v):
                out[name] = float(10**v) if log else float(v)
        return out


@dataclass
class CacheInfo:
    """Counters of the meta-model cache (per process)."""

    memory_hits: int = 0
    disk_hits: int = 0
    fits: int = 0


_INFO = CacheInfo()
_MEMORY: OrderedDict[str, FittedMeta] = OrderedDict()
_LOCK = threading.Lock()


def cache_info() -> CacheInfo:
    """A copy of this process's cache counters (memory hits, disk hits, fits)."""
    return CacheInfo(_INFO.memory_hits, _INFO.disk_hits, _INFO.fits)


def clear_memory_cache() -> None:
    """Forget the in-process cache (the on-disk cache stays)."""
    with _LOCK:
        _MEMORY.clear()


def _cache_key(kb_hash: str, name: str, params: dict[str, Any], family: str | None,
               exclude: Iterable[str] | None, space: SearchSpace) -> str:
    payload = json.dumps({
        "format": CACHE_FORMAT, "version": __version__, "kb": kb_hash, "model": name,
        "params": {k: repr(v) for k, v in sorted(params.items())}, "family": family,
        "exclude": sorted(set(exclude or ())), "space": space.signature,
    }, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


def _cache_path(key: str) -> Path:
    folder = cache_dir() / "meta_models"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{key}.pkl"


def fit_meta(
    kb: KnowledgeBase,
    model: str | MetaModel = "lgbm",
    *,
    family: str | None = None,
    exclude: Iterable[str] | None = None,
    space: SearchSpace | None = None,
    use_cache: bool = True,
    kb_hash: str | None = None,
) -> FittedMeta:
    """Fit (or load from cache) a meta-model on a knowledge base.

    Args:
        kb: The knowledge base.
        model: A key of :data:`metahp.meta.META_MODELS` or an unfitted :class:`MetaModel`.
        family: Restrict the training trials to one family.
        exclude: Task names whose trials are not used.
        space: Target space (default: the family's space).
        use_cache: Read and write the cache.
        kb_hash: ``kb.content_hash()`` if the caller already has it.

    Raises:
        MetaHPError: Unknown model name.
    """
    from metahp.meta import META_MODELS  # metahp.meta's __init__ imports this module

    if isinstance(model, str):
        if model not in META_MODELS:
            raise MetaHPError(f"unknown meta-model {model!r}; choose one of {sorted(META_MODELS)}")
        name, estimator = model, META_MODELS[model]()
    elif isinstance(model, MetaModel):
        from sklearn.base import clone

        name, estimator = type(model).__name__, clone(model)
    else:
        raise MetaHPError(f"model must be a name in {sorted(META_MODELS)} or a MetaModel, got {model!r}")
    excluded = sorted(set(exclude or ()))
    if space is None:
        space = _default_space(kb, family)
    key = ""
    if use_cache:
        key = _cache_key(kb_hash or kb.content_hash(), name, estimator.get_params(), family, excluded, space)
    if use_cache:
        with _LOCK:
            hit = _MEMORY.get(key)
            if hit is not None:
                _MEMORY.move_to_end(key)
                _INFO.memory_hits += 1
                return hit
        path = _cache_path(key)
        if path.exists():
            try:
                with path.open("rb") as fh:
                    loaded = pickle.load(fh)  # our own cache folder, written below
            except Exception:  # a damaged cache entry is refitted
                loaded = None
            if isinstance(loaded, FittedMeta) and loaded.key == key:
                _remember(key, loaded)
                _INFO.disk_hits += 1
                return loaded
    frame = training_frame(kb, family=family, exclude=excluded, space=space)
    fitted = fit_frame(frame, estimator, name=name, key=key)
    if use_cache:
        _remember(key, fitted)
        _write(_cache_path(key), fitted)
    return fitted


def fit_frame(frame: TrainingFrame, estimator: MetaModel, *, name: str = "", key: str = "") -> FittedMeta:
    """Fit ``estimator`` on a frame and bundle it with the task summaries (no cache)."""
    summaries = summarise_frame(frame)
    if len(frame) == 0 or not frame.param_columns:
        return FittedMeta(key=key, model_name=name, model=None, space=frame.space, param_columns=frame.param_columns,
                          tasks=summaries, index=None, n_trials=len(frame), meta_names=frame.meta_names)
    estimator.fit(frame)
    _INFO.fits += 1
    features: Features = estimator.features_
    task_meta = frame.task_meta()
    names = [s.name for s in summaries]
    raw = task_meta.loc[names].to_numpy(dtype=float) if len(task_meta.columns) else np.zeros((len(names), 0))
    index = TaskIndex(features, names, features.meta_rows(raw, list(task_meta.columns)))
    return FittedMeta(key=key, model_name=name, model=estimator, space=frame.space, param_columns=frame.param_columns,
                      tasks=summaries, index=index, n_trials=len(frame), meta_names=frame.meta_names)


def summarise_frame(frame: TrainingFrame, n_best: int = 3) -> list[TaskSummary]:
    """One :class:`TaskSummary` per source task of a frame, in sorted task order."""
    data = frame.data
    out: list[TaskSummary] = []
    if len(data) == 0:
        return out
    probs = np.linspace(0.0, 1.0, 101)
    encoded_all = frame.encoded_configs()
    for name, group in data.groupby("task", sort=True):
        rows_at = data.index.get_indexer(group.index)
        order = group.sort_values("score", kind="stable")
        best_rows = order.head(n_best)
        best_encoded = np.column_stack([encode_column(p, best_rows[n]) if n in best_rows.columns
                                        else np.full(len(best_rows), np.nan) for n, p in frame.space.items()])
        configs = [{p: _plain(row[p]) for p in frame.param_columns if pd.notna(row[p])}
                   for _, row in best_rows.iterrows()]
        direction = str(group["direction"].iloc[0]) if "direction" in group.columns else "minimize"
        objective_name = str(group["objective_name"].iloc[0]) if "objective_name" in group.columns else "objective"
        values = np.sort(group["objective"].to_numpy(dtype=float)[np.isfinite(group["objective"].to_numpy(float))
                                                                 & ~group["status"].isin(["failed", "diverged"])])
        n = len(group)
        # Position of each quantile among all runs; beyond the finite ones it falls among broken runs.
        pos = probs * (n - 1)
        quant = np.full(probs.shape, np.nan)
        if values.size:
            inside = pos <= values.size - 1
            quant[inside] = np.interp(pos[inside], np.arange(values.size), values)
        best = float(values[0]) if values.size else float("nan")
        out.append(TaskSummary(
            name=str(name), family=str(group["family"].iloc[0]), objective_name=objective_name, direction=direction,
            best_configs=configs, best_value=sign(direction) * best, quantiles=quant,
            n_trials=n, best_encoded=best_encoded.reshape(len(best_rows), frame.space.dim),
            observed=encoded_all[rows_at],
            observed_score=group["score"].to_numpy(dtype=float),
        ))
    return out


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _remember(key: str, fitted: FittedMeta) -> None:
    with _LOCK:
        _MEMORY[key] = fitted
        _MEMORY.move_to_end(key)
        while len(_MEMORY) > _MEMORY_SLOTS:
            _MEMORY.popitem(last=False)


def _write(path: Path, fitted: FittedMeta) -> None:
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            pickle.dump(fitted, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
    except OSError:  # a read-only cache folder only costs a refit next time
        pass
