"""Integrations: an Optuna sampler (also for ``Trainer.hyperparameter_search``) and a Ray Tune searcher.

``MetaHPSearch`` needs Ray Tune (``pip install metahp[ray]``) and is imported on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["MetaHPSampler", "MetaHPSearch", "to_search_space"]

_LAZY = {"MetaHPSampler": "metahp.integrations._optuna", "to_search_space": "metahp.integrations._optuna",
         "MetaHPSearch": "metahp.integrations._ray"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'metahp.integrations' has no attribute {name!r}")
