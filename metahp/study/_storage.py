"""Persistence of a named study: task ``study/<name>`` of a knowledge base, one row per finished trial."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from metahp.errors import MetaHPError
from metahp.space import SearchSpace
from metahp.task import TaskSpec

if TYPE_CHECKING:  # pragma: no cover
    from metahp.kb import KnowledgeBase
    from metahp.study._trial import Trial

__all__ = ["KBStorage", "StoredTrial"]


def _curve_number(value: Any) -> float:
    """A stored curve entry as a float.

    JSON keeps no NaN or infinity, so they are stored as the strings ``"nan"``, ``"inf"`` and
    ``"-inf"``; a missing value (older stores wrote NaN as null) is NaN.
    """
    if value is None:
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError):
        return math.nan


@dataclass(frozen=True)
class StoredTrial:
    """A finished trial as read back from the knowledge base."""

    config: dict[str, Any]
    value: float | None
    status: str
    curve: list[list[float]]
    origin: str
    seed: int


class KBStorage:
    """Where a named study lives.

    Contract: the task is created on the first finished trial (with the study's settings in
    its provenance, so :meth:`settings` can rebuild the study); each finished trial is one
    row with its number and origin in ``metrics``; reading back returns the trials in the
    order of their numbers. A stored study is never modified by reading it.

    Args:
        kb: The knowledge base.
        name: The study's name.
    """

    def __init__(self, kb: KnowledgeBase, name: str) -> None:
        self.kb = kb
        self.name = name
        self.task_name = f"study/{name}"
        self.created = False

    def exists(self) -> bool:
        """Whether the study has been stored before."""
        return bool(self.kb.has_task(self.task_name))

    @staticmethod
    def settings(kb: KnowledgeBase, name: str) -> tuple[SearchSpace, dict[str, Any]]:
        """The stored space and the constructor arguments of study ``name``.

        Raises:
            UnknownTaskError: No study of that name in ``kb``.
            MetaHPError: It was stored without a search space.
        """
        info = kb.task_info(f"study/{name}")
        settings = dict(info.provenance.get("study", {}))
        if info.space is None:
            raise MetaHPError(f"study {name!r} was stored without a search space; it cannot be resumed")
        return info.space, {
            "task": settings.get("task") or (dict(info.meta_features) or None),
            "direction": info.direction,
            "seed": settings.get("seed", 0),
            "exclude": settings.get("exclude"),
            "model": settings.get("model", "lgbm"),
            "n_initial": settings.get("n_initial"),
            "prune": settings.get("prune", False),
            "warm_start": settings.get("warm_start", True),
            "transfer": settings.get("transfer", "prior"),
        }

    def read(self, space: SearchSpace, direction: str) -> list[StoredTrial]:
        """The stored trials, by number (none if the study is new).

        Raises:
            MetaHPError: The stored study has another space or direction.
        """
        if not self.exists():
            return []
        info = self.kb.task_info(self.task_name)
        if info.space is not None and info.space != space:
            raise MetaHPError(f"study {self.name!r} exists with another search space ({info.space}); use a new name "
                              "or Study.load() to resume it")
        if info.direction != direction:
            raise MetaHPError(f"study {self.name!r} exists with direction {info.direction!r}; use a new name")
        self.created = True
        frame = self.kb.trials(task=self.task_name)
        records: list[tuple[int, Any]] = []
        for _, row in frame.iterrows():
            metrics = row.get("metrics") if isinstance(row.get("metrics"), dict) else {}
            records.append((int(metrics.get("trial_number", len(records))), row))
        records.sort(key=lambda r: r[0])
        out = []
        for _, row in records:
            metrics = row["metrics"] if isinstance(row["metrics"], dict) else {}
            value = row["value"]
            curve = row.get("curve")
            out.append(StoredTrial(
                config=space.validate(dict(row["config"]), fill_defaults=True),
                value=float(value) if value is not None and pd.notna(value) else None,
                status=str(row["status"]),
                curve=[[_curve_number(s), _curve_number(v)] for s, v in curve] if isinstance(curve, list) else [],
                origin=str(metrics.get("origin", "gp")),
                seed=int(row["seed"]) if pd.notna(row["seed"]) else 0,
            ))
        return out

    def write(self, trial: Trial, spec: TaskSpec | None, space: SearchSpace, direction: str,
              settings: dict[str, Any]) -> None:
        """Store one finished trial; the first creates the study's task, described by ``spec`` (None: no task)."""
        if not self.created:
            self.kb.add_task(self.task_name, family=(spec.family if spec is not None else None) or "study",
                             kind="study", meta_features=spec.meta_features if spec is not None else {},
                             space=space, direction=direction, provenance={"study": settings})
            self.created = True
        record = {"config": trial.config, "objective": trial.value, "status": trial.status,
                  "curve": [[s, v if math.isfinite(v) else str(v)] for s, v in trial.curve] or None,
                  "cost": trial.duration, "seed": trial.seed, "study_id": self.name,
                  "metrics": {"trial_number": trial.number, "origin": trial.origin}}
        self.kb.add_trials(self.task_name, [record], source=f"study:{self.name}")
