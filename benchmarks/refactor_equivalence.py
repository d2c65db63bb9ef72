"""Record (or compare) the transfer benchmark's per-task replays, to show a refactoring changes no behaviour.

Replays the Study-backed methods of the transfer benchmark on the ``svm`` and ``fcnet`` suites (every
target task, seed 0, budget 20) and writes, per method and task, the order in which the pool was
evaluated and its normalised regret curve. ``--compare`` reads a second such file and writes a
markdown table saying, per suite and method, how many tasks' replays are identical.

``--ideas`` instead replays benchmarks/transfer_ideas.py's variants (3 svm tasks, budget 12) with
the transfer_ideas.py of the same tree, to check that passing them through the transfer-strategy
protocol gives what patching the library gave.

Usage:
    nice -n 10 .venv/bin/python benchmarks/refactor_equivalence.py --out /tmp/before.json
    nice -n 10 .venv/bin/python benchmarks/refactor_equivalence.py --out /tmp/after.json \\
        --compare /tmp/before.json --md benchmarks/results/refactor_equivalence.md
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from metahp.bench import (
    BudgetExhausted,
    PoolProblem,
    build_external_kb,
    find_external,
    get_method,
    load_suite,
    regret_curves,
    stream_seed,
)

SUITES = ("fcnet", "svm")
METHODS = ("metahp", "gp", "metahp-rgpe", "metahp-zs")
"""The Study-backed methods first: the JSON is rewritten after each (suite, method), so a run cut short still
compares what it finished."""
BUDGET = 20
SEED = 0


def replay(suites: tuple[str, ...], methods: tuple[str, ...], budget: int,
           done: Callable[[dict[str, Any]], None] = lambda out: None) -> dict[str, Any]:
    """Per suite, method and target task: the evaluated pool indices and the regret curve.

    ``done(out)`` is called after each (suite, method) with what is finished so far.
    """
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="metahp-equiv-") as tmp:
        os.environ["METAHP_HOME"] = str(Path(tmp) / "home")
        root = find_external()
        for name in suites:
            suite = load_suite(build_external_kb(tmp, name, external=root), name)
            out[name] = {}
            for m in methods:
                method = get_method(m)
                out[name][m] = {}
                start = time.perf_counter()
                for target in suite.tasks:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        state = method.prepare(suite, target)
                        problem = PoolProblem(target, min(budget, target.size))
                        try:
                            method.search(problem, state, stream_seed(suite.name, target.name, SEED))
                        except BudgetExhausted:
                            pass
                    curve = regret_curves([problem.order], target.y, budget)[0]
                    out[name][m][target.name] = {"order": [int(i) for i in problem.order],
                                                 "regret": [float(v) for v in curve]}
                print(f"{name} {m}: {len(suite.tasks)} tasks, {time.perf_counter() - start:.1f} s", flush=True)
                done(out)
    return out


IDEAS = ("shipped", "tau", "rank", "loo", "floor", "top3-kb", "hedge", "bma", "cov", "w=0", "c=1")
"""transfer_ideas.py's variants (``cov``: experiment 2's source covariance; ``c=...``, ``w=0``: experiment 3)."""


def ideas_curves(budget: int = 12, n_tasks: int = 3) -> dict[str, list[float]]:
    """Mean regret curves of transfer_ideas.py's variants on ``n_tasks`` svm tasks, seed 0 (the script of this tree)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import transfer_ideas as ti

    out: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="metahp-equiv-") as tmp:
        os.environ["METAHP_HOME"] = str(Path(tmp) / "home")
        suite = load_suite(build_external_kb(tmp, "svm", external=find_external()), "svm")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for v in IDEAS:
                if v == "cov":
                    curve = ti.source_covariance(suite, True, budget, 1, n_tasks, 10, "c=3")
                elif v.startswith(("c=", "w=")):
                    curve = ti.source_covariance(suite, False, budget, 1, n_tasks, 10, v)
                else:
                    curve = ti.variant_curve(suite, v, budget, 1, n_tasks)
                out[v] = [float(x) for x in curve]
                print(f"ideas {v}", flush=True)
    return out


def compare(before: dict[str, Any], after: dict[str, Any]) -> tuple[str, bool]:
    """A markdown table of identical replays per suite and method, and whether all are identical."""
    rows = ["| suite | method | tasks | identical orders | identical regret curves | max abs curve diff |",
            "|---|---|---:|---:|---:|---:|"]
    same_all = True
    for suite, methods in before.items():
        for m, tasks in methods.items():
            other = after.get(suite, {}).get(m, {})
            if not other or set(other) != set(tasks):
                rows.append(f"| {suite} | {m} | {len(tasks)} | not replayed after | | |")
                continue
            orders = sum(tasks[t]["order"] == other.get(t, {}).get("order") for t in tasks)
            curves = sum(tasks[t]["regret"] == other.get(t, {}).get("regret") for t in tasks)
            diff = max((max(abs(a - b) for a, b in zip(tasks[t]["regret"], other[t]["regret"], strict=True))
                        for t in tasks if t in other), default=float("nan"))
            same_all &= orders == curves == len(tasks)
            rows.append(f"| {suite} | {m} | {len(tasks)} | {orders} | {curves} | {diff:.3g} |")
    return "\n".join(rows), same_all


def main() -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="JSON file for this run's replays")
    parser.add_argument("--compare", help="JSON file of an earlier run to compare against")
    parser.add_argument("--md", help="markdown file for the comparison")
    parser.add_argument("--note", default="", help="a paragraph to put above the table")
    parser.add_argument("--compare-only", action="store_true", help="compare the existing --out file, replay nothing")
    parser.add_argument("--ideas", action="store_true",
                        help="instead: transfer_ideas.py's variants on 3 svm tasks (budget 12) into --out")
    args = parser.parse_args()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    started = time.perf_counter()
    def write(out: dict[str, Any]) -> None:
        Path(args.out).write_text(json.dumps({"commit": commit, "replays": out}))

    if args.ideas:
        Path(args.out).write_text(json.dumps({"commit": commit, "ideas": ideas_curves()}))
        return 0
    if args.compare_only:
        result = json.loads(Path(args.out).read_text())["replays"]
        commit = json.loads(Path(args.out).read_text())["commit"]
    else:
        result = replay(SUITES, METHODS, BUDGET, write)
        write(result)
    print(f"wrote {args.out} ({time.perf_counter() - started:.0f} s)")
    if args.compare:
        before = json.loads(Path(args.compare).read_text())
        # Compare what both runs finished.
        finished = {s: {m: t for m, t in ms.items() if m in result.get(s, {})} for s, ms in before["replays"].items()}
        table, same = compare({s: ms for s, ms in finished.items() if ms}, result)
        text = (f"# Refactoring equivalence\n\n{args.note}\n\nBefore: commit `{before['commit']}`; after: commit "
                f"`{commit}` (plus the working tree it ran on). Seed 0, budget {BUDGET}, every target task of each "
                f"suite.\n\n{table}\n\nAll identical: **{'yes' if same else 'NO'}**.\n\nCommand:\n\n```\n"
                f"nice -n 10 .venv/bin/python benchmarks/refactor_equivalence.py --out AFTER.json --compare "
                f"BEFORE.json --md {args.md}\n```\n")
        if args.md:
            Path(args.md).write_text(text)
        print(text)
        return 0 if same else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
