"""metahp: hyperparameters from past runs, before you spend the compute.

Heavy dependencies (torch, transformers, botorch, lightgbm) are imported lazily, so
``import metahp`` is fast; public names resolve on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from metahp import errors
from metahp.space import Categorical, Float, Int, SearchSpace
from metahp.types import Direction, Status, TrialPruned

__version__ = "0.1.0"

_LAZY: dict[str, str] = {
    "KnowledgeBase": "metahp.kb",
    "TaskSpec": "metahp.task",
    "describe_task": "metahp.task",
    "run_trial": "metahp.runner",
    "TrialResult": "metahp.runner",
    "run_many": "metahp.runner",
    "recommend": "metahp.recommender",
    "Recommendation": "metahp.recommender",
    "Study": "metahp.study",
    "Trial": "metahp.study",
    "verify": "metahp.app",
    "tasks": "metahp.runner.suite",
}

__all__ = ["Categorical", "Direction", "Float", "Int", "SearchSpace", "Status", "TrialPruned", "errors", "__version__",
           *_LAZY]

if TYPE_CHECKING:  # pragma: no cover
    from metahp.kb import KnowledgeBase as KnowledgeBase


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module = importlib.import_module(_LAZY[name])
        value = module if name == "tasks" else getattr(module, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'metahp' has no attribute {name!r}")
