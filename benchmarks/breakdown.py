"""Per-task breakdown of a transfer suite: which tasks hold a method's mean regret up.

The transfer benchmark reports means over tasks and seeds; a speed-up target missed by a
mean can be a few tasks or all of them. This replays the given methods on every task of one
suite (the protocol's leave-one-task-out pool replay, the same random streams), then writes:

- each method's mean regret curve, and the first T at which it reaches cold GP's 50-trial
  mean regret (floored at 0.0005, as the protocol's speed-up does) when ``gp`` is among
  the methods;
- the *per-task best of the methods* curve: what a perfect per-task choice between them
  would reach (an upper bound for any weighting of the two);
- the tasks contributing most to the mean regret at T = 10.

Usage:
    .venv/bin/python benchmarks/breakdown.py --suite svm --methods gp,metahp,metahp-rgpe --seeds 2
        [--external ../shared/external] [--out benchmarks/results/breakdown_svm.md]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def _unit_star(args: tuple) -> tuple:
    """The transfer benchmark's own unit of work (one target task, every method and seed)."""
    from metahp.bench._runner import _run_unit

    return _run_unit(*args)


def _reach(curve: np.ndarray, level: float) -> int | None:
    hit = np.flatnonzero(curve <= level + 1e-12)
    return int(hit[0]) + 1 if hit.size else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--suite", default="svm")
    parser.add_argument("--methods", default="gp,metahp,metahp-rgpe")
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--budget", type=int, default=50)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--external",
                        default=os.environ.get("METAHP_EXTERNAL", str(ROOT.parent / "shared" / "external")))
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    methods = args.methods.split(",")
    out = Path(args.out or ROOT / "benchmarks" / "results" / f"breakdown_{args.suite}.md")

    from metahp.bench import build_external_kb, load_suite
    from metahp.bench._metrics import SPEEDUP_FLOOR, regret_curves
    from metahp.bench._runner import _init_worker

    started = time.perf_counter()
    folder = tempfile.mkdtemp(prefix="metahp-breakdown-")
    os.environ.setdefault("METAHP_HOME", str(Path(folder) / "home"))
    suite = load_suite(build_external_kb(folder, args.suite, args.external), args.suite)
    tasks = [t.name for t in suite.tasks]
    by_task = {t.name: t for t in suite.tasks}
    curves: dict[str, list[np.ndarray]] = {m: [np.empty(0)] * len(tasks) for m in methods}  # per task: seeds x T
    # The benchmark's own unit (prepare, one replay per seed on the protocol's streams) in its own workers.
    with multiprocessing.get_context("spawn").Pool(args.workers, _init_worker, ({suite.name: suite},)) as pool:
        units = [(suite.name, t, methods, args.seeds, args.budget) for t in tasks]
        for done, (_, name, res) in enumerate(pool.imap_unordered(_unit_star, units), start=1):
            for m, unit in res.items():
                if unit.error:
                    raise SystemExit(f"{m} failed on {name}:\n{unit.error}")
                curves[m][tasks.index(name)] = regret_curves(unit.orders, by_task[name].y, args.budget)
            print(f"[{time.perf_counter() - started:6.0f}s] {name} ({done}/{len(tasks)})", file=sys.stderr)
    R = {m: np.array(per_task) for m, per_task in curves.items()}  # t x s x T
    mean = {m: R[m].mean(axis=(0, 1)) for m in methods}
    level = max(float(mean["gp"][-1]), SPEEDUP_FLOOR) if "gp" in mean else None
    warm = [m for m in methods if m != "gp"]
    best_of = np.minimum.reduce([R[m] for m in warm]) if len(warm) > 1 else None

    def row(label: str, curve: np.ndarray) -> str:
        cells = " | ".join(f"{curve[T - 1]:.4f}" for T in (1, 3, 5, 10, 15, 20, 50))
        reach = _reach(curve, level) if level is not None else None
        return f"| {label} | {cells} | {reach if reach is not None else '—'} |"

    lines = [
        f"# Per-task breakdown: {args.suite}",
        "",
        f"Made by `.venv/bin/python benchmarks/breakdown.py --suite {args.suite} --methods {args.methods} "
        f"--seeds {args.seeds}` ({len(tasks)} tasks × {args.seeds} seeds, budget {args.budget}, "
        f"{time.perf_counter() - started:.0f} s on {args.workers} processes). Leave-one-task-out pool replay with "
        "the protocol's random streams (`docs/BENCHMARK_PROTOCOL.md`).",
        "",
        "Mean normalised regret at T; the last column is the first T at which the mean reaches cold GP's "
        + (f"50-trial mean regret ({level:.4f})." if level is not None else "final regret (no gp run)."),
        "",
        "| method | T=1 | T=3 | T=5 | T=10 | T=15 | T=20 | T=50 | reaches gp@50 at T |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    lines += [row(m, mean[m]) for m in methods]
    if best_of is not None:
        lines.append(row("per-task best of " + " / ".join(warm) + " (bound)", best_of.mean(axis=(0, 1))))
    lines += [
        "",
        "Tasks contributing most to the mean regret at T = 10 (each adds its regret / number of tasks to the mean):",
        "",
        "| task | " + " | ".join(f"{m} T=10" for m in methods)
        + " | distinct values in pool | configurations at the best |",
        "| --- | " + " | ".join("---:" for _ in methods) + " | ---: | ---: |",
    ]
    main_method = warm[0] if warm else methods[0]
    at10 = {m: R[m][:, :, 9].mean(axis=1) for m in methods}
    by_task = {t.name: t for t in suite.tasks}
    for i in np.argsort(-at10[main_method])[:10]:
        t = by_task[tasks[i]]
        cells = " | ".join(f"{at10[m][i]:.3f}" for m in methods)
        lines.append(f"| {tasks[i]} | {cells} | {len(np.unique(t.y))} | {int((t.y == np.nanmin(t.y)).sum())} |")
    top = np.sort(at10[main_method])[::-1]
    lines += [
        "",
        f"The 5 largest contribute {top[:5].sum() / len(tasks):.4f} of {main_method}'s mean T=10 regret "
        f"{at10[main_method].mean():.4f}.",
    ]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
