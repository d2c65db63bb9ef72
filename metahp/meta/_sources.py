"""Which source tasks answer a question: the same regime and objective type, near in meta-features.

A user asking without a family ("350M parameters, 7B tokens") must be answered from comparable
training runs, whatever family holds them, and never from a task of another regime (a
pre-training sweep for a fine-tuning question) or one that shares none of the meta-features
the user gave. :func:`select_sources` reads the knowledge base's task table and returns the
comparable tasks, each with its distance to the target, and the reasons it chose them.

Distance: over the meta-features both the target and the source know, each on ``log10`` where
its values are positive (sizes compare by ratio), standardised by its spread over the candidate
sources (one decade where they do not spread); the root mean square of the differences.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from metahp.meta._neighbours import masked_rms
from metahp.vocabulary import objective_type, regime_of

__all__ = ["SourceSelection", "select_sources", "meta_distances", "MIN_TRIALS_FOR_OPTIMUM", "MIN_TRIALS_TO_RANK"]

#: Trials a source task needs before its best configurations estimate where its optimum lies.
MIN_TRIALS_FOR_OPTIMUM = 8

#: Trials a source task needs before its per-task normalised scores rank configurations at all
#: (one run has one score; two give one comparison, too little to learn other parameters from).
MIN_TRIALS_TO_RANK = 3


@dataclass
class SourceSelection:
    """The comparable source tasks of a target, nearest first.

    Attributes:
        names: Source task names, nearest first.
        families: Their families.
        distances: Their meta-feature distances to the target.
        meta: Their raw meta-features.
        regime: The target's regime (None when neither the caller nor its meta-features say).
        objective: The objective type the sources were restricted to (None: any).
        reasons: Why these sources, in words.
        left_out: Counts of tasks left out, by reason.
        n_trials: Their trial counts.
    """

    names: list[str]
    families: list[str]
    distances: np.ndarray
    meta: list[dict[str, float]]
    regime: str | None
    objective: str | None
    reasons: list[str] = field(default_factory=list)
    left_out: dict[str, int] = field(default_factory=dict)
    n_trials: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.names)


def select_sources(
    tasks: pd.DataFrame,
    target: Mapping[str, float],
    *,
    regime: str | None = None,
    objective: str | None = None,
    exclude: Iterable[str] = (),
    space_names: Iterable[str] = (),
    key: str | None = None,
) -> SourceSelection:
    """Select the comparable source tasks of a target from a ``KnowledgeBase.tasks()`` frame.

    Args:
        tasks: The knowledge base's tasks (``name``, ``family``, ``kind``, ``direction``,
            ``meta_features``, ``n_trials``).
        target: The target's meta-features.
        regime: The target's regime (``pretrain``, ``finetune``, ``lora``); None: read from
            ``model_pretrained`` and ``space_names`` (:func:`metahp.vocabulary.regime_of`).
        objective: ``loss`` or ``score`` to keep only sources of that objective type; None: the
            type of the nearest comparable source (a loss and an accuracy do not answer together).
        exclude: Task names never selected.
        space_names: Parameters of the target's space (a LoRA rank marks adapter fine-tuning).
        key: An identifier of ``tasks``' content (the store's content hash): the parsed table is
            kept for the next call with the same key.

    Returns:
        The selection; empty when no task is comparable.
    """
    target = {k: float(v) for k, v in target.items() if v is not None and math.isfinite(float(v))}
    regime = regime or regime_of(None, target, space_names)
    excluded = set(exclude)
    left_out: dict[str, int] = {}
    rows: list[tuple[str, str, dict[str, float], int]] = []
    types: list[str] = []
    for name, family, task_regime, task_objective, meta, n_trials in _parse(tasks, key):
        if name in excluded:
            continue
        if n_trials == 0:
            left_out["no trials"] = left_out.get("no trials", 0) + 1
            continue
        if regime is not None and task_regime != regime:
            left_out["another regime"] = left_out.get("another regime", 0) + 1
            continue
        if objective is not None and task_objective != objective:
            left_out["another objective type"] = left_out.get("another objective type", 0) + 1
            continue
        if not any(k in target for k in meta):
            left_out["no shared meta-feature"] = left_out.get("no shared meta-feature", 0) + 1
            continue
        rows.append((name, family, meta, n_trials))
        types.append(task_objective)
    reasons = []
    if regime is not None:
        reasons.append(f"regime {regime}")
    if objective is not None:
        reasons.append(f"objective type {objective}")
    if not rows:
        return SourceSelection([], [], np.zeros(0), [], regime, objective, reasons, left_out)
    distances = meta_distances(target, [r[2] for r in rows])
    if objective is None:  # the nearest source's objective type; the other type's tasks are left out
        nearest = int(np.lexsort((np.array([r[0] for r in rows], dtype=object).astype(str), distances))[0])
        objective = types[nearest]
        keep = [i for i, t in enumerate(types) if t == objective]
        if len(keep) < len(rows):
            left_out["another objective type"] = left_out.get("another objective type", 0) + len(rows) - len(keep)
            rows, distances = [rows[i] for i in keep], distances[keep]
        reasons.append(f"objective type {objective} (the nearest source's)")
    order = np.lexsort((np.array([r[0] for r in rows], dtype=object).astype(str), distances))
    shared = sorted({k for r in rows for k in r[2] if k in target})
    reasons.append(f"near in {', '.join(shared)}")
    return SourceSelection(
        names=[rows[i][0] for i in order], families=[rows[i][1] for i in order], distances=distances[order],
        meta=[rows[i][2] for i in order], regime=regime, objective=objective, reasons=reasons, left_out=left_out,
        n_trials=[rows[i][3] for i in order],
    )


_Row = tuple[str, str, "str | None", str, dict[str, float], int]
_PARSED: dict[str, list[_Row]] = {}


def _parse(tasks: pd.DataFrame, key: str | None) -> list[_Row]:
    """(name, family, regime, objective type, meta-features, trials) per task; kept by ``key``."""
    if key is not None and key in _PARSED:
        return _PARSED[key]
    rows: list[_Row] = []
    for name, family, kind, direction, mf, n_trials in zip(
        tasks["name"], tasks["family"], tasks["kind"], tasks["direction"], tasks["meta_features"], tasks["n_trials"],
    ):
        meta = _floats(mf)
        rows.append((str(name), str(family), regime_of(str(kind or ""), meta), objective_type(str(direction)), meta,
                     int(n_trials)))
    if key is not None:
        while len(_PARSED) >= 8:
            _PARSED.pop(next(iter(_PARSED)))
        _PARSED[key] = rows
    return rows


def meta_distances(target: Mapping[str, float], metas: list[dict[str, float]]) -> np.ndarray:
    """Distance from ``target`` to each of ``metas`` over the target's meta-features (``inf``: none shared).

    Each meta-feature is ``log10``-scaled where positive and standardised over ``metas``. A
    meta-feature the target gives and a source lacks (a model whose size is unknown) counts as
    the root-mean-square distance of the sources that do give it: unknown is a typical source,
    not a match, so a source that shares only ``model_pretrained`` is not the nearest of a
    question that also gives the model's size.
    """
    if not metas:
        return np.zeros(0)
    names = sorted({k for m in metas for k in m if k in target})
    table = np.array([[m.get(n, math.nan) for n in names] for m in metas], dtype=float)
    goal = np.array([target[n] for n in names], dtype=float)
    for j in range(len(names)):
        col = table[:, j]
        ok = np.isfinite(col)
        if ok.any() and goal[j] > 0 and (col[ok] > 0).all():
            table[:, j] = np.where(ok, np.log10(np.where(ok, col, 1.0)), np.nan)
            goal[j] = math.log10(goal[j])
    with np.errstate(invalid="ignore"):
        spread = np.nanstd(table, axis=0)
    spread = np.where(np.isfinite(spread) & (spread > 0), spread, 1.0)
    z = (table - goal[None, :]) / spread
    shared = np.isfinite(z).any(axis=1)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a column no source gives finitely
        typical = np.sqrt(np.nanmean(z**2, axis=0))
    z = np.where(np.isfinite(z), z, typical[None, :])
    return np.where(shared, masked_rms(z), np.inf)


def _floats(meta: Any) -> dict[str, float]:
    out: dict[str, float] = {}
    if not isinstance(meta, Mapping):
        return out
    for key, value in meta.items():
        try:
            number = float(value)
        except (TypeError, ValueError):
            continue
        if math.isfinite(number):
            out[str(key)] = number
    return out
