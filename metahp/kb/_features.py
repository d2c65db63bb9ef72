"""What a knowledge base can be asked about: its meta-features and its families.

``KnowledgeBase.features()`` (and ``metahp kb features``) list every meta-feature the
stored tasks carry, with its range and how many tasks carry it, and every family with its
training regime, objective (name, type, direction) and search space, so a user can see
which words a question may use and what the answers will be about.

Example:
    >>> from metahp import KnowledgeBase, SearchSpace, Float
    >>> kb = KnowledgeBase(":memory:")
    >>> space = SearchSpace([Float("learning_rate", 1e-5, 1e-1, log=True)])
    >>> _ = kb.add_task("a", family="toy", kind="pretrain", space=space, meta_features={"model_params": 1e6})
    >>> _ = kb.add_task("b", family="toy", kind="pretrain", space=space, meta_features={"model_params": 1e8})
    >>> found = kb.features()
    >>> found.meta_features[["name", "min", "max", "n_tasks"]].to_dict("records")
    [{'name': 'model_params', 'min': 1000000.0, 'max': 100000000.0, 'n_tasks': 2}]
    >>> found.families[["family", "regime", "objective_type", "parameters"]].to_dict("records")
    [{'family': 'toy', 'regime': 'pretrain', 'objective_type': 'loss', 'parameters': ['learning_rate']}]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from metahp.errors import UnknownTaskError
from metahp.vocabulary import META_FEATURES, objective_type

if TYPE_CHECKING:  # pragma: no cover
    from metahp.kb.store import KnowledgeBase

__all__ = ["Features", "features"]

_TASK_COLUMNS = ("task_id", "name", "family", "kind", "objective_name", "direction", "space_signature", "n_trials",
                 "meta_features")


@dataclass
class Features:
    """The vocabulary of a knowledge base.

    Attributes:
        meta_features: One row per meta-feature: ``name``, ``min``, ``max``, ``n_tasks``
            (tasks carrying it), ``families`` (those whose tasks carry it) and
            ``description`` (empty for a source's own features).
        families: One row per family: ``family``, ``regime`` (the tasks' ``kind``; several
            joined by commas), ``objective_name``, ``objective_type`` (``loss`` or ``score``),
            ``direction``, ``n_tasks``, ``n_trials``, ``parameters`` (names of its search
            space) and ``space`` (the space, described).
    """

    meta_features: pd.DataFrame
    families: pd.DataFrame

    def to_dict(self) -> dict[str, Any]:
        """Both tables as lists of records (JSON-ready)."""
        return {"meta_features": _records(self.meta_features), "families": _records(self.families)}


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for row in frame.to_dict("records"):
        out.append({k: (v.item() if isinstance(v, np.generic) else v) for k, v in row.items()})
    return out


def _joined(values: pd.Series) -> str:
    return ", ".join(sorted({str(v) for v in values if isinstance(v, str) and v}))


def features(kb: KnowledgeBase) -> Features:
    """List the meta-features and families of ``kb`` (see :class:`Features`)."""
    tasks = kb.tasks()
    names = [c for c in tasks.columns if c not in _TASK_COLUMNS]
    rows = []
    for name in sorted(names, key=lambda n: (n not in META_FEATURES, n)):
        values = tasks[name].to_numpy(dtype=float)
        carried = np.isfinite(values)
        if not carried.any():
            continue
        rows.append({
            "name": name, "min": float(values[carried].min()), "max": float(values[carried].max()),
            "n_tasks": int(carried.sum()), "families": _joined(tasks.loc[carried, "family"]),
            "description": META_FEATURES.get(name, ""),
        })
    meta = pd.DataFrame(rows, columns=["name", "min", "max", "n_tasks", "families", "description"])
    family_rows = []
    for family, group in tasks.groupby("family", sort=True):
        try:
            space = kb.space(str(family))
        except UnknownTaskError:  # a family whose tasks store no space
            space = None
        family_rows.append({
            "family": str(family), "regime": _joined(group["kind"]),
            "objective_name": _joined(group["objective_name"]),
            "objective_type": ", ".join(sorted({objective_type(d) for d in group["direction"]})),
            "direction": _joined(group["direction"]), "n_tasks": int(len(group)),
            "n_trials": int(group["n_trials"].sum()),
            "parameters": list(space.names) if space is not None else [],
            "space": ", ".join(f"{p.name}: {p.describe()}" for p in space.params) if space is not None else "",
        })
    fams = pd.DataFrame(family_rows, columns=["family", "regime", "objective_name", "objective_type", "direction",
                                              "n_tasks", "n_trials", "parameters", "space"])
    return Features(meta_features=meta, families=fams)
