"""``metahp tune``: a warm-started search on a built-in task, training for real."""

from __future__ import annotations

import argparse
from typing import Any

from metahp.commands.kb import BUILTIN_TASKS_HINT, add_kb_argument, open_kb

__all__ = ["register"]


def _tune(args: argparse.Namespace) -> int:
    import threading

    from metahp.runner import TrialPool
    from metahp.runner.suite import get
    from metahp.study import Study

    task = get(args.task)
    pool = TrialPool(args.executor, n_workers=args.workers, device=args.device)  # checks --workers first
    kb = open_kb(args)
    study = Study(task.space, task=task, kb=kb, direction=task.direction, seed=args.seed, name=args.name,
                  n_initial=args.n_initial, warm_start=not args.cold, transfer=args.transfer)
    mode = "cold start" if args.cold else f"warm start ({args.transfer})"
    workers = args.workers
    print(f"tuning {task.name} ({task.objective_name}, {task.direction}) for {args.trials} trials, {mode}, "
          f"executor {args.executor}, {workers} worker(s)", flush=True)
    sign = 1.0 if task.direction == "minimize" else -1.0
    best: list[float] = []
    lock = threading.Lock()

    def objective(trial: Any) -> Any:
        # One long-lived pool for the whole search: workers import transformers once.
        result = pool.run(task.name, dict(trial.config), seed=trial.seed, budget=args.budget)
        value = result.objective if result.status == "ok" else None
        with lock:
            shown = "-" if value is None else f"{value:.6g}"
            print(f"trial {trial.number:3d} [{trial.origin:9s}] {result.status:8s} {task.objective_name}={shown}",
                  flush=True)
            if value is not None and (not best or sign * value < sign * best[0]):
                best[:] = [value]
                print(f"  new incumbent {task.objective_name}={value:.6g}: {trial.config}", flush=True)
        return result

    with pool:
        study.optimize(objective, args.trials, n_jobs=workers, progress=False)
    if not best:
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
    p.add_argument("--task", required=True, help=f"built-in task name (see `{BUILTIN_TASKS_HINT}`)")
    p.add_argument("--trials", type=int, default=10, help="number of trials (default 10)")
    p.add_argument("--executor", choices=["inline", "process", "ray"], default="inline",
                   help="where trials train (default inline)")
    p.add_argument("--workers", type=int, default=1,
                   help="trials trained at once, each in a long-lived worker of --executor (default 1)")
    p.add_argument("--transfer", choices=["prior", "rgpe"], default="prior",
                   help="how the knowledge base shapes the GP: meta-model prior mean (default) or RGPE ensemble")
    p.add_argument("--cold", action="store_true", help="ignore the knowledge base: cold-start GP-BO")
    p.add_argument("--budget", type=int, default=None, metavar="STEPS", help="training steps per trial")
    p.add_argument("--seed", type=int, default=0, help="seed of the search and the first trial")
    p.add_argument("--name", default=None, help="persist the study in the knowledge base under this name "
                                                "(an existing name resumes it)")
    p.add_argument("--n-initial", type=int, default=None, help="portfolio (warm) or Sobol (cold) trials first")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    add_kb_argument(p)
    p.set_defaults(func=_tune)
