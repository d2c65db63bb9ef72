"""Issue 23's public reproduction: a warm-started search whose source tasks say nothing about the target.

Each external suite is replayed with the transfer benchmark's protocol (pool mode, leave the
target out, every task, its own random stream per (task, seed)), except that the knowledge
base the warm-started methods learn from is a copy in which every task's recorded objectives
are permuted across that task's configurations (a fixed seed per task). The target's pool
keeps its real objectives, so the sources carry no information about it: the best a
transfer method can do is notice that and search like a cold one.

Suites: ``svm`` (accuracies, many ties), ``hpobench-mlp``, ``fcnet`` (judged on log10 of
the MSE, as in the protocol) and ``hpobench-mlp-r2``, HPOBench's balanced accuracies rounded
to two decimals (as on an evaluation set of about a hundred examples), so that every task,
target and sources, has many ties. Methods: cold GP-BO (``gp``: ``metahp.Study`` without a
knowledge base) and ``metahp`` (the warm-started ``Study``), run by
:func:`metahp.bench.run_transfer` on the same splits and streams. The seed-to-seed spread is
the standard deviation, over the seeds, of the mean regret over tasks of each seed.

Usage::

    nice -n 10 .venv/bin/python benchmarks/uninformative_sources.py            # every task, 5 seeds
    nice -n 10 .venv/bin/python benchmarks/uninformative_sources.py --max-tasks 10 --seeds 3 --out /tmp/u

writes ``uninformative_sources.md`` and ``.json`` into ``--out`` (default ``benchmarks/results``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from metahp.bench import UNINFORMATIVE_SUITES as SUITES
from metahp.bench import find_external, run_transfer, uninformative_suite
from metahp.bench._report import provenance

METHODS = ("gp", "metahp")
REPORT_T = (5, 10, 25, 50)


def _spread(record: dict[str, Any], method: str, t: int) -> tuple[float, float, float, float]:
    """Mean, seed-to-seed standard deviation, min and max of the per-seed mean regret at ``t``."""
    entry = record["methods"][method]
    per_seed = np.asarray(entry["regret_by_seed"][str(t)], dtype=float)
    return float(entry["regret"][str(t)]), float(per_seed.std(ddof=1)) if per_seed.size > 1 else 0.0, \
        float(per_seed.min()), float(per_seed.max())


def markdown(records: dict[str, dict[str, Any]], command: str, meta: dict[str, Any]) -> str:
    """The results table: metahp against cold GP at each T, with cold GP's seed-to-seed spread."""
    lines = ["# Uninformative sources (issue 23)", "",
             "Pool replay as in `BENCHMARK_PROTOCOL.md` (leave the target out, its own stream per task and seed), "
             "but the knowledge base the warm start learns from has every task's objectives permuted across its "
             "configurations, so the sources say nothing about the target. Mean normalised regret over tasks × "
             "seeds; ± is the standard deviation over seeds of each seed's mean over tasks; `within` says whether "
             "metahp's mean is at most cold GP's mean plus cold GP's seed-to-seed standard deviation.", "",
             f"Command: `{command}`", "",
             f"git {meta['git_rev'][:10]}{' (dirty)' if meta.get('git_dirty') else ''}, {meta['generated_at']}, "
             f"{meta['wall_seconds']} s on {meta['cpus']} shared cores.", ""]
    head = ["suite", "tasks × seeds"] + [f"{m} @{t}" for t in REPORT_T for m in ("metahp", "gp")] + \
        ["within @25", "within @50"]
    lines += ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * 2 + ["---:"] * (len(head) - 2)) + "|"]
    for name, rec in records.items():
        if any(m not in rec["methods"] for m in METHODS):
            lines.append(f"| {name} | failed: {rec.get('failed_methods')} |")
            continue
        cells = [name, f"{rec['tasks']} × {rec['seeds']}"]
        within = []
        for t in REPORT_T:
            if t > rec["budget"]:
                cells += ["—", "—"]
                within += ["—"] if t in (25, 50) else []
                continue
            mh, mh_sd, _, _ = _spread(rec, "metahp", t)
            gp, gp_sd, _, _ = _spread(rec, "gp", t)
            cells += [f"{mh:.4f} ± {mh_sd:.4f}", f"{gp:.4f} ± {gp_sd:.4f}"]
            if t in (25, 50):
                within.append("yes" if mh <= gp + gp_sd else "no")
        lines.append("| " + " | ".join(cells + within) + " |")
    lines += ["", "Notes:"]
    for name, rec in records.items():
        lines += [f"- {name}: " + "; ".join(rec["notes"])]
    return "\n".join(lines) + "\n"


