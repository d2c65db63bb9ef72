"""What the Optuna sampler and the Ray Tune searcher share: names, origins, the cold-start warning.

The user's script names parameters its own way (``per_device_train_batch_size``, ``lr``); the
knowledge base speaks canonical names (``batch_size``, ``learning_rate``). :class:`NameMap`
translates both ways through :mod:`metahp.aliases`, so the study searches in canonical names
and every answer goes back in the user's.

    >>> names = NameMap(["per_device_train_batch_size", "lr", "my_knob"])
    >>> names.canonical
    {'per_device_train_batch_size': 'batch_size', 'lr': 'learning_rate', 'my_knob': 'my_knob'}
    >>> names.to_user({"batch_size": 8, "learning_rate": 1e-3})
    {'per_device_train_batch_size': 8, 'lr': 0.001}
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Iterable, Mapping
from typing import Any

from metahp.aliases import alias_for, canonical_name, canonicalize
from metahp.space import SearchSpace

__all__ = ["NameMap", "ORIGINS", "origin_label", "warn_if_cold", "ORIGIN_ATTR"]

#: Key of the trial attribute (Optuna ``user_attrs``) that says where a configuration came from.
ORIGIN_ATTR = "metahp_origin"

#: A :class:`~metahp.Trial`'s origin -> what the integrations report: ``portfolio`` (the
#: recommender's zero-shot configurations), ``bo`` (the warm-started GP or RGPE) or ``random``
#: (the cold start's scrambled-Sobol design, or the random fallback).
ORIGINS: dict[str, str] = {"portfolio": "portfolio", "gp": "bo", "rgpe": "bo", "sobol": "random",
                           "random": "random", "enqueued": "enqueued", "external": "external"}


def origin_label(origin: str) -> str:
    """The integrations' label of a study trial's origin (``portfolio``, ``bo`` or ``random``)."""
    return ORIGINS.get(origin, origin)


def warn_if_cold(owner: str, kb: Any, task: Any) -> bool:
    """Warn (once, at construction) that a search without a knowledge base or a task starts cold.

    Returns:
        Whether the search is cold.
    """
    missing = [what for what, value in (("kb", kb), ("task", task)) if value is None]
    if not missing:
        return False
    warnings.warn(
        f"{owner} has no {' and no '.join(missing)}: it starts cold (random / Sobol trials, then plain GP-BO) and "
        "learns nothing from past runs; pass kb=metahp.KnowledgeBase() and task=... (a TaskSpec from "
        "metahp.describe_task, a task name or a dict of meta-features) for a warm start",
        UserWarning, stacklevel=3)
    return True


class NameMap:
    """User parameter names <-> canonical names (one canonical name per user name).

    Two user names meaning the same canonical parameter (``lr`` and ``learning_rate`` in one
    space) keep their own names: neither is renamed, so both stay searchable, but neither
    learns from the knowledge base's ``learning_rate``.

    Args:
        names: The user's parameter names.
    """

    def __init__(self, names: Iterable[str]) -> None:
        names = list(names)
        wanted = {name: canonical_name(name) for name in names}
        counts: dict[str, int] = {}
        for target in wanted.values():
            counts[target] = counts.get(target, 0) + 1
        renamed = canonicalize(dict.fromkeys(names), keep=[n for n in names if counts[wanted[n]] > 1])
        #: user name -> canonical name.
        self.canonical: dict[str, str] = dict(zip(names, renamed))
        self._users = list(names)

    def user_name(self, canonical: str) -> str | None:
        """The user's name for a canonical parameter (``None`` if the user's space lacks it)."""
        matches = [name for name in self._users if self.canonical[name] == canonical]
        if not matches:
            return None
        return alias_for(canonical, matches) or matches[0]

    def to_canonical(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """A configuration in the user's names -> canonical names (unknown names kept)."""
        return {self.canonical.get(name, name): value for name, value in config.items()}

    def to_user(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """A configuration in canonical names -> the user's names (names the user lacks dropped)."""
        out: dict[str, Any] = {}
        for name, value in config.items():
            user = self.user_name(name)
            if user is not None:
                out[user] = value
        return out

    def space(self, space: SearchSpace) -> SearchSpace:
        """``space`` (in the user's names) with every parameter renamed to its canonical name."""
        return SearchSpace([dataclasses.replace(p, name=self.canonical.get(p.name, p.name)) for p in space.params])
