"""The transfer benchmark: leave-one-task-out replay of metahp and its peers on recorded pools.

Implements ``BENCHMARK_PROTOCOL.md``: each suite is a family of tasks; for every target
task and seed each method proposes from the target's recorded configurations (the pool),
knowing only the other tasks; normalised regret, gap %, mean rank and speed-up against
cold GP-BO are reported at T = 1, 3, 5, 10, 25, 50.

Example:
    >>> from metahp.bench import METHODS
    >>> {"random", "tpe", "gp", "metahp"} <= set(METHODS)
    True
"""

from __future__ import annotations

from metahp.bench import _baselines, _metahp, _transfer  # noqa: F401 - register the methods
from metahp.bench._main import QUICK_TASKS, benchmark_transfer
from metahp.bench._method import METHODS, Method, get_method, register_method
from metahp.bench._metrics import REPORT_T, SPEEDUP_FLOOR, best_so_far, mean_ranks, regret_curves, speedup
from metahp.bench._problem import BudgetExhausted, PoolProblem, Suite, TaskPool, stream_seed
from metahp.bench._report import markdown_table, plot_regret, summary_table, write_results
from metahp.bench._runner import DEFAULT_METHODS, QUICK_METHODS, run_transfer
from metahp.bench._suites import EXTERNAL_SOURCES, MAX_POOL, build_external_kb, find_external, load_suite, subsample
from metahp.bench._uninformative import UNINFORMATIVE_SUITES, derived_kb, uninformative_suite

__all__ = [
    "BudgetExhausted", "DEFAULT_METHODS", "EXTERNAL_SOURCES", "MAX_POOL", "METHODS", "Method", "PoolProblem",
    "QUICK_METHODS", "QUICK_TASKS", "REPORT_T", "SPEEDUP_FLOOR", "Suite", "TaskPool", "benchmark_transfer",
    "best_so_far", "build_external_kb", "find_external", "get_method", "load_suite", "markdown_table",
    "mean_ranks", "plot_regret", "regret_curves", "register_method", "run_transfer", "speedup", "stream_seed",
    "subsample", "summary_table", "UNINFORMATIVE_SUITES", "derived_kb", "uninformative_suite", "write_results",
]
