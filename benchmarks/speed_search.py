"""Speed of Study.ask(): warm-started continuous search and pool mode.

Builds a synthetic knowledge base of 100 tasks x 1,000 trials (100,000 trials), gives a
study 100 target trials, and times ask() (median over repeats). Also times the one-time
meta-model fit, pool mode (2,000 candidates, 50 observations) and a cold study.

    .venv/bin/python benchmarks/speed_search.py [--tasks 100] [--per-task 1000] [--repeats 7]

Writes benchmarks/results/speed_search.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import pandas as pd

from metahp import Categorical, Float, Int, SearchSpace
from metahp.kb import KnowledgeBase
from metahp.study import PriorTransfer, Study

SPACE = SearchSpace([
    Float("learning_rate", 1e-5, 1e-1, log=True),
    Int("batch_size", 8, 512, log=True),
    Float("warmup_ratio", 0.0, 0.2),
    Float("weight_decay", 0.0, 0.3),
    Categorical("optimizer", ("adamw", "sgd", "lion")),
])


def objective(frame: pd.DataFrame, log_params: float) -> np.ndarray:
    best_lr = -1.0 - 0.3 * log_params
    return ((np.log10(frame["learning_rate"]) - best_lr) ** 2 + 0.1 * (np.log2(frame["batch_size"]) - 6) ** 2
            + (frame["warmup_ratio"] - 0.05) ** 2 + 0.3 * (frame["optimizer"] == "sgd")).to_numpy()


def build_kb(n_tasks: int, per_task: int) -> KnowledgeBase:
    kb = KnowledgeBase(":memory:")
    rng = np.random.default_rng(0)
    for i in range(n_tasks):
        log_params = float(rng.uniform(5, 9))
        name = f"synth-{i}"
        kb.add_task(name, family="synth", kind="causal-lm", meta_features={"model_params": 10**log_params},
                    space=SPACE)
        frame = pd.DataFrame(SPACE.sample(per_task, seed=i))
        frame["objective"] = objective(frame, log_params) + 0.05 * rng.standard_normal(per_task)
        kb.add_trials(name, frame)
    return kb


def timed(fn) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def median_ask(study: Study, repeats: int, target_log_params: float, sign: float = 1.0) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        trial = study.ask()
        times.append(time.perf_counter() - start)
        study.tell(trial, sign * float(objective(pd.DataFrame([trial.config]), target_log_params)[0]))
    return statistics.median(times)


def median_refit_ask(study: Study, target_log_params: float, sign: float = 1.0) -> float:
    """Median of 3 asks that re-optimise the GP hyperparameters (as after ~20 % more data)."""
    times = []
    for _ in range(3):
        assert isinstance(study.strategy, PriorTransfer)
        study.strategy.refit()
        start = time.perf_counter()
        trial = study.ask()
        times.append(time.perf_counter() - start)
        study.tell(trial, sign * float(objective(pd.DataFrame([trial.config]), target_log_params)[0]))
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=100)
    parser.add_argument("--per-task", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "speed_search.md"))
    args = parser.parse_args()

    t0 = time.perf_counter()
    kb = build_kb(args.tasks, args.per_task)
    build_s = time.perf_counter() - t0
    n_kb = kb.count_trials()
    target_lp = 7.3
    meta = {"model_params": 10**target_lp}
    history = pd.DataFrame(SPACE.sample(100, seed=123))
    history_values = objective(history, target_lp)
    rows = []

    from metahp.meta import fit_meta

    fit_s = timed(lambda: fit_meta(kb, "lgbm", family="synth", space=SPACE, use_cache=False))
    rows.append(("LightGBM meta-model fit on the whole knowledge base (once per study; cached per KB and exclude)",
                 fit_s))
    warm = Study(SPACE, task=meta, kb=kb, seed=0)
    for config, value in zip(history.to_dict("records"), history_values):
        warm.add_trial(config, float(value))
    first = timed(lambda: warm.tell(warm.ask(), 1.0))
    rows.append(("warm continuous, 100 target trials: first ask (meta-model fit or cache load, prior scale; once)",
                 first))
    rows.append(("warm continuous, 100 target trials: median ask", median_ask(warm, args.repeats, target_lp)))
    rows.append(("warm continuous, ~110 target trials: ask that re-optimises the GP hyperparameters (median of 3)",
                 median_refit_ask(warm, target_lp)))
    # A target the knowledge base ranks the wrong way round (its objective negated): the prior's
    # rank correlation is poor, so every step also fits a GP on the target's trials alone and
    # scores the prior against its leave-one-out draws (metahp.bo.ranking_trust).
    contrary = Study(SPACE, task=meta, kb=kb, seed=0)
    for config, value in zip(history.to_dict("records"), history_values):
        contrary.add_trial(config, -float(value))
    contrary.tell(contrary.ask(), -1.0)
    rows.append(("warm continuous, 100 target trials the prior ranks the wrong way round: median ask",
                 median_ask(contrary, args.repeats, target_lp, sign=-1.0)))
    rows.append(("the same, ~110 target trials: ask that re-optimises both GPs' hyperparameters (median of 3)",
                 median_refit_ask(contrary, target_lp, sign=-1.0)))

    cold = Study(SPACE, seed=0)
    for config, value in zip(history.to_dict("records"), history_values):
        cold.add_trial(config, float(value))
    rows.append(("cold continuous, 100 target trials: median ask", median_ask(cold, args.repeats, target_lp)))

    pool = pd.DataFrame(SPACE.sample(2000, seed=7))
    pool_values = objective(pool, target_lp)
    for label, kwargs in (("warm", {"task": meta, "kb": kb}), ("cold", {})):
        study = Study(SPACE, seed=0, candidates=pool, **kwargs)  # type: ignore[arg-type]
        for i in range(50):
            study.add_trial(pool.iloc[i].to_dict(), float(pool_values[i]))
        timed(lambda s=study: s.tell(s.ask(), 1.0))  # first ask: meta-model fit and pool prior, once
        rows.append((f"{label} pool of 2,000, 50 observations: median ask",
                     median_ask(study, args.repeats, target_lp)))

    lines = [
        "# Study.ask() speed",
        "",
        f"Knowledge base: {args.tasks} synthetic tasks x {args.per_task} trials = {n_kb:,} trials "
        f"(built in {build_s:.1f} s). Space: 5 parameters (log float, log int, 2 floats, a 3-way categorical).",
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} logical cores, load "
        f"average {os.getloadavg()[0]:.2f} at the end; torch on one thread inside the GP step.",
        f"Median over {args.repeats} asks, each followed by a tell. GP hyperparameters are re-optimised at every "
        "ask up to 20 observations, then once the data grew by 20 % since the last fit (`metahp.bo.refit_due`); "
        "the asks in between condition the GP on the new data with the last hyperparameters.",
        "",
        "| case | seconds |",
        "| --- | ---: |",
        *[f"| {label} | {sec:.3f} |" for label, sec in rows],
        "",
        "Command: `.venv/bin/python benchmarks/speed_search.py`",
        "",
    ]
    Path(args.out).write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
