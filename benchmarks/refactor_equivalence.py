"""Record (or compare) the transfer benchmark's per-task replays, to show a refactoring changes no behaviour.

Replays the Study-backed methods of the transfer benchmark on the ``svm`` and ``fcnet`` suites (every
target task, seed 0, budget 20) and writes, per method and task, the order in which the pool was
evaluated and its normalised regret curve. ``--compare`` reads a second such file and writes a
markdown table saying, per suite and method, how many tasks' replays are identical.

``--ideas`` instead replays benchmarks/transfer_ideas.py's variants (3 svm tasks, budget 12) with
the transfer_ideas.py of the same tree, to check that passing them through the transfer-strategy
protocol gives what patching the library gave.

``--bundled BUNDLE`` instead replays the bundled run (``metahp bench transfer --kb SEED_STORE --seeds 2``:
every method of the protocol and ``metahp-rgpe`` on every task of every family of the store, seeds 0 and
1, budget 50) on a file store into which this tree's code imports the bundle folder ``BUNDLE``. Pass the
same folder on both sides (e.g. ``knowledge_base/`` of an older commit), so a change of the shipped data
plays no part. Each (task, seed) is one entry of the JSON, so ``--compare`` reads it as it reads the
replays.

``--demo BUNDLE`` instead runs the main job (``metahp demo``: describe, recommend, verify, search,
contribute) on a store imported from ``BUNDLE``, with ``--demo-budget`` training steps per run (default 20),
1 verified recommendation and 3 + 3 search trials, and writes its report with the store path, the timings
and the plot's time stamp taken out, the recommendations and every search trial's configuration and value.
``--compare`` on two such files says whether they are identical, line by line.

Usage:
    nice -n 10 .venv/bin/python benchmarks/refactor_equivalence.py --out /tmp/before.json
    nice -n 10 .venv/bin/python benchmarks/refactor_equivalence.py --out /tmp/after.json \\
        --compare /tmp/before.json --md benchmarks/results/refactor_equivalence.md
"""

from __future__ import annotations

import argparse
import json
import os
import re
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


def _searched(method: Any, state: Any, suite: Any, target: Any, budget: int, seed: int) -> dict[str, Any]:
    """One search of a prepared method on a target's pool with the protocol's stream seed: its order and regret.

    The benchmark's own unit (``metahp.bench``'s runner) does the same, but this harness also runs
    against older commits' library code, so it keeps its own copy of the loop.
    """
    problem = PoolProblem(target, min(budget, target.size))
    try:
        method.search(problem, state, stream_seed(suite.name, target.name, seed))
    except BudgetExhausted:
        pass
    curve = regret_curves([problem.order], target.y, budget)[0]
    return {"order": [int(i) for i in problem.order], "regret": [float(v) for v in curve]}


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
                        out[name][m][target.name] = _searched(method, state, suite, target, budget, SEED)
                print(f"{name} {m}: {len(suite.tasks)} tasks, {time.perf_counter() - start:.1f} s", flush=True)
                done(out)
    return out


BUNDLED_METHODS = ("random", "tpe", "optuna-gp", "gp", "knn-tpe", "zeroshot", "cts", "scaling-law", "metahp-zs",
                   "metahp", "metahp-rgpe")
"""The protocol's methods (``DEFAULT_METHODS``) and RGPE; a method a family cannot run records its error's type."""
BUNDLED_SEEDS = 2
BUNDLED_BUDGET = 50


def bundled_replay(bundle: Path, methods: tuple[str, ...] = BUNDLED_METHODS, seeds: int = BUNDLED_SEEDS,
                   budget: int = BUNDLED_BUDGET,
                   done: Callable[[dict[str, Any]], None] = lambda out: None) -> dict[str, Any]:
    """Per family, method and ``task#seed``: the evaluated pool indices and the regret curve.

    As the benchmark's own unit does: a method is prepared once per target, then searched once per
    seed with the protocol's stream seed.
    """
    from metahp.kb import KnowledgeBase

    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="metahp-equiv-") as tmp:
        os.environ["METAHP_HOME"] = str(Path(tmp) / "home")
        store = Path(tmp) / "seed.duckdb"
        kb = KnowledgeBase(store)
        kb.import_(bundle)
        families = kb.families()
        kb.close()
        for name in families:
            suite = load_suite(store, name)
            out[name] = {}
            for m in methods:
                method = get_method(m)
                out[name][m] = {}
                start = time.perf_counter()
                for target in suite.tasks:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        try:
                            state = method.prepare(suite, target)
                        except Exception as error:  # noqa: BLE001 - a method this family cannot run
                            out[name][m][target.name] = {"order": [], "regret": [], "error": type(error).__name__}
                            continue
                        for s in range(seeds):
                            out[name][m][f"{target.name}#{s}"] = _searched(method, state, suite, target, budget, s)
                print(f"{name} {m}: {len(suite.tasks)} tasks, {time.perf_counter() - start:.1f} s", flush=True)
                done(out)
    return out


