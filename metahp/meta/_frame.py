"""The training frame of the meta-models: trials joined with their tasks' meta-features.

A :class:`TrainingFrame` is what every meta-model's ``fit`` takes. Its ``data`` is a
trials frame (the :meth:`KnowledgeBase.trials` format, reduced to what the models need)
with one row per trial and:

- ``task``, ``family``, ``objective`` (minimised), ``status``, ``direction``, ``objective_name``;
- ``score``: the per-task Gaussian-copula score of the objective (lower is better);
- one column per *target-space* parameter that the source trials record, holding raw
  values (``param_columns``); target parameters that no source trial records are absent;
- one column ``meta.<name>`` per task meta-feature (``meta_columns``), NaN where missing.

Configurations are encoded with the *target* search space, parameter by parameter, so a
target space that only partly overlaps the knowledge base still works: source parameters
the target does not have are dropped (the models average over them), values outside the
target's bounds keep their position outside ``[0, 1]``, and choices the target does not
list become NaN.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from metahp.errors import InvalidSpaceError, UnknownTaskError
from metahp.meta._normalize import normalize_objectives
from metahp.space import Param, SearchSpace, encode_column

if TYPE_CHECKING:  # pragma: no cover
    from metahp.kb import KnowledgeBase

__all__ = ["TrainingFrame", "training_frame", "build_training_frame", "encode_column", "META_PREFIX"]

META_PREFIX = "meta."


@dataclass
class TrainingFrame:
    """Trials with scores, raw parameters and task meta-features, for a target space.

    Attributes:
        data: One row per trial (see the module docstring for the columns).
        space: The target search space configurations are encoded with.
        param_columns: Target parameters recorded by at least one source trial, in the
            target space's order.
        meta_columns: Columns of ``data`` holding meta-features (``meta.<name>``).
    """

    data: pd.DataFrame
    space: SearchSpace
    param_columns: list[str]
    meta_columns: list[str]

    @property
    def meta_names(self) -> list[str]:
        """Meta-feature names, without the ``meta.`` prefix."""
        return [c[len(META_PREFIX):] for c in self.meta_columns]

    @property
    def tasks(self) -> list[str]:
        """Names of the source tasks, in order of first appearance."""
        return list(pd.unique(self.data["task"]))

    def encoded_configs(self) -> np.ndarray:
        """Configurations encoded with the target space (``n x d``, NaN where unknown)."""
        out = np.full((len(self.data), self.space.dim), np.nan)
        for j, (name, param) in enumerate(self.space.items()):
            if name in self.data.columns:
                out[:, j] = encode_column(param, self.data[name])
        return out

    def meta_matrix(self) -> np.ndarray:
        """Raw meta-features per trial (``n x m``, NaN where missing)."""
        if not self.meta_columns:
            return np.zeros((len(self.data), 0))
        return self.data[self.meta_columns].to_numpy(dtype=float)

    def task_meta(self) -> pd.DataFrame:
        """One row per source task (index = task name) with its raw meta-features."""
        first = self.data.drop_duplicates("task").set_index("task")
        return first[self.meta_columns].rename(columns=lambda c: c[len(META_PREFIX):]).astype(float)

    def __len__(self) -> int:
        return len(self.data)


def build_training_frame(
    trials: pd.DataFrame,
    tasks: pd.DataFrame | Mapping[str, Mapping[str, float]],
    space: SearchSpace,
    *,
    exclude: Iterable[str] | None = None,
) -> TrainingFrame:
    """Build a :class:`TrainingFrame` from a trials frame and task meta-features.

    Args:
        trials: ``KnowledgeBase.trials()`` format: ``task``, one column per parameter,
            ``objective`` (minimised), optional ``status``, ``family`` and ``fidelity``.
            Pruned trials and trials at partial fidelity are dropped (their objective is
            not comparable with finished runs); failed and diverged trials are kept.
        tasks: Meta-features per task: a ``KnowledgeBase.tasks()`` frame (``name`` and a
            ``meta_features`` dict column) or a mapping task name -> meta-feature dict.
        space: The target search space.
        exclude: Task names whose trials are left out.

    Raises:
        InvalidSpaceError: ``space`` is not a :class:`SearchSpace`.
        UnknownTaskError: ``trials`` lacks the ``task`` or ``objective`` column.
    """
    if not isinstance(space, SearchSpace):
        raise InvalidSpaceError(f"space must be a metahp.SearchSpace, got {type(space).__name__}")
    for col in ("task", "objective"):
        if col not in trials.columns:
            raise UnknownTaskError(f"the trials frame needs a {col!r} column (KnowledgeBase.trials() format)")
    meta_by_task = _meta_by_task(tasks)
    df = trials
    if exclude:
        df = df[~df["task"].isin(list(exclude))]
    if "status" in df.columns:
        df = df[df["status"].fillna("ok") != "pruned"]
    if "fidelity" in df.columns:
        fid = pd.to_numeric(df["fidelity"], errors="coerce")
        df = df[fid.isna() | (fid >= 1.0 - 1e-9)]
    data = pd.DataFrame({"task": df["task"].astype(str).to_numpy()})
    data["family"] = df["family"].to_numpy() if "family" in df.columns else ""
    data["objective"] = pd.to_numeric(df["objective"], errors="coerce").to_numpy(dtype=float)
    data["status"] = df["status"].fillna("ok").to_numpy() if "status" in df.columns else "ok"
    data["score"] = normalize_objectives(data).to_numpy()
    for col, fill in (("direction", "minimize"), ("objective_name", "objective")):
        data[col] = df[col].fillna(fill).to_numpy() if col in df.columns else fill
    param_columns = [n for n in space.names if n in df.columns and df[n].notna().any()]
    for name in param_columns:
        data[name] = df[name].to_numpy()
    names = sorted({k for t in data["task"].unique() for k in meta_by_task.get(t, {})})
    meta_columns = [META_PREFIX + n for n in names]
    if names:
        task_ids = data["task"].to_numpy()
        unique = pd.unique(task_ids)
        table = np.array([[_as_float(meta_by_task.get(t, {}).get(n)) for n in names] for t in unique], dtype=float)
        pos = pd.Index(unique).get_indexer(task_ids)
        meta = pd.DataFrame(table[pos], columns=meta_columns)
        data = pd.concat([data.reset_index(drop=True), meta], axis=1)
    return TrainingFrame(data=data.reset_index(drop=True), space=space, param_columns=param_columns,
                         meta_columns=meta_columns)


def training_frame(
    kb: KnowledgeBase,
    family: str | None = None,
    exclude: Iterable[str] | None = None,
    space: SearchSpace | None = None,
) -> TrainingFrame:
    """Build the meta-models' training frame from a knowledge base.

    Args:
        kb: The knowledge base.
        family: Restrict to one family of tasks (``None``: every task).
        exclude: Task names whose trials are left out (leave-one-task-out).
        space: Target search space; default ``kb.space(family)``, or for ``family=None``
            the union of every family's space (first family wins on a shared name).

    Raises:
        InvalidSpaceError: No space given and the knowledge base holds no task to take
            one from.
    """
    if space is None:
        space = _default_space(kb, family)
    trials = kb.trials(family=family)
    tasks = kb.tasks(family=family)
    return build_training_frame(trials, tasks, space, exclude=exclude)


def _default_space(kb: KnowledgeBase, family: str | None) -> SearchSpace:
    if family is not None:
        return kb.space(family)
    params: dict[str, Param] = {}
    for fam in kb.families():
        for name, p in kb.space(fam).items():
            params.setdefault(name, p)
    if not params:
        raise InvalidSpaceError("the knowledge base has no task to take a search space from; pass space=")
    return SearchSpace(params.values())


def _meta_by_task(tasks: pd.DataFrame | Mapping[str, Mapping[str, float]]) -> dict[str, dict[str, float]]:
    if isinstance(tasks, pd.DataFrame):
        out: dict[str, dict[str, float]] = {}
        if len(tasks) == 0:
            return out
        name_col = "name" if "name" in tasks.columns else "task"
        for name, mf in zip(tasks[name_col], tasks["meta_features"]):
            out[str(name)] = dict(mf) if isinstance(mf, Mapping) else {}
        return out
    return {str(k): dict(v) for k, v in tasks.items()}


def _as_float(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return math.nan
    return number if math.isfinite(number) else math.nan
