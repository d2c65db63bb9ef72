"""Leave-one-task-out replay of every method on every suite, over processes."""

from __future__ import annotations

import multiprocessing
import os
import time
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any

import numpy as np

from metahp.bench._method import get_method
from metahp.bench._metrics import REPORT_T, gap_curves, mean_ranks, regret_curves, speedup
from metahp.bench._problem import BudgetExhausted, PoolProblem, Suite, stream_seed
from metahp.errors import InvalidConfigError

__all__ = ["DEFAULT_METHODS", "QUICK_METHODS", "run_transfer", "UnitResult"]

DEFAULT_METHODS = ("random", "tpe", "optuna-gp", "gp", "knn-tpe", "zeroshot", "cts", "scaling-law",
                   "metahp-zs", "metahp")
"""The protocol's methods, in table order."""

QUICK_METHODS = ("random", "tpe", "zeroshot", "metahp-zs", "metahp")
"""Methods of ``--quick`` (CI)."""


@dataclass
class UnitResult:
    """What one target task produced for one method."""

    orders: list[list[int]]
    seconds: float
    suggestions: int
    error: str | None = None


_SUITES: dict[str, Suite] = {}


def _init_worker(suites: dict[str, Suite]) -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
    _SUITES.clear()
    _SUITES.update(suites)


def _run_unit(suite_name: str, task_name: str, methods: Sequence[str], seeds: int,
              budget: int) -> tuple[str, str, dict[str, UnitResult]]:
    suite = _SUITES[suite_name]
    target = suite.task(task_name)
    out: dict[str, UnitResult] = {}
    for name in methods:
        method = get_method(name)
        start = time.perf_counter()
        orders: list[list[int]] = []
        try:
            state = method.prepare(suite, target)
            for s in range(seeds):
                problem = PoolProblem(target, min(budget, target.size))
                try:
                    method.search(problem, state, stream_seed(suite.name, target.name, s))
                except BudgetExhausted:
                    pass
                if problem.remaining:
                    raise InvalidConfigError(f"{name} stopped with {problem.remaining} evaluations of its budget left")
                orders.append(problem.order)
        except Exception:  # noqa: BLE001 - one broken method must not sink the others' results
            out[name] = UnitResult([], time.perf_counter() - start, 0, traceback.format_exc())
            continue
        out[name] = UnitResult(orders, time.perf_counter() - start, sum(len(o) for o in orders))
    return suite_name, task_name, out


def run_transfer(
    suites: Sequence[Suite],
    methods: Sequence[str] = DEFAULT_METHODS,
    seeds: int = 5,
    budget: int = 50,
    workers: int | None = None,
    targets: dict[str, Sequence[str]] | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, dict[str, Any]]:
    """Replay ``methods`` on every task of every suite (leave one task out) and score them.

    Args:
        suites: The suites.
        methods: Names in :data:`metahp.bench.METHODS`; a method that does not apply to a
            suite (``scaling-law`` off ``steplaw*``) is left out of that suite.
        seeds: Seeds per task.
        budget: Evaluations per replay (capped by each pool's size).
        workers: Processes (default: the CPU count, at most 2); 1 runs in this process.
        targets: Suite -> target task names (default: every task); sources are always every
            other task of the suite.
        progress: Called with a line per finished task.

    Returns:
        Suite name -> the protocol's result record (see :func:`metahp.bench.write_results`).
    """
    for name in methods:
        get_method(name)
    if seeds < 1 or budget < 1:
        raise InvalidConfigError(f"seeds and budget must be positive, got seeds={seeds}, budget={budget}")
    by_name = {s.name: s for s in suites}
    units: list[tuple[str, str, list[str]]] = []
    for suite in suites:
        every = [t.name for t in suite.tasks]
        chosen = list(targets.get(suite.name, every)) if targets else every
        applicable = [m for m in methods if get_method(m).applies_to(suite)]
        units.extend((suite.name, t, applicable) for t in chosen)
    # Largest pools first, so the slowest units do not end the run alone.
    units.sort(key=lambda u: -by_name[u[0]].task(u[1]).size)
    workers = workers or min(2, os.cpu_count() or 1)
    results: dict[tuple[str, str], dict[str, UnitResult]] = {}
    started = time.perf_counter()

    def done(suite_name: str, task_name: str, res: dict[str, UnitResult]) -> None:
        results[(suite_name, task_name)] = res
        if progress:
            errors = [m for m, r in res.items() if r.error]
            progress(f"[{time.perf_counter() - started:7.1f}s] {suite_name} {task_name} ({len(results)}/{len(units)})"
                     + (f" errors: {errors}" if errors else ""))

    if workers == 1:
        _init_worker(by_name)
        for s, t, m in units:
            done(*_run_unit(s, t, m, seeds, budget))
    else:
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker, initargs=(by_name,)) as pool:
            futures = [pool.submit(_run_unit, s, t, m, seeds, budget) for s, t, m in units]
            for future in as_completed(futures):
                done(*future.result())
    out: dict[str, dict[str, Any]] = {}
    for suite in suites:
        names = [t for (s, t) in results if s == suite.name]
        ordered = [t.name for t in suite.tasks if t.name in names]
        applicable = [m for m in methods if get_method(m).applies_to(suite)]
        out[suite.name] = _score(suite, ordered, applicable, {t: results[(suite.name, t)] for t in ordered},
                                 seeds, budget)
    return out


