"""``metahp bench transfer`` as a function: choose suites, run, write the results."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from metahp.bench._problem import Suite
from metahp.bench._report import provenance, write_results
from metahp.bench._runner import DEFAULT_METHODS, QUICK_METHODS, run_transfer
from metahp.bench._suites import (
    EXTERNAL_SOURCES,
    MAX_POOL,
    build_external_kb,
    check_external_suite,
    find_external,
    load_suite,
)
from metahp.kb import KnowledgeBase

__all__ = ["benchmark_transfer", "QUICK_SUITES", "QUICK_TASKS"]

QUICK_TASKS = 3
"""Target tasks per suite in ``quick`` mode (spread evenly over the suite)."""

QUICK_SUITES = ("steplaw-dense", "svm")
"""External suites of ``quick`` mode when none is named (small pools: the run fits in CI)."""


def _spread(names: list[str], k: int) -> list[str]:
    if len(names) <= k:
        return names
    step = len(names) / k
    return [names[int(i * step)] for i in range(k)]


def benchmark_transfer(
    kb: str | os.PathLike[str] | None = None,
    suites: Sequence[str] | None = None,
    methods: Sequence[str] | None = None,
    seeds: int | None = None,
    budget: int = 50,
    out: str | os.PathLike[str] | None = "benchmarks/results",
    quick: bool = False,
    workers: int | None = None,
    external: str | os.PathLike[str] | None = None,
    max_pool: int = MAX_POOL,
    progress: Callable[[str], None] | None = None,
    max_tasks: int | None = None,
    command: str | None = None,
) -> dict[str, dict[str, Any]]:
    """Run the transfer benchmark (``BENCHMARK_PROTOCOL.md``) and write its results.

    Args:
        kb: A knowledge base to take the suites from; without it, each external source is
            imported into a temporary knowledge base of its own.
        suites: Families to replay (default: every external suite, or every family of ``kb``).
        methods: Method names (default: the protocol's ten; ``quick``: a CI subset).
        seeds: Seeds per task (default 5; ``quick``: 1).
        budget: Evaluations per replay.
        out: Folder for ``transfer_<suite>.{json,md,png}`` (None: write nothing).
        quick: A few tasks per suite, one seed, a subset of methods and, without ``suites``,
            only :data:`QUICK_SUITES` (for CI).
        workers: Processes (default 2).
        max_tasks: Replay at most this many target tasks per suite, spread evenly over it (a
            reduced run, recorded as such in the results; sources are still every other task).
        command: The command line to record in the results (the CLI passes its own).
        external: The external meta-datasets folder (default: :func:`find_external`, which says where
            it looked and how to get them when they are missing).
        max_pool: Pools larger than this are replayed on a fixed random subsample.
        progress: Called with a progress line per finished task.

    Returns:
        Suite -> result record (with ``paths`` when written).
    """
    methods = list(methods or (QUICK_METHODS if quick else DEFAULT_METHODS))
    seeds = seeds or (1 if quick else 5)
    # The code that runs is the code at the start: later commits must not be credited with it.
    started_at, started = provenance(), time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="metahp-bench-") as tmp:
        loaded: list[Suite] = []
        if kb is None:
            names = list(suites or (QUICK_SUITES if quick else EXTERNAL_SOURCES))
            for name in names:
                check_external_suite(name)
            root = Path(external) if external is not None else find_external()
            if progress is not None:
                progress(f"reading the public meta-datasets from {root}")
            for name in names:
                path = build_external_kb(tmp, name, external=root, max_pool=max_pool)
                suite = load_suite(path, name, max_pool=max_pool)
                suite.notes.insert(0, f"imported from {root.name}/{EXTERNAL_SOURCES[name][1]} into a "
                                      f"temporary knowledge base (pools over {max_pool} configurations subsampled)")
                loaded.append(suite)
        else:
            names = list(suites or KnowledgeBase(kb).families())
            loaded = [load_suite(kb, name, max_pool=max_pool) for name in names]
        targets: dict[str, Sequence[str]] | None = None
        if quick or max_tasks:
            count = QUICK_TASKS if quick else int(max_tasks or 0)
            targets = {s.name: _spread([t.name for t in s.tasks], count) for s in loaded}
        # Leave-one-out meta-models of temporary knowledge bases are cached beside them, not in the user's cache.
        previous = os.environ.get("METAHP_HOME")
        os.environ["METAHP_HOME"] = str(Path(tmp) / "home")
        try:
            records = run_transfer(loaded, methods, seeds=seeds, budget=budget, workers=workers, targets=targets,
                                   progress=progress)
        finally:
            if previous is None:
                os.environ.pop("METAHP_HOME", None)
            else:
                os.environ["METAHP_HOME"] = previous
    wall = time.perf_counter() - started
    for record in records.values():
        record["quick"] = quick
        record["max_tasks"] = max_tasks
        record.update(started_at)
        record["wall_seconds"] = round(wall, 1)  # the whole run (every suite), on record["cpus"] cores
        record["workers"] = workers or 2
        if command is not None:
            record["command"] = command
        if out is not None:
            record["paths"] = {k: str(v) for k, v in write_results(record, out).items()}
    return records