DEMO_VOLATILE = (re.compile(r"^knowledge base: \S+"), re.compile(r"demo finished in \d+ s"),
                 re.compile(r"plot: \S+"), re.compile(r"are in \S+$"), re.compile(r"\(\d+(\.\d+)? s\)"))
"""What differs between two runs of the same code: the store's path, wall time and the plot's time stamp."""
SECONDS = re.compile(r"\s+\d+\.\d$")
"""The verify table's last column (seconds per training)."""
STAMP = re.compile(r"\d{8}-\d{6}")
"""The time stamp in the warm study's name (its trials' task and source)."""


STORED = ("config", "objective", "value", "status", "fidelity", "seed", "source", "contributed", "curve")
"""What the demo stores of each trial that does not depend on the clock (not its cost, time stamps or study id);
``stored`` holds the demo task's trials, ``contributed`` every trial the demo marked for export (its warm search
and its runs)."""


def _steady(lines: list[str]) -> list[str]:
    out, section = [], ""
    for line in lines:
        section = line[:5] if line.startswith("== ") else section
        for pattern in (*DEMO_VOLATILE, SECONDS) if section == "== 3." else DEMO_VOLATILE:
            line = pattern.sub(" <volatile>" if pattern is SECONDS else "<volatile>", line)
        out.append(line)
    return out


def demo_run(bundle: Path, budget: int = 20) -> dict[str, Any]:
    """The demo on a store imported from ``bundle``: its report and what it recommended, searched and stored."""
    from metahp.kb import KnowledgeBase

    try:
        from metahp.app import run_demo
    except ImportError:  # before the workflows moved to metahp.app
        from metahp.demo import run_demo  # type: ignore[import-not-found,no-redef]

    lines: list[str] = []
    with tempfile.TemporaryDirectory(prefix="metahp-equiv-") as tmp:
        os.environ["METAHP_HOME"] = str(Path(tmp) / "home")
        kb = KnowledgeBase(Path(tmp) / "seed.duckdb")
        kb.import_(bundle)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = run_demo(kb, k=5, n_verify=1, n_search=3, seed=0, budget=budget, progress=False,
                              out_dir=Path(tmp) / "plots", log=lambda text: lines.extend(text.splitlines()))
        rows = kb.trials().to_dict("records")
        stored = sorted(json.dumps({k: row.get(k) for k in STORED}, sort_keys=True, default=str) for row in rows
                        if row["task"] == result["task"])
        search = sorted(json.dumps({k: row.get(k) for k in ("task", *STORED)}, sort_keys=True, default=str)
                        for row in rows if row["contributed"])
    recs = [{"config": r.config, "score": r.score, "std": r.std} for r in result["recommendations"]]
    return {"report": _steady(lines), "recommendations": recs,
            "warm_best": result["warm_best"], "cold_best": result["cold_best"], "stored": stored,
            "contributed": search}


def compare_demo(before: dict[str, Any], after: dict[str, Any]) -> tuple[str, bool]:
    """Which parts of two demo runs are identical, as markdown rows."""
    def steady(part: str, value: Any) -> Any:
        if part == "report":
            return [re.sub(r"\s+<volatile>", " <volatile>", line) for line in value]
        return sorted(STAMP.sub("<stamp>", v) for v in value) if part in ("stored", "contributed") else value

    before = {part: steady(part, value) for part, value in before.items()}
    after = {part: steady(part, value) for part, value in after.items()}
    rows = ["| part | identical |", "|---|---|"]
    same_all = True
    for part in ("report", "recommendations", "warm_best", "cold_best", "stored", "contributed"):
        if part not in before or part not in after:
            rows.append(f"| {part} | not recorded on both sides |")
            continue
        same = before[part] == after[part]
        same_all &= same
        rows.append(f"| {part} | {'yes' if same else 'NO'} |")
    diff = [f"- `{a}` / `{b}`" for a, b in zip(before["report"], after["report"], strict=False) if a != b]
    return "\n".join(rows + ([""] + diff[:20] if diff else [])), same_all


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
            orders = sum(tasks[t]["order"] == other.get(t, {}).get("order")
                         and tasks[t].get("error") == other.get(t, {}).get("error") for t in tasks)
            curves = sum(tasks[t]["regret"] == other.get(t, {}).get("regret") for t in tasks)
            diff = max((max((abs(a - b) for a, b in zip(tasks[t]["regret"], other[t]["regret"], strict=True)),
                            default=0.0)
                        for t in tasks if t in other and len(tasks[t]["regret"]) == len(other[t]["regret"])),
                       default=float("nan"))
            same_all &= orders == curves == len(tasks)
            rows.append(f"| {suite} | {m} | {len(tasks)} | {orders} | {curves} | {diff:.3g} |")
    return "\n".join(rows), same_all


