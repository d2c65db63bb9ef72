"""Bulk insert of 1,000,000 trials and a per-task query, on an on-disk knowledge base.

Run: ``.venv/bin/python benchmarks/speed_kb.py [--trials 1000000] [--tasks 1000]``; writes
``benchmarks/results/speed_kb.md``. Targets (issue 2): insert under 10 s, query under 50 ms.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from metahp import Categorical, Float, Int, KnowledgeBase, SearchSpace

SPACE = SearchSpace([
    Float("learning_rate", 1e-5, 1e-1, log=True),
    Int("batch_size", 8, 1024, log=True),
    Float("weight_decay", 0.0, 0.3),
    Categorical("optimizer", ("adamw", "sgd", "rmsprop")),
])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=1_000_000)
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "speed_kb.md"))
    args = parser.parse_args()
    per_task = args.trials // args.tasks
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        kb = KnowledgeBase(Path(tmp) / "kb.duckdb")
        names = [f"task-{i:05d}" for i in range(args.tasks)]
        t0 = time.perf_counter()
        with kb.session():
            for i, name in enumerate(names):
                kb.add_task(name, family="bench", space=SPACE, meta_features={"model_params": 1e6 * (i + 1)})
        t_tasks = time.perf_counter() - t0
        frames = []
        for _ in names:
            frames.append(pd.DataFrame({
                "learning_rate": 10 ** rng.uniform(-5, -1, per_task),
                "batch_size": np.round(2 ** rng.uniform(3, 10, per_task)).astype(int),
                "weight_decay": rng.uniform(0, 0.3, per_task),
                "optimizer": rng.choice(["adamw", "sgd", "rmsprop"], per_task),
                "objective": rng.normal(3, 0.5, per_task),
            }))
        t0 = time.perf_counter()
        with kb.session():
            for name, frame in zip(names, frames):
                kb.add_trials(name, frame)
        t_insert = time.perf_counter() - t0
        total = kb.count_trials()
        # The other bulk path: a few large batches (10 tasks x 100,000 trials) into a second store.
        big_kb = KnowledgeBase(Path(tmp) / "big.duckdb")
        per_big = args.trials // 10
        t0 = time.perf_counter()
        with big_kb.session():
            for i in range(10):
                big_kb.add_task(f"big-{i}", family="bench", space=SPACE)
                big_kb.add_trials(f"big-{i}", pd.concat(frames[i * (len(frames) // 10):(i + 1) * (len(frames) // 10)],
                                                        ignore_index=True))
        t_big = time.perf_counter() - t0
        big_total = big_kb.count_trials()
        timings, held = [], []
        for name in rng.choice(names, 30, replace=False):
            t0 = time.perf_counter()
            frame = kb.trials(str(name))
            timings.append(time.perf_counter() - t0)
            assert len(frame) == per_task
        with kb.session():  # one open connection, as inside a study or a service
            for name in rng.choice(names, 30, replace=False):
                t0 = time.perf_counter()
                kb.trials(str(name))
                held.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        family = kb.trials(family="bench")
        t_family = time.perf_counter() - t0
        size = os.path.getsize(Path(tmp) / "kb.duckdb")
    rate = total / t_insert
    lines = [
        "# Knowledge-base speed",
        "",
        f"Command: `.venv/bin/python benchmarks/speed_kb.py --trials {args.trials} --tasks {args.tasks}`",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"on-disk DuckDB store ({size / 1e6:.0f} MB after the run).",
        "",
        "| measurement | value | target |",
        "| --- | --- | --- |",
        f"| add {args.tasks} tasks | {t_tasks:.2f} s | |",
        f"| bulk insert of {total:,} trials ({args.tasks} batches of {per_task:,}, validated, hashed, deduplicated) "
        f"| {t_insert:.2f} s ({rate:,.0f} trials/s) | < 10 s |",
        f"| bulk insert of {big_total:,} trials (10 batches of {per_big:,}) | {t_big:.2f} s "
        f"({big_total / t_big:,.0f} trials/s) | < 10 s |",
        f"| per-task query (`kb.trials(name)`, {per_task} rows), median of 30 | "
        f"{statistics.median(timings) * 1000:.1f} ms (max {max(timings) * 1000:.1f} ms), opening the file each "
        f"time | < 50 ms |",
        f"| the same inside `kb.session()` (connection held), median of 30 | "
        f"{statistics.median(held) * 1000:.1f} ms (max {max(held) * 1000:.1f} ms) | < 50 ms |",
        f"| whole-family query ({len(family):,} rows, configs expanded to columns) | {t_family:.2f} s | |",
        "",
    ]
    Path(args.out).write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
