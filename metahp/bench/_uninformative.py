"""Suites whose source tasks carry no information about the target (issue 23's reproduction).

Each suite's targets are the real pools of a public family (optionally with the objective rounded,
so that targets and sources have many ties); the knowledge base the warm-started methods learn from
is a copy in which every task's recorded objectives are permuted across that task's configurations
(a fixed seed per task). The best a transfer method can do there is notice it and search like a
cold one. ``benchmarks/uninformative_sources.py`` replays them at full size.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from metahp.bench._problem import Suite, stream_seed
from metahp.bench._suites import build_external_kb, load_suite
from metahp.errors import InvalidConfigError
from metahp.kb import KnowledgeBase

UNINFORMATIVE_SUITES: dict[str, tuple[str, int | None]] = {
    "svm": ("svm", None),
    "hpobench-mlp": ("hpobench-mlp", None),
    "fcnet": ("fcnet", None),
    "hpobench-mlp-r2": ("hpobench-mlp", 2),
}
"""Reproduction suite -> (external family, decimals the recorded objective is rounded to, or None)."""


def derived_kb(source: Path, target: Path, family: str, *, permute: bool, decimals: int | None) -> Path:
    """Copy ``family`` of the knowledge base at ``source`` into ``target``, objectives changed.

    Args:
        source: A knowledge base holding the family (as :func:`metahp.bench.build_external_kb` makes it).
        target: The new knowledge-base file.
        family: The family to copy (every task, meta-features and space kept).
        permute: Permute each task's objectives across its configurations (seeded by task).
        decimals: Round the recorded objective (original sign) to this many decimals first.

    Returns:
        ``target``.
    """
    src = KnowledgeBase(source)
    dst = KnowledgeBase(target)
    for name in src.tasks(family=family)["name"]:
        info = src.task_info(name)
        trials = src.trials(task=name, status="ok")
        if info.space is None:
            raise InvalidConfigError(f"task {name!r} of {source} has no search space: a pool needs one")
        frame = trials[info.space.names].reset_index(drop=True)
        value = trials["value"].to_numpy(dtype=float)
        if decimals is not None:
            value = np.round(value, decimals)
        if permute:
            value = np.random.default_rng(stream_seed(family, name, "permute")).permutation(value)
        frame["objective"] = value
        dst.add_task(name, family=info.family, kind=info.kind, meta_features=dict(info.meta_features),
                     space=info.space, objective_name=info.objective_name, direction=info.direction,
                     provenance={**info.provenance, "benchmark": "uninformative_sources", "permuted": permute,
                                 "rounded_to": decimals})
        dst.add_trials(name, frame, source="benchmark:uninformative_sources")
    return target


def uninformative_suite(folder: Path, name: str, external: Path) -> Suite:
    """The suite ``name`` of :data:`UNINFORMATIVE_SUITES`: real (possibly rounded) target pools, permuted sources.

    Args:
        folder: Where the suite's knowledge bases are built (reused when an earlier call built them).
        name: A key of :data:`UNINFORMATIVE_SUITES`.
        external: The folder of public meta-datasets (:func:`metahp.bench.find_external`).

    Returns:
        The suite: its pools are the real targets, its ``kb_path`` the permuted sources.

    Raises:
        InvalidConfigError: ``name`` is not a suite of :data:`UNINFORMATIVE_SUITES`.
    """
    if name not in UNINFORMATIVE_SUITES:
        raise InvalidConfigError(f"unknown uninformative suite {name!r}: choose from {sorted(UNINFORMATIVE_SUITES)}")
    family, decimals = UNINFORMATIVE_SUITES[name]
    folder.mkdir(parents=True, exist_ok=True)
    real = folder / f"{family}.duckdb" if decimals is None else folder / f"{name}-real.duckdb"
    permuted = folder / f"{name}-permuted.duckdb"
    if not permuted.exists():  # built by an earlier run with the same --work folder otherwise
        real = build_external_kb(folder, family, external=external)
        if decimals is not None:
            real = derived_kb(real, folder / f"{name}-real.duckdb", family, permute=False, decimals=decimals)
        derived_kb(real, permuted, family, permute=True, decimals=None)
    suite = load_suite(real, family)
    notes = [f"targets: the real pools of {family}" + (f", objective rounded to {decimals} decimals" if decimals
                                                         else ""),
             "sources: every task's objectives permuted across its configurations (seeded per task)"]
    return dataclasses.replace(suite, name=name, kb_path=str(permuted), notes=notes + suite.notes)