def compare_matrix(before: dict[str, Any], after: dict[str, Any]) -> tuple[str, bool]:
    """Identical replays (same pool order, same error) per family (rows) and method (columns), as markdown."""
    methods = list(dict.fromkeys(m for ms in before.values() for m in ms))
    rows = ["| family | " + " | ".join(methods) + " |", "|---|" + "---:|" * len(methods)]
    same_all = True
    for family, ms in before.items():
        cells = []
        for m in methods:
            tasks, other = ms.get(m, {}), after.get(family, {}).get(m, {})
            same = sum(t in other and v["order"] == other[t]["order"] and v.get("error") == other[t].get("error")
                       for t, v in tasks.items())
            same_all &= same == len(tasks) and set(tasks) == set(other)
            cells.append(f"{same}/{len(tasks)}" if same == len(tasks) and set(tasks) == set(other)
                         else f"**{same}/{len(tasks)}**")
        rows.append(f"| {family} | " + " | ".join(cells) + " |")
    return "\n".join(rows), same_all


def main() -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="JSON file for this run's replays")
    parser.add_argument("--compare", help="JSON file of an earlier run to compare against")
    parser.add_argument("--md", help="markdown file for the comparison")
    parser.add_argument("--note", default="", help="a paragraph to put above the table")
    parser.add_argument("--compare-only", action="store_true", help="compare the existing --out file, replay nothing")
    parser.add_argument("--label", help="the commit this tree is of (default: git rev-parse; a git archive has none)")
    parser.add_argument("--matrix", action="store_true",
                        help="with --compare: print identical replays per family and method (the --bundled table)")
    parser.add_argument("--ideas", action="store_true",
                        help="instead: transfer_ideas.py's variants on 3 svm tasks (budget 12) into --out")
    parser.add_argument("--bundled", metavar="BUNDLE", type=Path,
                        help="instead: the bundled run on a store imported from this bundle folder into --out")
    parser.add_argument("--demo", metavar="BUNDLE", type=Path,
                        help="instead: the demo on a store imported from this bundle folder into --out")
    parser.add_argument("--demo-budget", type=int, default=20, help="--demo: training steps per run (default 20)")
    args = parser.parse_args()
    commit = args.label or subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                                          text=True).stdout.strip()
    started = time.perf_counter()
    def write(out: dict[str, Any]) -> None:
        Path(args.out).write_text(json.dumps({"commit": commit, "replays": out}))

    if args.demo or (args.compare_only and "demo" in json.loads(Path(args.out).read_text())):
        if args.demo:
            run = demo_run(args.demo.resolve(), args.demo_budget)
            Path(args.out).write_text(json.dumps({"commit": commit, "demo": run}, default=str))
        if args.compare:
            table, same = compare_demo(json.loads(Path(args.compare).read_text())["demo"],
                                       json.loads(Path(args.out).read_text())["demo"])
            print(table)
            return 0 if same else 1
        return 0
    if args.ideas:
        Path(args.out).write_text(json.dumps({"commit": commit, "ideas": ideas_curves()}))
        return 0
    if args.compare_only:
        result = json.loads(Path(args.out).read_text())["replays"]
        commit = json.loads(Path(args.out).read_text())["commit"]
    elif args.bundled:
        result = bundled_replay(args.bundled.resolve(), done=write)
        write(result)
    else:
        result = replay(SUITES, METHODS, BUDGET, write)
        write(result)
    print(f"wrote {args.out} ({time.perf_counter() - started:.0f} s)")
    if args.compare:
        before = json.loads(Path(args.compare).read_text())
        # Compare what both runs finished.
        if args.matrix:
            table, same = compare_matrix(before["replays"], result)
            print(f"{before['commit']} -> {commit}\n\n{table}\n\nAll identical: **{'yes' if same else 'NO'}**.")
            return 0 if same else 1
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
