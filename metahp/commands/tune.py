"""``metahp tune``: a warm-started search on a built-in task, training for real.

``--executor inline|process`` trains in this process or in one pool of long-lived workers
kept for the whole search; ``--executor ray`` runs the search as a Ray Tune ``Tuner.fit()``
with :class:`~metahp.integrations.MetaHPSearch` on a local Ray or the cluster at
``--address``. Either way the study lives in this process, the only one that writes to the
knowledge base, and every training shows its progress (steps, loss, time left).
"""

from __future__ import annotations

import argparse
import threading
import time
from typing import Any

from metahp.commands.kb import BUILTIN_TASKS_HINT, add_kb_argument, open_kb
from metahp.types import sign

__all__ = ["register"]


class _Lines:
    """What ``tune`` prints: a progress line per training now and then, a line per finished trial, the incumbent."""

    def __init__(self, objective_name: str, direction: str, every: float) -> None:
        self.objective_name = objective_name
        self.sign = sign(direction)
        self.every = every
        self.best: float | None = None
        self._shown: dict[int, float] = {}
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        # Ray Tune pickles its run config (and so the callback holding these lines) when a Tuner is made.
        return {k: v for k, v in self.__dict__.items() if k != "_lock"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state, _lock=threading.Lock())

    def progress(self, number: int, text: str, *, last: bool = False) -> None:
        now = time.monotonic()
        with self._lock:
            if not last and now - self._shown.get(number, -float("inf")) < self.every:
                return
            self._shown[number] = now
            print(f"  trial {number:3d}: {text}", flush=True)

    def finished(self, number: int, origin: str, status: str, value: float | None, config: dict[str, Any]) -> None:
        with self._lock:
            shown = "-" if value is None else f"{value:.6g}"
            print(f"trial {number:3d} [{origin:9s}] {status:8s} {self.objective_name}={shown}", flush=True)
            if value is not None and (self.best is None or self.sign * value < self.sign * self.best):
                self.best = value
                print(f"  new incumbent {self.objective_name}={value:.6g}: {config}", flush=True)


def _tune(args: argparse.Namespace) -> int:
    from metahp.runner import TrialPool  # on use: keeps `metahp --help` fast
    from metahp.runner.suite import get
    from metahp.study import Study

    task = get(args.task)
    pool = TrialPool(args.executor, n_workers=args.workers, device=args.device,
                     ray_address=args.address)  # checks --workers first
    kb = open_kb(args)
    mode = "cold start" if args.cold else f"warm start ({args.transfer})"
    workers = args.workers
    where = f" at {args.address}" if args.executor == "ray" and args.address else ""
    print(f"tuning {task.name} ({task.objective_name}, {task.direction}) for {args.trials} trials, {mode}, "
          f"executor {args.executor}{where}, {workers} worker(s)", flush=True)
    lines = _Lines(task.objective_name, task.direction, args.progress_every)
    options = {"seed": args.seed, "name": args.name, "n_initial": args.n_initial, "warm_start": not args.cold,
               "transfer": args.transfer}
    if args.executor == "ray":
        pool.close()
        return _tune_ray(args, task, kb, options, pool.threads, lines)
    study = Study(task.space, task=task, kb=kb, direction=task.direction, **options)

    def objective(trial: Any) -> Any:
        result = pool.run(task.name, dict(trial.config), seed=trial.seed, budget=args.budget,
                          progress=lambda p: lines.progress(trial.number, p.describe(), last=p.step == p.budget))
        lines.finished(trial.number, trial.origin, result.status, result.objective if result.ok else None,
                       dict(trial.config))
        return result

    with pool:  # one pool of long-lived workers for the whole search
        study.optimize(objective, args.trials, n_jobs=workers, progress=False)
    if lines.best is None:
        print("no trial finished; see the statuses above")
        return 1
    print(f"best {task.objective_name}={study.best_value:.6g} with {study.best_config}")
    return 0


def _tune_ray(args: argparse.Namespace, task: Any, kb: Any, options: dict[str, Any], threads: int,
              lines: _Lines) -> int:
    """The search as a Ray Tune ``Tuner.fit()``: trainings on Ray workers, the study and the store here."""
    import tempfile

    from ray import tune

    from metahp.integrations import MetaHPSearch  # Ray's searcher: Ray is an optional dependency
    from metahp.runner import ray_init, ray_tune_trainable

    searcher = MetaHPSearch(task.space, metric="objective", mode="min" if task.direction == "minimize" else "max",
                            kb=kb, task=task, record=False, **options)

    class Report(tune.Callback):  # type: ignore[misc]
        def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
            if trial.trial_id in searcher.trials and "train_loss" in result:
                left = result["seconds"] / max(1, result["step"]) * (result["budget"] - result["step"])
                lines.progress(searcher.trials[trial.trial_id].number, f"step {result['step']}/{result['budget']}, "
                               f"loss {result['train_loss']:.4g}, {left:.0f} s left")

        def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
            ours = searcher.trials.get(trial.trial_id)
            last = trial.last_result or {}
            if ours is not None:
                status = str(last.get("status", "failed"))
                value = last.get("objective") if status == "ok" else None
                lines.finished(ours.number, searcher.origins[trial.trial_id], status, value, dict(ours.config))

        def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
            ours = searcher.trials.get(trial.trial_id)
            if ours is not None:
                lines.finished(ours.number, searcher.origins[trial.trial_id], "failed", None, dict(ours.config))

    started = ray_init(args.address, num_cpus=args.workers * threads)
    try:
        with tempfile.TemporaryDirectory(prefix="metahp-ray-") as storage:
            device = "cpu" if args.device == "auto" and args.address is None else args.device
            tuner = tune.Tuner(
                ray_tune_trainable(task.name, budget=args.budget, device=device, threads=threads, seed=args.seed),
                tune_config=tune.TuneConfig(search_alg=searcher, num_samples=args.trials,
                                            max_concurrent_trials=args.workers),
                run_config=tune.RunConfig(storage_path=storage, name="metahp-tune", verbose=0, callbacks=[Report()]))
            tuner.fit()
    finally:
        if started:
            import ray

            ray.shutdown()
    study = searcher.study
    if lines.best is None or not any(t.status == "ok" for t in study.trials):
        print("no trial finished; see the statuses above")
        return 1
    print(f"best {task.objective_name}={study.best_value:.6g} with {study.best_config}")
    return 0


def register(subparsers: Any) -> None:
    """Add ``metahp tune``."""
    p = subparsers.add_parser(
        "tune", help="warm-started hyperparameter search on a built-in task",
        description="Search a built-in task's space: the recommender's portfolio first, then a GP with the "
                    "meta-model as prior mean. Every trial trains for real; each training shows its progress and the "
                    "incumbent is printed as it improves.")
    p.add_argument("--task", required=True, help=f"built-in task name (see `{BUILTIN_TASKS_HINT}`)")
    p.add_argument("--trials", type=int, default=10, help="number of trials (default 10)")
    p.add_argument("--executor", choices=["inline", "process", "ray"], default="inline",
                   help="where trials train: this process, one pool of long-lived worker processes, or Ray Tune "
                        "(default inline)")
    p.add_argument("--address", default=None, metavar="ADDR",
                   help="--executor ray: a running Ray cluster (e.g. auto, or HEAD_IP:6379 after `ray start --head`); "
                        "default: a local Ray of --workers trainings")
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
    p.add_argument("--progress-every", type=float, default=10.0, metavar="SECONDS",
                   help="seconds between two progress lines of one training (default 10; 0: every report)")
    add_kb_argument(p)
    p.set_defaults(func=_tune)
