"""Issue 23's diagnosis: where a warm-started search on uninformative sources differs from cold GP-BO.

Replays the warm-started ``Study`` (pool mode, leave the target out) on suites whose sources are
permuted (:func:`metahp.bench.uninformative_suite`) and records, at every step after the fifth:

- the prior mean's weight in the BO step (the larger of the ranking rules, ``FittedGP.weight``),
  the posterior support of the GP with the prior against the GP alone (``metahp.bo.prior_support``,
  where the library has it) and their product, the prior's *pull* on the step's acquisition;
- whether the step proposes the pool member that a cold ``Study`` given the same trials (fitted
  afresh) proposes. A cold study run through the same loop (``--mode cold``) gives the control: how
  often cold GP-BO agrees with itself refitted, which is well below 1 where many members tie.

It runs against whatever ``metahp`` is importable, so the same script measures older commits
(``PYTHONPATH=<a git archive>``); each run appends one JSON line to ``--out``; ``--report`` writes
the Markdown table from those lines.

Usage::

    .venv/bin/python benchmarks/stall_diagnosis.py --suite svm --label HEAD --out /tmp/d.jsonl
    PYTHONPATH=/tmp/old .venv/bin/python benchmarks/stall_diagnosis.py --suite svm --label old --out /tmp/d.jsonl
    .venv/bin/python benchmarks/stall_diagnosis.py --report /tmp/d.jsonl --md benchmarks/results/stall_diagnosis.md
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

BUCKETS = {"6-10": (6, 10), "11-25": (11, 25), "26-50": (26, 50)}
"""Steps (1-based trial numbers) grouped for the report."""


def _instrument() -> tuple[list[float], list[float]]:
    """Record each BO step's prior weight and prior support (lists appended to by the library's calls)."""
    import metahp.bo._gp as gp_module

    weights: list[float] = []
    supports: list[float] = []
    fitted_gp = gp_module.FittedGP

    def recording_fitted_gp(*args: Any, **kwargs: Any) -> Any:
        if "own" in kwargs:  # the step's GP (the GP alone built inside the evidence average has none)
            weights.append(float(kwargs["weight"]))
        return fitted_gp(*args, **kwargs)

    gp_module.FittedGP = recording_fitted_gp  # type: ignore[misc, assignment]
    try:
        import metahp.bo._evidence as evidence
    except ImportError:  # a commit before the evidence-weighted step
        return weights, supports
    support = evidence.prior_support

    def recording_support(with_prior: object, alone: object) -> float:
        value = support(with_prior, alone)
        supports.append(value)
        return value

    evidence.prior_support = recording_support  # type: ignore[assignment]
    return weights, supports


_SUITES = {"svm": ("svm", None), "hpobench-mlp": ("hpobench-mlp", None), "fcnet": ("fcnet", None),
           "hpobench-mlp-r2": ("hpobench-mlp", 2)}
"""``metahp.bench.UNINFORMATIVE_SUITES`` as of 6f67e67, for commits that lack it."""


def _files(work: Path, name: str) -> tuple[str, Path, Path]:
    """The family, real and permuted knowledge bases of suite ``name``, as ``uninformative_suite`` names them."""
    family, decimals = _SUITES[name]
    real = work / name / (f"{family}.duckdb" if decimals is None else f"{name}-real.duckdb")
    return family, real, work / name / f"{name}-permuted.duckdb"


def _suite(name: str, work: Path, real_sources: bool = False) -> Any:
    """The uninformative suite; on a commit without :mod:`metahp.bench._uninformative`, from a run's ``--work``.

    With ``real_sources`` the sources are the real tasks (the protocol's replay) instead of the permuted ones.
    """
    from metahp import bench

    family, real, permuted = _files(work, name)
    if hasattr(bench, "uninformative_suite"):
        suite = bench.uninformative_suite(work / name, name, bench.find_external())
    elif not permuted.exists():
        raise SystemExit(f"{permuted} is missing: run this script on a newer commit with --work {work} first")
    else:  # the files uninformative_suite built on a newer commit
        suite = dataclasses.replace(bench.load_suite(real, family), kb_path=str(permuted))
    return dataclasses.replace(suite, kb_path=str(real)) if real_sources else suite


def diagnose(suite_name: str, mode: str, n_tasks: int, seeds: int, budget: int, work: Path,
             real_sources: bool = False) -> dict[str, Any]:
    """Replay ``n_tasks`` targets spread over the suite, ``seeds`` each, and summarise the steps per bucket."""
    weights, supports = _instrument()
    from metahp.kb import KnowledgeBase
    from metahp.meta import fit_meta
    from metahp.study import Study

    suite = _suite(suite_name, work, real_sources)
    kb = KnowledgeBase(suite.kb_path)
    picks = [suite.tasks[int(i * len(suite.tasks) / n_tasks)] for i in range(n_tasks)]
    steps: dict[str, dict[str, list[float]]] = {
        b: {"weight": [], "support": [], "pull": [], "same": [], "plateau": [], "pull_on_plateau": []} for b in BUCKETS}
    regret: dict[int, list[float]] = {10: [], 25: [], 50: []}
    for target in picks:
        if mode == "warm":
            fit_meta(kb, "lgbm", exclude=[target.name], space=suite.space)
        lo, hi = float(target.y.min()), float(target.y.max())
        for seed in range(seeds):
            study = (Study(suite.space, task=target.name, kb=kb, exclude=[target.name], candidates=target.frame,
                           seed=seed) if mode == "warm" else Study(suite.space, candidates=target.frame, seed=seed))
            best = np.inf
            history: list[tuple[dict[str, Any], float]] = []
            for step in range(1, budget + 1):
                n_weights, n_supports = len(weights), len(supports)
                trial = study.ask()
                # Read before the cold study below appends its own (zero) weight.
                weight = weights[-1] if len(weights) > n_weights else None
                support = supports[-1] if len(supports) > n_supports else None
                if step >= 6:
                    bucket = next(k for k, (a, z) in BUCKETS.items() if a <= step <= z)
                    cold = Study(suite.space, candidates=target.frame, seed=seed)
                    for config, value in history:
                        cold.add_trial(config, value)
                    steps[bucket]["same"].append(float(cold.ask().candidate == trial.candidate))
                    plateau = len({value for _, value in history}) == 1
                    steps[bucket]["plateau"].append(float(plateau))
                    if weight is not None:
                        pull = weight * (1.0 if support is None else support)
                        steps[bucket]["weight"].append(weight)
                        steps[bucket]["pull"].append(pull)
                        if plateau:
                            steps[bucket]["pull_on_plateau"].append(pull)
                    if support is not None:
                        steps[bucket]["support"].append(support)
                assert trial.candidate is not None  # pool mode
                value = float(target.y[trial.candidate])
                study.tell(trial, value)
                history.append((trial.config, value))
                best = min(best, value)
                if step in regret:
                    regret[step].append((best - lo) / (hi - lo) if hi > lo else 0.0)
    summary: dict[str, Any] = {"regret": {str(t): float(np.mean(v)) for t, v in regret.items() if v}}
    for bucket, record in steps.items():
        summary[bucket] = {key: (float(np.mean(v)) if v else None) for key, v in record.items()}
        summary[bucket]["pull_over_0.2"] = float(np.mean(np.array(record["pull"]) > 0.2)) if record["pull"] else None
        summary[bucket]["steps"] = len(record["same"])
    return summary


def report(lines: list[dict[str, Any]]) -> str:
    """The JSON lines as one Markdown table per suite."""
    out = ["# Why the warm search lagged on uninformative sources (issue 23)", "",
           "Per step after the fifth, averaged over the steps of a bucket: the prior mean's weight in the BO step, "
           "its posterior support against the GP alone (evidence-weighted step only), the pull (weight x "
           "support), the share of steps with a pull above 0.2, the share of steps taken while every trial so far "
           "tied (a plateau) and the mean pull on those, and the share of steps proposing the pool member that a "
           "cold Study given the same trials proposes (cold GP-BO's own rate is the control). Sources permuted "
           "per task (`metahp.bench.uninformative_suite`) or the real ones. `benchmarks/stall_diagnosis.py`.", ""]
    for suite in dict.fromkeys(line["suite"] for line in lines):
        rows = [line for line in lines if line["suite"] == suite]
        first = rows[0]
        out += [f"## {suite}: {first['tasks']} targets x {first['seeds']} seeds, budget {first['budget']}", "",
                "| code | mode | steps | weight | support | pull | pull > 0.2 | on a plateau | pull there "
                "| same as cold | regret@10 | regret@25 | regret@50 |", "|" + "---|" * 3 + "---:|" * 10]
        for line in rows:
            for bucket in BUCKETS:
                b = line[bucket]
                cells = [f"{line['label']} ({line['git']})", line["mode"], bucket] + [
                    "—" if b[k] is None else f"{b[k]:.3f}" for k in ("weight", "support", "pull", "pull_over_0.2",
                                                                     "plateau", "pull_on_plateau", "same")]
                regrets = [f"{line['regret'][t]:.4f}" if bucket == "6-10" else "" for t in ("10", "25", "50")]
                out.append("| " + " | ".join(cells + regrets) + " |")
        out.append("")
        out += [f"- `{line['command']}`, {line['seconds']} s" for line in rows]
        out.append("")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    """Run one diagnosis (one JSON line) or write the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default="svm", help="a name of metahp.bench.UNINFORMATIVE_SUITES")
    parser.add_argument("--mode", choices=("warm", "cold"), default="warm")
    parser.add_argument("--sources", choices=("permuted", "real"), default="permuted")
    parser.add_argument("--tasks", type=int, default=4)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--budget", type=int, default=50)
    parser.add_argument("--label", default="HEAD", help="what code this is (the git revision is added)")
    parser.add_argument("--work", default=None, help="folder for the suites' knowledge bases (reused when there)")
    parser.add_argument("--out", default="stall_diagnosis.jsonl", help="JSON lines file to append to")
    parser.add_argument("--report", default=None, help="run nothing: write the Markdown of this JSON lines file")
    parser.add_argument("--md", default="benchmarks/results/stall_diagnosis.md")
    args = parser.parse_args(argv)
    if args.report:
        lines = [json.loads(x) for x in Path(args.report).read_text().splitlines() if x.strip()]
        Path(args.md).write_text(report(lines))
        return 0
    import metahp

    root = Path(metahp.__file__).resolve().parents[1]
    git = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=root).stdout
    work = Path(args.work or tempfile.mkdtemp(prefix="metahp-stall-"))
    os.environ["METAHP_HOME"] = str(work / f"home-{args.label}")
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        summary = diagnose(args.suite, args.mode, args.tasks, args.seeds, args.budget, work, args.sources == "real")
    command = (f"benchmarks/stall_diagnosis.py --suite {args.suite} --sources {args.sources} --mode {args.mode} "
               f"--tasks {args.tasks} "
               f"--seeds {args.seeds} --budget {args.budget} --label {args.label}")
    line = {"suite": f"{args.suite} ({args.sources} sources)", "mode": args.mode, "label": args.label,
            "git": git.strip() or "archive",
            "tasks": args.tasks, "seeds": args.seeds, "budget": args.budget, "command": command,
            "seconds": round(time.perf_counter() - started, 1), **summary}
    with open(args.out, "a") as fh:
        fh.write(json.dumps(line) + "\n")
    print(json.dumps(line))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