def _score(suite: Suite, tasks: list[str], methods: list[str], results: dict[str, dict[str, UnitResult]],
           seeds: int, budget: int) -> dict[str, Any]:
    failed = {m: next(str(r[m].error) for r in results.values() if r[m].error) for m in methods
              if any(r[m].error for r in results.values())}
    ok = [m for m in methods if m not in failed]
    regrets: dict[str, np.ndarray] = {}
    gaps: dict[str, np.ndarray] = {}
    for m in ok:
        per_task, per_gap = [], []
        for t in tasks:
            pool = suite.task(t)
            orders = results[t][m].orders
            per_task.append(regret_curves(orders, pool.y, budget))
            if suite.loss_like:
                per_gap.append(gap_curves(orders, pool.y, pool.raw, budget))
        regrets[m] = np.concatenate(per_task)
        if suite.loss_like:
            gaps[m] = np.concatenate(per_gap)
    ranks = mean_ranks(regrets) if regrets else {}
    curves = {m: regrets[m].mean(axis=0) for m in ok}
    report_t = [t for t in REPORT_T if t <= budget]
    record: dict[str, Any] = {
        "suite": suite.name, "tasks": len(tasks), "seeds": seeds, "budget": budget,
        "T": report_t, "task_names": tasks, "objective_transform": suite.transform,
        "loss_like": suite.loss_like, "notes": list(suite.notes), "methods": {},
    }
    for m in ok:
        seconds = sum(results[t][m].seconds for t in tasks)
        count = sum(results[t][m].suggestions for t in tasks)
        entry: dict[str, Any] = {
            "regret": {str(t): float(curves[m][t - 1]) for t in report_t},
            "rank": {str(t): float(ranks[m][t - 1]) for t in report_t},
        }
        if suite.loss_like:
            entry["gap_pct"] = {str(t): float(gaps[m].mean(axis=0)[t - 1]) for t in report_t}
        entry["speedup_vs_gp"] = speedup(curves[m], curves["gp"]) if "gp" in curves else None
        entry["seconds_per_suggestion"] = seconds / count if count else None
        entry["regret_curve"] = [float(v) for v in curves[m]]
        # Rows are task-major (seeds rows per task): the mean over tasks of each seed shows the seed-to-seed spread.
        by_seed = regrets[m].reshape(len(tasks), seeds, -1).mean(axis=0)
        entry["regret_by_seed"] = {str(t): [float(v) for v in by_seed[:, t - 1]] for t in report_t}
        by_task = regrets[m].reshape(len(tasks), seeds, -1).mean(axis=1)
        entry["regret_by_task"] = {str(t): [float(v) for v in by_task[:, t - 1]] for t in report_t}
        if get_method(m).note:
            entry["note"] = get_method(m).note
        record["methods"][m] = entry
    if failed:
        record["failed_methods"] = {m: err.strip().splitlines()[-1] for m, err in failed.items()}
        record["failed_tracebacks"] = failed
    return record
