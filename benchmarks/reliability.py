"""Long variants of the reliability tests: many writers, many kill points, many fuzz cases.

Run: ``.venv/bin/python benchmarks/reliability.py [--writers 8] [--kills 20] [--fuzz 500]``;
writes ``benchmarks/results/reliability.md``. ``--only bounded [--old-code PATH]`` runs just the
hostile bundles and tables (rows claimed, seconds and peak memory each, the bound that applies),
also on an older checkout's package for comparison, and replaces that section of the report.
The checks are those of ``tests/reliability`` (whose harness this imports); any violation
stops the run with an ``AssertionError``.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import platform
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "reliability"))

import _fuzz  # noqa: E402
import _harness as h  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402

from metahp import KnowledgeBase  # noqa: E402

EXTERNAL = Path(os.environ.get("METAHP_EXTERNAL", ROOT.parent / "shared" / "external"))
BOUNDED_HEADING = "## Bounded input: hostile bundles and tables (issue 20)"
BOUNDED_END = "<!-- end of the bounded-input cases -->"


def _reset(path: Path) -> None:
    for leftover in path.parent.glob(path.name + "*"):
        leftover.unlink()
    h.prepare_store(path)


def _batches_left(kb: KnowledgeBase, tag: int, size: int, committed: int) -> int:
    mine = h.objectives(kb, h.TASK, seed=tag)
    assert len(mine) % size == 0, f"partial batch: {len(mine)} rows"
    assert committed * size <= len(mine) <= (committed + 1) * size, "a committed batch was lost"
    assert np.array_equal(mine, np.arange(len(mine), dtype=float))
    assert np.array_equal(h.objectives(kb, "crash/keep"), np.arange(10, dtype=float))
    return len(mine) // size


def concurrency(tmp: Path, writers: int, batches: int, batch: int) -> dict[str, Any]:
    """``writers`` processes mixing add_trials, bundle imports and a source import, plus a polling reader."""
    shared = "stress/shared"
    bundles = [h.make_bundle(tmp / f"bundle{b}", f"bundle{b}", 3, 2000, tag=100 * (b + 1)) for b in range(2)]
    steplaw = str(EXTERNAL / "steplaw" / "dense_lr_bs_loss.csv")
    plans = []
    for w in range(writers):
        ops: list[list[Any]] = [["add", shared, w, batches, batch], ["add", f"stress/own{w}", 50 + w, 5, 100],
                                ["import", str(bundles[w % 2])]]
        if w < 2:
            ops.append(["source", "steplaw", steplaw])
        plans.append(ops if w % 2 == 0 else ops[::-1])
    path = tmp / "stress.duckdb"
    kb = KnowledgeBase(path)
    reference = KnowledgeBase(":memory:")
    for store in (kb, reference):
        for name in (shared, *(f"stress/own{w}" for w in range(writers))):
            store.add_task(name, family="stress", space=h.SPACE)
    stop = tmp / "stop"
    reader = h.start("reader", path=str(path), task=shared, stop=str(stop), interval=0.02)
    reader.wait_for("ready")
    began = time.perf_counter()
    children = [h.start("ops", path=str(path), ops=ops) for ops in plans]
    codes = [c.finish(timeout=1200) for c in children]
    seconds = time.perf_counter() - began
    stop.touch()
    assert reader.finish(timeout=120) == 0 and codes == [0] * writers, [c.stderr()[-500:] for c in children]
    done: set[str] = set()
    for ops in plans:
        for op in ops:
            if json.dumps(op) in done:
                continue
            done.add(json.dumps(op))
            if op[0] == "add":
                for k in range(op[3]):
                    reference.add_trials(op[1], h.batch(op[2], k, op[4]))
            elif op[0] == "import":
                reference.import_(op[1])
            else:
                reference.import_source(op[1], op[2])
    got, want = kb.trials(), reference.trials()
    assert sorted(got["content_hash"]) == sorted(want["content_hash"]) and got["content_hash"].is_unique
    seen = json.loads(next(line for line in reader.lines if line.startswith("seen")).split(" ", 1)[1])
    assert all(n % batch == 0 for n in seen), "a reader saw part of a batch"
    return {"writers": writers, "trials": len(got), "lost": len(want) - len(got), "seconds": seconds,
            "reads": len(seen), "distinct_counts_seen": len(set(seen)),
            "partial_reads": sum(n % batch != 0 for n in seen)}


def crash_bulk(tmp: Path, kills: int, size: int, batches: int) -> dict[str, Any]:
    path = tmp / "bulk.duckdb"
    _reset(path)
    began = time.perf_counter()  # calibrate: kill points spread over the child's whole run and a bit beyond
    KnowledgeBase(path).add_trials(h.TASK, h.batch(10_000, 0, size))
    max_delay = 1.2 * batches * (time.perf_counter() - began)
    rng, reopen = random.Random(1), []
    left: collections.Counter[int] = collections.Counter()
    for kill in range(kills):
        if KnowledgeBase(path).count_trials() > 4 * size:
            _reset(path)
        child, seconds = h.crash_once("batches", path, rng.uniform(0.1, max_delay), task=h.TASK, tag=kill,
                                      size=size, batches=batches)
        left[_batches_left(KnowledgeBase(path), kill, size, child.committed())] += 1
        reopen.append(seconds)
    return {"kills": kills, "rows_per_batch": size, "batches_left": dict(sorted(left.items())),
            "max_delay_s": max_delay, "max_reopen_s": max(reopen)}


def crash_small(tmp: Path, kills: int, size: int, max_delay: float) -> dict[str, Any]:
    path = tmp / "small.duckdb"
    _reset(path)
    rng, left, reopen = random.Random(2), [], []
    for kill in range(kills):
        child, seconds = h.crash_once("batches", path, rng.uniform(0.3, max_delay), task=h.TASK, tag=kill,
                                      size=size, batches=1_000_000)
        left.append(_batches_left(KnowledgeBase(path), kill, size, child.committed()))
        reopen.append(seconds)
    return {"kills": kills, "rows_per_batch": size, "batches_left_min": min(left), "batches_left_max": max(left),
            "max_reopen_s": max(reopen)}


def crash_import(tmp: Path, kills: int, tasks: int, per_task: int) -> dict[str, Any]:
    bundle = h.make_bundle(tmp / "big-bundle", "big", tasks, per_task, tag=500)
    path = tmp / "import.duckdb"
    _reset(path)
    began = time.perf_counter()  # calibrate: kill points spread over a whole import and a bit beyond
    KnowledgeBase(tmp / "calibrate.duckdb").import_(bundle)
    max_delay = 1.3 * (time.perf_counter() - began)
    rng, reopen = random.Random(3), []
    outcomes: collections.Counter[str] = collections.Counter()
    total = tasks * per_task
    for _ in range(kills):
        child, seconds = h.crash_once("import", path, rng.uniform(0.1, max_delay), bundle=str(bundle))
        kb = KnowledgeBase(path)
        present = [kb.has_task(f"big/{i}") for i in range(tasks)]
        stored = sum(kb.count_trials(f"big/{i}") for i in range(tasks) if present[i])
        assert stored in (0, total) and all(present) == (stored == total) and any(present) == all(present)
        assert stored == total or child.committed() == 0
        outcomes["whole" if stored else "nothing"] += 1
        reopen.append(seconds)
        if stored:
            _reset(path)
    return {"kills": kills, "bundle_trials": total, "outcomes": dict(outcomes), "max_delay_s": max_delay,
            "max_reopen_s": max(reopen)}


def crash_study(tmp: Path, kills: int, max_delay: float) -> dict[str, Any]:
    rng, resumed = random.Random(4), []
    for kill in range(kills):
        path = tmp / f"study{kill}.duckdb"
        h.prepare_store(path)
        child, _ = h.crash_once("study", path, rng.uniform(0.5, max_delay), name="s", trials=100_000)
        study = h.make_study(KnowledgeBase(path), "s")
        n = len(study.trials)
        assert child.committed() <= n <= child.committed() + 1
        assert all(t.value == h.study_objective(t.params) for t in study.trials)
        trial = study.ask()
        assert trial.number == n
        study.tell(trial, h.study_objective(trial.params))
        assert KnowledgeBase(path).count_trials("study/s") == n + 1
        resumed.append(n)
    return {"kills": kills, "trials_resumed_min": min(resumed), "trials_resumed_max": max(resumed)}


def fuzz_bundles(n: int) -> dict[str, Any]:
    base = _fuzz.base_bundle()
    outcomes: collections.Counter[str] = collections.Counter()

    @settings(max_examples=n, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(_fuzz.bundle_cases(base))
    def run(case: dict[str, Any]) -> None:
        kb = KnowledgeBase(":memory:")
        folder = Path(tempfile.mkdtemp())
        try:
            outcomes[_fuzz.run_bundle_case(kb, folder / "b", case)] += 1
        finally:
            shutil.rmtree(folder)

    run()
    return {"cases": sum(outcomes.values()), "outcomes": dict(outcomes.most_common())}


def fuzz_sources(tmp: Path, per_kind: int) -> dict[str, Any]:
    root = _fuzz.copy_sources(EXTERNAL, tmp / "sources")
    outcomes: dict[str, collections.Counter[str]] = {}
    for source in _fuzz.SOURCES:
        for kind in _fuzz.MUTATIONS:
            rng = random.Random(f"{source}/{kind}")
            for _ in range(per_kind):
                kb = KnowledgeBase(":memory:")
                outcomes.setdefault(source, collections.Counter())[
                    f"{kind}:{_fuzz.run_source_case(kb, root, source, kind, rng)}"] += 1
    return {"cases": sum(sum(c.values()) for c in outcomes.values()),
            "outcomes": {s: dict(sorted(c.items())) for s, c in outcomes.items()}}


# ------------------------------------------------------------------------- bounded input (issue 20)
_CASE_RUNNER = r"""
import json, os, sys, time
def rss(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) * 1024
    return 0
