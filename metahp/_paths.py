"""Where metahp keeps its files: the default knowledge base and caches.

``$METAHP_HOME`` overrides the user data directory (CI points it at a temporary folder);
``$METAHP_KB`` overrides the default knowledge-base file itself.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["data_dir", "cache_dir", "default_kb_path", "bundled_kb_dir"]


def data_dir() -> Path:
    """The folder for the user's default knowledge base (created on demand)."""
    env = os.environ.get("METAHP_HOME")
    if env:
        path = Path(env).expanduser()
    else:
        from platformdirs import user_data_dir

        path = Path(user_data_dir("metahp", appauthor=False))
    path.mkdir(parents=True, exist_ok=True)
    return path


def cache_dir() -> Path:
    """The folder for fitted meta-models and other caches (created on demand)."""
    path = data_dir() / "cache"
    path.mkdir(parents=True, exist_ok=True)
    return path


def default_kb_path() -> Path:
    """The default knowledge-base file: ``$METAHP_KB`` or ``<data_dir>/kb.duckdb``."""
    env = os.environ.get("METAHP_KB")
    return Path(env).expanduser() if env else data_dir() / "kb.duckdb"


def bundled_kb_dir() -> Path:
    """The Parquet shards of the seed knowledge base shipped with metahp."""
    env = os.environ.get("METAHP_BUNDLED_KB")
    if env:
        return Path(env).expanduser()
    return Path(__file__).resolve().parent.parent / "knowledge_base"