def comparison(before: dict[str, Any], after: dict[str, Any]) -> str:
    """Two runs' JSON (the same suites and sizes, code before and after a change) as one table."""
    lines = ["# Uninformative sources (issue 23): before and after", "",
             "Pool replay as in `BENCHMARK_PROTOCOL.md` (leave the target out, its own stream per task and seed), "
             "but the knowledge base the warm start learns from has every task's objectives permuted across its "
             "configurations, so the sources say nothing about the target (`benchmarks/uninformative_sources.py`). "
             "Mean normalised regret over tasks × seeds; ± is the standard deviation over seeds of each seed's mean "
             "over tasks; `within` says whether metahp's mean is at most cold GP's mean plus cold GP's seed-to-seed "
             "standard deviation.", ""]
    for label, run in (("before", before), ("after", after)):
        lines.append(f"- {label}: `{run['command']}` at git {run['git_rev'][:10]}"
                     f"{' (dirty)' if run.get('git_dirty') else ''}, {run['generated_at']}, {run['wall_seconds']} s "
                     f"on {run['cpus']} shared cores")
    lines += ["", "| suite | tasks × seeds | T | metahp before | metahp after | cold GP | within before "
              "| within after |", "|---|---|---:|---:|---:|---:|---|---|"]
    for name, rec in after["suites"].items():
        old = before["suites"].get(name)
        if old is None or any(m not in r["methods"] for r in (old, rec) for m in METHODS):
            lines.append(f"| {name} | missing or failed in one run | | | | | | |")
            continue
        for t in (10, 25, 50):
            if t > rec["budget"]:
                continue
            mb, mb_sd, _, _ = _spread(old, "metahp", t)
            ma, ma_sd, _, _ = _spread(rec, "metahp", t)
            gp, gp_sd, _, _ = _spread(rec, "gp", t)
            within = ["yes" if v <= gp + gp_sd else "no" for v in (mb, ma)] if t in (25, 50) else ["", ""]
            lines.append(f"| {name} | {rec['tasks']} × {rec['seeds']} | {t} | {mb:.4f} ± {mb_sd:.4f} | "
                         f"{ma:.4f} ± {ma_sd:.4f} | {gp:.4f} ± {gp_sd:.4f} | {within[0]} | {within[1]} |")
        if old["methods"]["gp"]["regret_curve"] != rec["methods"]["gp"]["regret_curve"]:
            lines.append(f"| {name} | cold GP differs between the runs (after's shown) | | | | | | |")
    lines += ["", "Notes:"]
    for name, rec in after["suites"].items():
        lines += [f"- {name}: " + "; ".join(rec["notes"])]
    return "\n".join(lines) + "\n"


def public_check(before_dir: Path, after_dir: Path) -> str:
    """The public suites (real sources) replayed before and after, from ``metahp bench transfer``'s JSON."""
    lines = ["", "## The public suites (real sources), before and after", ""]
    rows = ["| suite | tasks × seeds | T | metahp before | metahp after | cold GP |", "|---|---|---:|---:|---:|---:|"]
    commands = []
    for path in sorted(Path(after_dir).glob("transfer_*.json")):
        after = json.loads(path.read_text())
        before_path = Path(before_dir) / path.name
        if not before_path.exists():
            continue
        before = json.loads(before_path.read_text())
        commands += [f"- before: `{before.get('command')}` at git {before['git_rev'][:10]}, {before['generated_at']}",
                     f"- after: `{after.get('command')}` at git {after['git_rev'][:10]}, {after['generated_at']}"]
        for t in ("5", "10", str(after["budget"])):
            if t not in after["methods"]["metahp"]["regret"]:
                continue
            mb, ma = before["methods"]["metahp"]["regret"][t], after["methods"]["metahp"]["regret"][t]
            gp = after["methods"]["gp"]["regret"][t]
            rows.append(f"| {after['suite']} | {after['tasks']} × {after['seeds']} | {t} | {mb:.4f} | {ma:.4f} | "
                        f"{gp:.4f} |")
    return "\n".join(lines + list(dict.fromkeys(commands)) + [""] + rows) + "\n"


