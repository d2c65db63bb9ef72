"""The main job (``make demo`` / ``metahp demo``): the whole loop on a task the seed left out.

1. Describe the held-out built-in task by its meta-features.
2. Recommend five configurations from the default knowledge base, with the nearest source
   tasks as the explanation.
3. Verify the top three by training them (and the task's default configuration).
4. Search: 8 real trainings warm-started from the knowledge base, next to a cold GP-BO
   search of the same size; print both incumbents and save a plot of both.
5. Contribute: the verified runs and the warm search are in the user's knowledge base and
   marked for export (``metahp kb export DIR --contributed``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from metahp._paths import data_dir
from metahp.app._build import HELD_OUT
from metahp.app._verify import task_spec_of, verify
from metahp.kb import KnowledgeBase
from metahp.recommender import recommend
from metahp.runner import run_trial
from metahp.runner import suite as tasks

__all__ = ["run_demo", "DemoResult"]


class DemoResult(dict[str, Any]):
    """What the demo measured (a dict: incumbents, plot path, timings)."""


def _fmt_config(config: dict[str, Any]) -> str:
    parts = []
    for key, value in config.items():
        parts.append(f"{key}={value:.3g}" if isinstance(value, float) else f"{key}={value}")
    return ", ".join(parts)


def _incumbents(values: list[float | None], maximize: bool) -> list[float]:
    best = math.nan
    out = []
    for v in values:
        if v is not None and math.isfinite(v) and (math.isnan(best) or (v > best if maximize else v < best)):
            best = v
        out.append(best)
    return out


def run_demo(kb: KnowledgeBase | None = None, *, task: str | None = None, k: int = 5, n_verify: int = 3,
             n_search: int = 8, seed: int = 0, budget: int | None = None, device: str = "cpu",
             out_dir: Path | None = None, progress: bool = True,
             log: Callable[[str], None] = print) -> DemoResult:
    """Run the demo and return what it measured.

    Args:
        kb: The knowledge base (default: the user's default store, seeded on first use).
        task: A built-in task the seed left out (default: the first held-out task).
        k: Recommendations to show.
        n_verify: Recommendations to train.
        n_search: Trainings per search (warm and cold).
        seed: Seed of the searches and trainings.
        budget: Override the task's training steps (quick runs).
        device: Where to train.
        out_dir: Where to save the plot (default: ``<metahp data dir>/demo``).
        progress: Progress bars.
        log: Where the report goes.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from metahp.study import Study  # the search stack (SciPy; BoTorch on first ask): only step 4 needs it

    started = time.perf_counter()
    kb = kb if kb is not None else KnowledgeBase()
    name = task or HELD_OUT[0]
    runner_task = tasks.get(name)
    spec = task_spec_of(name)
    maximize = runner_task.direction == "maximize"
    stats = kb.stats()
    log(f"knowledge base: {stats['path']} — {stats['tasks']} tasks, {stats['trials']} trials")
    log(f"\n== 1. the task: {name} ({runner_task.description}); the seed knowledge base left it out")
    for key, value in sorted(spec.meta_features.items()):
        log(f"   {key:<28} {value:,.6g}")

    exclude = [name] if kb.has_task(name) else None
    log(f"\n== 2. {k} recommendations from the knowledge base (family {runner_task.family})")
    recs = recommend(spec, space=spec.space, k=k, kb=kb, seed=seed, exclude=exclude)
    for i, rec in enumerate(recs, 1):
        predicted = f"{rec.predicted_objective:.4f}" if rec.predicted_objective is not None else "-"
        log(f"   #{i} predicted {runner_task.objective_name} {predicted} (score {rec.score:+.2f} ± {rec.std:.2f})")
        log(f"      {_fmt_config(rec.config)}")
    if recs and recs[0].neighbours:
        log("   why: the nearest source tasks and their best configurations")
        for nb in recs[0].neighbours[:3]:
            log(f"      {nb.task} (distance {nb.distance:.2f}, best {nb.best_value:.4f}): "
                f"{_fmt_config(nb.best_config)}")

    log(f"\n== 3. verifying the top {n_verify} by training them (and the default configuration)")
    report = verify(name, k=n_verify, kb=kb, device=device, seed=seed, budget=budget, progress=progress,
                    exclude=[name])
    for line in report.table().splitlines():
        log("   " + line)

    def objective(trial: Any) -> Any:
        return run_trial(name, dict(trial), device=device, seed=seed, budget=budget)

    log(f"\n== 4. search: {n_search} trainings warm-started from the knowledge base, and {n_search} cold")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    warm = Study(runner_task.space, task=spec, kb=kb, direction=runner_task.direction, seed=seed, exclude=[name],
                 name=f"demo-{name}-{stamp}")
    warm.optimize(objective, n_trials=n_search, progress=progress)
    cold = Study(runner_task.space, direction=runner_task.direction, seed=seed)
    cold.optimize(objective, n_trials=n_search, progress=progress)
    warm_values = [t.value for t in warm.trials]
    cold_values = [t.value for t in cold.trials]
    warm_best, cold_best = warm.best_value, cold.best_value
    log(f"   warm-started incumbent: {runner_task.objective_name} {warm_best:.4f}  ({_fmt_config(warm.best_config)})")
    log(f"   cold GP-BO incumbent:   {runner_task.objective_name} {cold_best:.4f}  ({_fmt_config(cold.best_config)})")
    better = warm_best >= cold_best if maximize else warm_best <= cold_best
    log(f"   after {n_search} trainings the warm start is {'at least as good as' if better else 'worse than'} cold")

    folder = out_dir or data_dir() / "demo"
    folder.mkdir(parents=True, exist_ok=True)
    plot = folder / f"demo-{name}-{stamp}.png"
    fig, ax = plt.subplots(figsize=(6, 4))
    steps = range(1, n_search + 1)
    ax.plot(steps, _incumbents(warm_values, maximize), marker="o", label="metahp (warm start)")
    ax.plot(steps, _incumbents(cold_values, maximize), marker="s", label="cold GP-BO")
    if report.default is not None and report.default.measured is not None:
        ax.axhline(report.default.measured, color="grey", linestyle=":", label="default configuration")
    ax.set_xlabel("trainings")
    ax.set_ylabel(f"best {runner_task.objective_name} so far")
    ax.set_title(f"{name}: warm-started vs cold search")
    ax.legend()
    fig.tight_layout()
    fig.savefig(plot, dpi=120)
    plt.close(fig)
    log(f"   plot: {plot}")

    marked = kb.contribute(warm) + kb.contribute(name)
    log(f"\n== 5. contribute: {marked} trials (the warm search and the runs of {name}) are in {stats['path']}")
    log("   and marked for export: metahp kb export my-bundle/ --contributed")
    seconds = time.perf_counter() - started
    log(f"\ndemo finished in {seconds:.0f} s")
    return DemoResult(task=name, warm_best=warm_best, cold_best=cold_best, warm_at_least_as_good=better,
                      plot=str(plot), verify=report, recommendations=recs, contributed=marked, seconds=seconds)