from metahp import KnowledgeBase
from metahp.errors import MetaHPError
kb = KnowledgeBase(":memory:")
kind, target = sys.argv[1], sys.argv[2]
options = json.loads(sys.argv[4])
before = rss("VmRSS:")
began = time.perf_counter()
try:
    if kind == "bundle":
        result = kb.import_(target, **options)
    else:
        result = kb.import_source("table", target, **options)
    outcome = f"ok ({result.added_trials} trials added)"
except MetaHPError as exc:
    outcome = f"{type(exc).__name__}: {str(exc)[:160]}"
except Exception as exc:
    outcome = f"UNTYPED {type(exc).__name__}: {str(exc)[:160]}"
print(json.dumps({"outcome": outcome, "seconds": time.perf_counter() - began,
                  "peak_mb": (rss("VmHWM:") - before) / 2**20}))
"""


def _run_case(kind: str, target: Path, options: dict[str, Any], code: Path, timeout: float) -> dict[str, Any]:
    """Import ``target`` in a fresh process running the metahp at ``code``; outcome, seconds, extra peak RSS."""
    import subprocess

    env = {**os.environ, "PYTHONPATH": str(code), "OMP_NUM_THREADS": "1"}
    try:
        done = subprocess.run([sys.executable, "-c", _CASE_RUNNER, kind, str(target), "-", json.dumps(options)],
                              capture_output=True, text=True, timeout=timeout, env=env, cwd=str(code))
    except subprocess.TimeoutExpired:
        return {"outcome": f"still running after {timeout:.0f} s (killed)", "seconds": timeout, "peak_mb": None}
    if done.returncode != 0 or not done.stdout.strip():
        return {"outcome": f"crashed (exit {done.returncode}): {done.stderr.strip()[-160:]}", "seconds": None,
                "peak_mb": None}
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _hostile_inputs(tmp: Path) -> list[tuple[str, str, Path, dict[str, Any], str, int]]:
    """(case, kind, path, options, bound that applies, rows claimed) for each hostile input."""
    import hashlib

    import pyarrow as pa
    import pyarrow.parquet as pq

    def rehash(folder: Path, rows: int) -> None:
        manifest = json.loads((folder / "manifest.json").read_text())
        for name in manifest["files"]:
            manifest["files"][name] = hashlib.sha256((folder / name).read_bytes()).hexdigest()
        manifest["trials"] = rows
        (folder / "manifest.json").write_text(json.dumps(manifest))

    base = _fuzz.base_bundle()
    cases: list[tuple[str, str, Path, dict[str, Any], str, int]] = []

    bomb = _fuzz.write_bundle(tmp / "bomb", *base)
    one = pq.read_table(bomb / "trials-00000.parquet").slice(0, 1)
    rows = 2_000_000
    index = pa.array(np.zeros(rows, dtype=np.int32))
    pq.write_table(pa.table({n: pa.nulls(rows, one.column(n).type) if one.column(n).null_count
                             else pa.DictionaryArray.from_arrays(index, one.column(n).combine_chunks())
                             for n in one.column_names}), bomb / "trials-00000.parquet")
    rehash(bomb, rows)
    cases.append(("bundle: 2M identical dictionary-encoded trials", "bundle", bomb, {},
                  "16 bytes a trial (its content hash), on metadata", rows))

    groups = _fuzz.write_bundle(tmp / "groups", *base)
    table = pq.read_table(groups / "trials-00000.parquet")
    many = pa.concat_tables([table] * (20_000 // table.num_rows + 1)).slice(0, 20_000)
    pq.write_table(many, groups / "trials-00000.parquet", row_group_size=1)
    rehash(groups, many.num_rows)
    cases.append(("bundle: 20,000 one-row row groups", "bundle", groups, {},
                  "footer 16 MiB, 1,000 row groups a file, on metadata", many.num_rows))

    big = h.make_bundle(tmp / "big", "big", 2, 150_000, tag=7)
    cases.append(("bundle: 300,000 valid trials, max_trials=100,000", "bundle", big, {"max_trials": 100_000},
                  "max_trials, on metadata", 300_000))
    cases.append(("bundle: the same 300,000 valid trials, default bound", "bundle", big, {},
                  "5,000,000 trials; read in batches of 65,536", 300_000))

    tasks, trials = (_fuzz.copy_table(t) for t in base)
    trials["curve"][0] = "[" * 200_000 + "]" * 200_000
    cases.append(("bundle: a curve nested 200,000 deep", "bundle", _fuzz.write_bundle(tmp / "deep", tasks, trials), {},
                  "JSON depth 32, vectorised, per batch", len(trials["task"])))

    fifo = _fuzz.write_bundle(tmp / "fifo", *base)
    (fifo / "manifest.json").unlink()
    os.mkfifo(fifo / "manifest.json")
    cases.append(("bundle: manifest.json is a FIFO", "bundle", fifo, {}, "regular files only", 0))

    rows = 5_000_000
    zeros = pa.array(np.zeros(rows, dtype=np.int32))
    pq.write_table(pa.table({"data": pa.DictionaryArray.from_arrays(zeros, pa.array(["a"])),
                             "lr": pa.DictionaryArray.from_arrays(zeros, pa.array([1e-3])),
                             "loss": pa.DictionaryArray.from_arrays(zeros, pa.array([0.5]))}), tmp / "table.parquet")
    cases.append(("table: Parquet of 5M dictionary-encoded rows", "table", tmp / "table.parquet",
                  {"family": "t", "task_cols": ["data"], "param_cols": ["lr"], "objective": "loss"},
                  "2,000,000 rows (max_rows), on metadata", rows))
    return cases


def bounded(tmp: Path, old: Path | None, timeout: float) -> dict[str, Any]:
    """Each hostile input imported in a fresh process: outcome, seconds and extra peak RSS (and on ``old``)."""
    rows = []
    for case, kind, path, options, bound, claimed in _hostile_inputs(tmp):
        now = _run_case(kind, path, options, ROOT, timeout)
        before = _run_case(kind, path, {k: v for k, v in options.items() if k != "max_trials"}, old, timeout) \
            if old is not None else None
        assert not now["outcome"].startswith(("UNTYPED", "crashed", "still running")), (case, now)
        rows.append({"case": case, "rows": claimed, "bound": bound, "now": now, "before": before})
        print(case, json.dumps(now), json.dumps(before), flush=True)
    return {"cases": rows, "old": str(old) if old else None}


def _fmt(run: dict[str, Any] | None) -> str:
    if run is None:
        return "not run"
    if run["outcome"].startswith("still running"):
        return f"no answer within {run['seconds']:.0f} s (killed)"
    seconds = "" if run["seconds"] is None else f"{run['seconds']:.2f} s"
    peak = "" if run["peak_mb"] is None else f", +{run['peak_mb']:.0f} MB"
    return f"{run['outcome'].split(':')[0]}; {seconds}{peak}".replace("; ,", ";")


def bounded_section(args: argparse.Namespace, result: dict[str, Any]) -> list[str]:
    """The markdown section of the bounded-input cases."""
    old = " --old-code PATH" if result["old"] else ""
    lines = [
        BOUNDED_HEADING,
        "",
        "Each hostile input is imported into an in-memory store in a fresh process; seconds are the import call's "
        "wall time, MB the growth of the process's peak resident memory during it. \"Before\" is the code of "
        f"{args.old_rev} (issue 20 was filed against it), \"now\" this checkout. The machine (2 cores) was shared "
        "with other jobs, so seconds vary from run to run; the bounds themselves do not depend on it. Command:",
        "",
        "```",
        f".venv/bin/python benchmarks/reliability.py --only bounded{old} --case-timeout {args.case_timeout:g}",
        "```",
        "",
        "| hostile input | rows claimed | bound that applies | now | before |",
        "| --- | --- | --- | --- | --- |",
    ]
    for row in result["cases"]:
        lines.append(f"| {row['case']} | {row['rows']:,} | {row['bound']} | {_fmt(row['now'])} | "
                     f"{_fmt(row['before'])} |")
    lines += ["", "Outcomes in full (now):", ""]
    lines += [f"- {row['case']}: {row['now']['outcome']}" for row in result["cases"]]
    lines += ["", BOUNDED_END, ""]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--batches", type=int, default=20, help="batches per writer into the shared task")
    parser.add_argument("--kills", type=int, default=20, help="kill points per crash scenario")
    parser.add_argument("--bulk-rows", type=int, default=300_000)
    parser.add_argument("--fuzz", type=int, default=500, help="hypothesis bundle cases")
    parser.add_argument("--source-cases", type=int, default=10, help="cases per source and mutation")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "reliability.md"))
    parser.add_argument("--only", choices=["bounded"], default=None,
                        help="run only the bounded-input cases and replace their section of --out")
    parser.add_argument("--old-code", default=None, metavar="PATH",
                        help="a folder holding an older metahp package to run the bounded-input cases on too")
    parser.add_argument("--old-rev", default="9a329bc", help="what --old-code is (for the report)")
    parser.add_argument("--case-timeout", type=float, default=120.0, help="seconds before a bounded case is killed")
    args = parser.parse_args()
    results: dict[str, Any] = {}
    timings: dict[str, float] = {}
    old = Path(args.old_code).resolve() if args.old_code else None
    if args.only == "bounded":
        with tempfile.TemporaryDirectory() as name:
            result = bounded(Path(name), old, args.case_timeout)
        out = Path(args.out)
        text = out.read_text() if out.exists() else ""
        if BOUNDED_HEADING in text:
            head, _, rest = text.partition(BOUNDED_HEADING)
            text = head.rstrip("\n") + "\n\n" + rest.partition(BOUNDED_END)[2].lstrip("\n")
        out.write_text(text.rstrip("\n") + "\n\n" + "\n".join(bounded_section(args, result)))
        print(f"wrote {out}")
        return
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        steps = [
            ("concurrency", lambda: concurrency(tmp / "c", args.writers, args.batches, 17)),
            ("crash_bulk", lambda: crash_bulk(tmp / "b", args.kills, args.bulk_rows, 2)),
            ("crash_import", lambda: crash_import(tmp / "i", args.kills, 4, 25_000)),
            ("crash_small", lambda: crash_small(tmp / "s", args.kills, 7, 3.0)),
            ("crash_study", lambda: crash_study(tmp / "y", max(3, args.kills // 4), 3.0)),
            ("fuzz_bundles", lambda: fuzz_bundles(args.fuzz)),
            ("fuzz_sources", lambda: fuzz_sources(tmp / "f", args.source_cases)),
            ("bounded", lambda: bounded(tmp / "h", old, args.case_timeout)),
        ]
        for sub in ("c", "b", "i", "s", "y", "f", "h"):
            (tmp / sub).mkdir()
        for key, step in steps:
            began = time.perf_counter()
            results[key] = step()
            timings[key] = time.perf_counter() - began
            print(key, f"{timings[key]:.0f} s", json.dumps(results[key]), flush=True)
    write_report(Path(args.out), args, results, timings)


def write_report(out: Path, args: argparse.Namespace, r: dict[str, Any], t: dict[str, float]) -> None:
    c, b, i, s, y = (r[k] for k in ("concurrency", "crash_bulk", "crash_import", "crash_small", "crash_study"))
    fb, fs = r["fuzz_bundles"], r["fuzz_sources"]
    load = os.getloadavg()
    lines = [
        "# Reliability of the knowledge base (long variants of `tests/reliability`)",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores shared with other jobs (load average at the end "
        f"{load[0]:.1f}), Python {platform.python_version()}. Command:",
        "",
        "```",
        f".venv/bin/python benchmarks/reliability.py --writers {args.writers} --batches {args.batches} "
        f"--kills {args.kills} --bulk-rows {args.bulk_rows} --fuzz {args.fuzz} --source-cases {args.source_cases}",
        "```",
        "",
        "Every figure below comes with a check that held; a violation would have stopped the run.",
        "",
        "| scenario | what was done | result | time |",
        "| --- | --- | --- | --- |",
        f"| concurrent writers | {c['writers']} processes at once, each mixing `add_trials` batches of 17 into one "
        f"shared task and its own, a bundle import (two bundles, each imported by {c['writers'] // 2} writers) and, "
        f"for two of them, `import_source('steplaw')`; one reader polling `count_trials` | {c['trials']} trials "
        f"stored, {c['lost']} lost or doubled (content hashes equal to a sequential replay); {c['reads']} reads saw "
        f"{c['distinct_counts_seen']} different counts, {c['partial_reads']} of them a partial batch | "
        f"{c['seconds']:.0f} s |",
        f"| SIGKILL during bulk insert | {b['kills']} kill points in 0.1–{b['max_delay_s']:.1f} s, two batches of "
        f"{b['rows_per_batch']:,} rows | "
        f"whole batches left per kill: {b['batches_left']} (batches committed), never a partial one; "
        f"next writer got the lock within {b['max_reopen_s']:.2f} s | {t['crash_bulk']:.0f} s |",
        f"| SIGKILL during `import_` | {i['kills']} kill points in 0.1–{i['max_delay_s']:.1f} s, a bundle of "
        f"{i['bundle_trials']:,} trials | "
        f"outcomes {i['outcomes']}: all or nothing; lock free within {i['max_reopen_s']:.2f} s | "
        f"{t['crash_import']:.0f} s |",
        f"| SIGKILL during a loop of small `add_trials` | {s['kills']} kill points, batches of {s['rows_per_batch']} | "
        f"{s['batches_left_min']}–{s['batches_left_max']} whole batches kept, every committed one; lock free within "
        f"{s['max_reopen_s']:.2f} s | {t['crash_small']:.0f} s |",
        f"| SIGKILL a named `Study` | {y['kills']} kill points | resumed with {y['trials_resumed_min']}–"
        f"{y['trials_resumed_max']} finished trials, values exact, numbering continued | {t['crash_study']:.0f} s |",
        f"| fuzzed bundles (hypothesis) | {fb['cases']} bundles: random cell edits (SQL, quotes, NUL, unicode, "
        f"huge strings, NaN/inf, negative fidelity, unknown statuses), retyped or dropped columns, random "
        f"manifests | outcomes {fb['outcomes']}; no other exception, store unchanged after every error | "
        f"{t['fuzz_bundles']:.0f} s |",
        f"| damaged source files | {fs['cases']} imports of truncated, bit-flipped and oversized copies of the real "
        f"files in `../shared/external` (steplaw, svm, hpobench-mlp, fcnet, nmt, nmt's training-set sizes, a "
        f"table) | see below; only typed errors or clean imports | {t['fuzz_sources']:.0f} s |",
        "",
        "Outcomes of the damaged source files (mutation:outcome → count):",
        "",
    ]
    for source, outcomes in fs["outcomes"].items():
        lines.append(f"- `{source}`: " + ", ".join(f"{k} {v}" for k, v in outcomes.items()))
    raw = {k: v for k, v in r.items() if k != "bounded"}
    lines += ["", "Raw figures:", "", "```json", json.dumps({**raw, "seconds": t}, indent=1, default=str), "```", ""]
    if "bounded" in r:
        lines += bounded_section(args, r["bounded"])
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
