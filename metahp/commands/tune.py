"""``metahp tune``: a warm-started search on a built-in task, training for real."""

from __future__ import annotations

import argparse
from typing import Any

from metahp.commands.kb import add_kb_argument, open_kb

__all__ = ["register"]


def _tune(args: argparse.Namespace) -> int:
    from metahp.runner.executors import run_many
    from metahp.study import Study
    from metahp.tasks import get

    task = get(args.task)
    kb = open_kb(args)
    study = Study(task.space, task=task, kb=kb, direction=task.direction, seed=args.seed, name=args.name,
                  n_initial=args.n_initial, warm_start=not args.cold)
    mode = "cold start" if args.cold else "warm start"
    print(f"tuning {task.name} ({task.objective_name}, {task.direction}) for {args.trials} trials, {mode}, "
          f"executor {args.executor}")
    best: float | None = None
    sign = 1.0 if task.direction == "minimize" else -1.0
    for _ in range(args.trials):
        trial = study.ask()
        (result,) = run_many([(task.name, trial.config, trial.seed, args.budget)], executor=args.executor,
                             n_workers=1, progress=False, device=args.device)
        study.tell(trial, result)
        shown = "-" if trial.value is None else f"{trial.value:.6g}"
        print(f"trial {trial.number:3d} [{trial.origin:9s}] {trial.status:8s} {task.objective_name}={shown}")
        if trial.status == "ok" and trial.value is not None and (best is None or sign * trial.value < sign * best):
            best = trial.value
            print(f"  new incumbent {task.objective_name}={best:.6g}: {trial.config}", flush=True)
    if best is None:
        print("no trial finished; see the statuses above")
        return 1
    print(f"best {task.objective_name}={study.best_value:.6g} with {study.best_config}")
    return 0


def register(subparsers: Any) -> None:
    """Add ``metahp tune``."""
    p = subparsers.add_parser(
        "tune", help="warm-started hyperparameter search on a built-in task",
        description="Search a built-in task's space: the recommender's portfolio first, then a GP with the "
                    "meta-model as prior mean. Every trial trains for real; the incumbent is printed as it improves.")
    p.add_argument("--task", required=True, help="built-in task name (see `metahp run --list`)")
    p.add_argument("--trials", type=int, default=10, help="number of trials (default 10)")
    p.add_argument("--executor", choices=["inline", "process", "ray"], default="inline",
                   help="where trials train (default inline)")
    p.add_argument("--cold", action="store_true", help="ignore the knowledge base: cold-start GP-BO")
    p.add_argument("--budget", type=int, default=None, metavar="STEPS", help="training steps per trial")
    p.add_argument("--seed", type=int, default=0, help="seed of the search and the first trial")
    p.add_argument("--name", default=None, help="persist the study in the knowledge base under this name "
                                                "(an existing name resumes it)")
    p.add_argument("--n-initial", type=int, default=None, help="portfolio (warm) or Sobol (cold) trials first")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    add_kb_argument(p)
    p.set_defaults(func=_tune)