def _limits(text: str) -> dict[str, int]:
    """``"10"`` -> every suite 10; ``"svm=10,fcnet=4"`` -> those suites (the others: every task)."""
    if "=" not in text:
        return {"*": int(text)}
    return {name: int(k) for name, k in (part.split("=", 1) for part in text.split(","))}


def main(argv: list[str] | None = None) -> int:
    """Run the reproduction and write its table and JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suites", default=",".join(SUITES), help="comma-separated names of SUITES")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--budget", type=int, default=50)
    parser.add_argument("--max-tasks", default=None,
                        help="at most this many targets per suite, spread over it: N, or NAME=N,... per suite")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument("--work", default=None,
                        help="keep the suites' knowledge bases and meta-model cache in this folder (reused when "
                             "there) instead of a temporary one")
    parser.add_argument("--compare", nargs=2, metavar=("BEFORE", "AFTER"), default=None,
                        help="run nothing: write uninformative_sources.md comparing two runs' JSON")
    parser.add_argument("--public", nargs=2, metavar=("BEFORE_DIR", "AFTER_DIR"), default=None,
                        help="with --compare: add the public suites' transfer_*.json before and after")
    args = parser.parse_args(argv)
    if args.compare:
        before, after = (json.loads(Path(p).read_text()) for p in args.compare)
        text = comparison(before, after)
        if args.public:
            text += public_check(Path(args.public[0]), Path(args.public[1]))
        Path(args.out).mkdir(parents=True, exist_ok=True)
        (Path(args.out) / "uninformative_sources.md").write_text(text)
        print(text)
        return 0
    command = " ".join(["python", "benchmarks/uninformative_sources.py", *map(shlex.quote, argv or sys.argv[1:])])
    meta = provenance()
    started = time.perf_counter()
    external = find_external()
    with contextlib.ExitStack() as stack:
        tmp = args.work or stack.enter_context(tempfile.TemporaryDirectory(prefix="metahp-uninformative-"))
        suites = [uninformative_suite(Path(tmp) / name, name, external) for name in args.suites.split(",")]
        targets: dict[str, Sequence[str]] | None = None
        if args.max_tasks:
            limits = _limits(args.max_tasks)
            targets = {}
            for s in suites:
                names = [t.name for t in s.tasks]
                k = min(limits.get(s.name, limits.get("*", len(names))), len(names))
                targets[s.name] = [names[int(i * len(names) / k)] for i in range(k)]
        previous = os.environ.get("METAHP_HOME")
        os.environ["METAHP_HOME"] = str(Path(tmp) / "home")  # leave-one-out meta-models cached beside the copies
        try:
            records = run_transfer(suites, METHODS, seeds=args.seeds, budget=args.budget, workers=args.workers,
                                   targets=targets, progress=lambda line: print(line, flush=True))
        finally:
            if previous is None:
                os.environ.pop("METAHP_HOME", None)
            else:
                os.environ["METAHP_HOME"] = previous
    meta["wall_seconds"] = round(time.perf_counter() - started, 1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    payload = {"command": command, **meta, "max_tasks": args.max_tasks, "seeds": args.seeds, "suites": records}
    (out / "uninformative_sources.json").write_text(json.dumps(payload, indent=1) + "\n")
    text = markdown(records, command, meta)
    (out / "uninformative_sources.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
