"""Run many trials: inline, in a pool of long-lived processes, or on a Ray cluster.

Every executor returns the results in the order of the jobs. Results are written to the
knowledge base by the calling process only (a single writer), one by one as trials
finish, so a crash loses only the trials still running.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
import logging
import math
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from metahp.errors import InvalidConfigError, MetaHPError, MissingDependencyError
from metahp.runner._spec import Task
from metahp.runner._train import Progress, ProgressFn, TrialResult, available_cores, resolve_task, run_trial

__all__ = ["Job", "EXECUTORS", "MissingDependencyError", "TrialPool", "run_many", "record_result", "ray_init",
           "ray_tune_trainable", "task_entry"]

logger = logging.getLogger(__name__)




class Job(NamedTuple):
    """One trial to run: a built-in task name (or task), a configuration, a seed, a budget."""

    task: str | Task
    config: dict[str, Any]
    seed: int = 0
    budget: int | None = None


@dataclass
class _Context:
    device: str
    threads: int
    on_result: Callable[[int, TrialResult], None]
    n_workers: int
    ray_address: str | None = None
    progress: Callable[[int, Progress], None] | None = None


def _as_job(item: Job | Sequence[Any] | dict[str, Any]) -> Job:
    if isinstance(item, Job):
        return item
    if isinstance(item, dict):
        return Job(**item)
    if isinstance(item, (tuple, list)) and 2 <= len(item) <= 4:
        return Job(*item)
    raise InvalidConfigError(f"a job is (task, config[, seed[, budget]]) or a Job, got {item!r}")


def _check(job: Job) -> Job:
    # Fail before any training: unknown task names and invalid configurations raise here.
    task = resolve_task(job.task)
    task.space.validate(dict(job.config or {}), fill_defaults=True)
    if job.budget is not None and (isinstance(job.budget, bool) or not isinstance(job.budget, int) or job.budget < 1):
        raise InvalidConfigError(f"a job's budget must be a positive integer, got {job.budget!r}", parameter="budget")
    return job


def _run_job(job: Job, device: str, threads: int, token: int | None = None,
             progress: ProgressFn | None = None) -> TrialResult:
    """Train one job; in a pool worker, progress goes to the parent's relay under ``token``."""
    queue = _WORKER_QUEUE if token is not None else None
    if queue is not None and token is not None:
        progress = functools.partial(_put_progress, queue, token)
    try:
        return run_trial(job.task, job.config, device=device, seed=job.seed, budget=job.budget, threads=threads,
                         progress=progress)
    finally:
        if queue is not None:
            # After this job's last report on the same queue (one producer keeps its order): the parent
            # waits for it before dropping the callback, so the final report is never lost.
            queue.put((token, None))


def _put_progress(queue: Any, token: int, progress: Progress) -> None:
    queue.put((token, progress))


#: In a pool worker: the queue that carries ``(token, Progress)`` to the parent (set by ``_init_worker``).
_WORKER_QUEUE: Any = None


class _ProgressRelay:
    """Carries per-training progress from pool workers to callbacks in the parent process.

    Each submitted training gets a token; a worker puts ``(token, Progress)`` on one queue
    and a thread here calls the callback registered for that token.
    """

    def __init__(self, mp_context: Any) -> None:
        self.queue = mp_context.Queue()
        self._callbacks: dict[int, ProgressFn] = {}
        self._finished: dict[int, threading.Event] = {}
        self._tokens = itertools.count()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._relay, name="metahp-progress", daemon=True)
        self._thread.start()

    def register(self, callback: ProgressFn) -> int:
        with self._lock:
            token = next(self._tokens)
            self._callbacks[token] = callback
            self._finished[token] = threading.Event()
        return token

    def wait(self, token: int, timeout: float = 10.0) -> bool:
        """Wait until the worker's end-of-job marker for ``token`` has been relayed (all its reports shown)."""
        with self._lock:
            event = self._finished.get(token)
        return True if event is None else event.wait(timeout)

    def unregister(self, token: int) -> None:
        with self._lock:
            self._callbacks.pop(token, None)
            self._finished.pop(token, None)

    def _relay(self) -> None:
        while True:
            token, progress = self.queue.get()
            if token is None:
                return
            if progress is None:  # the job's end-of-job marker: every report of it is through
                with self._lock:
                    event = self._finished.get(token)
                if event is not None:
                    event.set()
                continue
            with self._lock:
                callback = self._callbacks.get(token)
            if callback is not None:
                try:
                    callback(progress)
                except Exception:  # noqa: BLE001 - a broken display must not stop the trainings
                    logger.exception("progress callback failed")

    def close(self) -> None:
        self.queue.put((None, None))
        self._thread.join(timeout=5)
        self.queue.close()


# ----------------------------------------------------------------------------- executors
def _inline(jobs: list[Job], ctx: _Context) -> None:
    for i, job in enumerate(jobs):
        shown = ctx.progress
        ctx.on_result(i, _run_job(job, ctx.device, ctx.threads,
                                  progress=None if shown is None else functools.partial(shown, i)))


def _init_worker(threads: int, queue: Any = None) -> None:
    # Import torch and transformers once per worker, not once per trial.
    import torch
    import transformers  # noqa: F401

    global _WORKER_QUEUE
    _WORKER_QUEUE = queue
    torch.set_num_threads(threads)


def _spawn_context() -> Any:
    import multiprocessing

    return multiprocessing.get_context("spawn")


def _spawn_pool(n_workers: int, threads: int, relay: _ProgressRelay | None = None) -> Any:
    """A pool of spawned workers that import torch and transformers once (and report progress to ``relay``)."""
    from concurrent.futures import ProcessPoolExecutor

    return ProcessPoolExecutor(max_workers=n_workers, mp_context=_spawn_context(), initializer=_init_worker,
                               initargs=(threads, None if relay is None else relay.queue))


def _process(jobs: list[Job], ctx: _Context) -> None:
    """Run ``jobs`` in a pool of spawned workers.

    A worker that dies (killed for memory, a segfault) breaks the whole pool, and every job
    still in it comes back with ``BrokenProcessPool``. Those jobs are innocent until proven
    otherwise: they run again in a fresh pool, and the ones broken a second time run alone,
    each in a pool of its own, so only the job that kills its worker is recorded as failed.
    """
    indices = list(range(len(jobs)))
    for attempt in range(3):
        isolate = attempt == 2
        groups = [[i] for i in indices] if isolate else [indices]
        broken: list[int] = []
        for group in groups:
            broken += _process_round([jobs[i] for i in group], group, ctx, last=isolate)
        if not broken:
            return
        indices = broken


def _process_round(jobs: list[Job], indices: list[int], ctx: _Context, *, last: bool) -> list[int]:
    from concurrent.futures import FIRST_COMPLETED, Future, wait
    from concurrent.futures.process import BrokenProcessPool

    broken: list[int] = []
    relay = _ProgressRelay(_spawn_context()) if ctx.progress is not None else None
    tokens = {} if relay is None or ctx.progress is None else {
        k: relay.register(functools.partial(ctx.progress, indices[k])) for k in range(len(jobs))}
    with contextlib.ExitStack() as stack:
        if relay is not None:
            stack.callback(relay.close)
        pool = stack.enter_context(_spawn_pool(min(ctx.n_workers, len(jobs)), ctx.threads, relay))
        futures: dict[Future[TrialResult], int] = {
            pool.submit(_run_job, job, ctx.device, ctx.threads, tokens.get(k)): k for k, job in enumerate(jobs)
        }
        pending = set(futures)
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in sorted(done, key=futures.__getitem__):
                k = futures[future]
                if not last and isinstance(future.exception(), BrokenProcessPool):
                    broken.append(indices[k])
                    continue
                if relay is not None and k in tokens and future.exception() is None:
                    relay.wait(tokens[k])  # the job's last report is shown before its result
                ctx.on_result(indices[k], _result_or_failure(jobs[k], ctx, future.result))
    return sorted(broken)


def _result_or_failure(job: Job, ctx: _Context, get: Callable[[], TrialResult]) -> TrialResult:
    # A worker that dies (killed for memory, segfault) is a failed trial, not a crash of the study.
    try:
        return get()
    except MetaHPError:
        raise
    except Exception as exc:  # noqa: BLE001 - failure is data
        return _failed(job, ctx.device, exc)


def _failed(job: Job, device: str, exc: BaseException) -> TrialResult:
    task = resolve_task(job.task)
    return TrialResult(
        task=task.name, config=task.space.validate(dict(job.config or {}), fill_defaults=True), objective=None,
        direction=task.direction, status="failed", curve=[], seconds=math.nan, tokens_per_second=0.0,
        peak_memory_bytes=0, device=device, seed=job.seed, steps_done=0, budget=job.budget or task.budget,
        message=f"worker died: {type(exc).__name__}: {exc}"[:2000])


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise MissingDependencyError(
            "executor='ray' needs Ray, which is not installed: pip install 'metahp[ray]'") from exc
    return ray


def _ray_start(ray: Any, num_cpus: int, address: str | None) -> bool:
    """Start Ray if it is not running (a local cluster of ``num_cpus``, or the one at ``address``); True if started."""
    if ray.is_initialized():
        return False
    if address is None:
        ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False, configure_logging=False)
    else:
        ray.init(address=address, log_to_driver=False, configure_logging=False)
    return True


def ray_init(address: str | None = None, num_cpus: int | None = None) -> bool:
    """Connect this process (the driver) to Ray, the one way every metahp Ray path starts it.

    Args:
        address: A running cluster (``"auto"``, ``"ray://head:10001"``, ``"head:6379"``); ``None``
            starts a local one.
        num_cpus: CPUs of a local cluster (default: the cores this process may use).

    Returns:
        True if this call started or joined Ray (then the caller shuts it down), False if Ray
        was already initialised.

    Raises:
        MissingDependencyError: Ray is not installed.
    """
    return _ray_start(_import_ray(), num_cpus or available_cores(), address)


def ray_tune_trainable(task: str | Task, *, budget: int | None = None, device: str = "cpu", threads: int = 1,
                       seed: int = 0) -> Any:
    """A Ray Tune trainable that trains ``task`` with metahp's runner on a Ray worker.

    Each evaluation is reported as ``{"objective", "step", "budget", "train_loss", "seconds"}``;
    the last report adds ``"metahp_result"``: ``{"task": task_entry(task), "trial":
    result.to_record()}`` as JSON text, which :class:`~metahp.integrations.MetaHPSearch` stores in its
    knowledge base from the driver (workers never open the knowledge base). Each trial
    reserves ``threads`` CPUs and, on a CUDA device, one GPU.

    Args:
        task: A built-in task name or a picklable task whose data the workers can build.
        budget: Training steps (default: the task's).
        device: ``"cpu"``, ``"cuda"`` or ``"auto"`` (resolved on the worker).
        threads: CPU threads (and Ray CPUs) per trial.
        seed: Seed of every training.

    With Ray running, ``threads`` is lowered to the CPUs of the cluster's largest node: a trial
    asking for more would never be scheduled.

    Raises:
        UnknownTaskError: Not a built-in task.
        MissingDependencyError: Ray Tune is not installed.
    """
    resolve_task(task)  # an unknown name fails here, not on a worker
    try:
        import ray
        from ray import tune
    except ImportError as exc:
        raise MissingDependencyError("ray_tune_trainable needs Ray Tune: pip install 'metahp[ray]'") from exc
    if ray.is_initialized():
        threads = _ray_threads(ray, threads)
    fn = tune.with_parameters(_tune_train, task=task, budget=budget, device=device, threads=threads, seed=seed)
    return tune.with_resources(fn, {"cpu": threads, "gpu": 1 if device.startswith("cuda") else 0})


def _tune_train(config: dict[str, Any], task: str | Task, budget: int | None, device: str, threads: int,
                seed: int) -> None:
    from ray import tune

    latest: dict[str, float] = {}

    def progress(p: Progress) -> None:
        latest.update(train_loss=p.loss, seconds=p.seconds)

    def report(step: int, value: float) -> bool:
        tune.report({"objective": value, "step": step, "budget": budget or resolve_task(task).budget, **latest})
        return False

    result = run_trial(task, config, device=device, seed=seed, budget=budget, threads=threads, report=report,
                       progress=progress)
    tune.report({"objective": result.objective if result.objective is not None else math.nan,
                 "step": result.steps_done, "budget": result.budget, "status": result.status,
                 # JSON text: Ray Tune flattens nested dicts of a result before a searcher sees it.
                 "metahp_result": json.dumps({"task": task_entry(task), "trial": result.to_record()})})


def _ray_threads(ray: Any, threads: int) -> int:
    """``threads``, lowered to the CPUs of the largest node of the running cluster.

    A Ray task asking for more CPUs than any node has is never scheduled: it waits forever,
    without an error (a 1-CPU local Ray and a 2-thread job hung ``kb build --executor ray``).
    """
    per_node = [float(n.get("Resources", {}).get("CPU", 0)) for n in ray.nodes() if n.get("Alive", True)]
    largest = int(max(per_node, default=0))
    if 0 < largest < threads:
        logger.warning("each training asked for %d CPUs but the largest Ray node has %d; using %d", threads, largest,
                       largest)
        return largest
    return threads


def _ray_job(ray: Any, threads: int, device: str) -> Any:
    """``_run_job`` as a Ray task reserving ``threads`` CPUs (and a GPU for a CUDA device)."""
    return ray.remote(num_cpus=threads, num_gpus=1 if device.startswith("cuda") else 0)(_run_job)


def _ray(jobs: list[Job], ctx: _Context) -> None:
    ray = _import_ray()
    started = _ray_start(ray, ctx.n_workers * ctx.threads, ctx.ray_address)
    try:
        threads = _ray_threads(ray, ctx.threads)
        remote = _ray_job(ray, threads, ctx.device)
        refs = {remote.remote(job, ctx.device, threads): i for i, job in enumerate(jobs)}
        pending = list(refs)
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            for ref in done:
                i = refs[ref]
                ctx.on_result(i, _result_or_failure(jobs[i], ctx, functools.partial(ray.get, ref)))
    finally:
        if started:
            ray.shutdown()


class TrialPool:
    """Long-lived workers that train one trial per :meth:`run` call, for ask/tell loops.

    :func:`run_many` suits a batch known in advance; a search asks for one configuration at
    a time, and starting a pool (and importing transformers) per trial would cost seconds
    each. A ``TrialPool`` keeps its workers for its whole life; :meth:`run` blocks and is
    thread-safe, so ``Study.optimize(..., n_jobs=n_workers)`` keeps every worker busy.

    A worker that dies takes the pool down with it (as in :func:`run_many`): the pool is
    rebuilt and the trial runs once more; dying again, it is returned as ``"failed"``.

    Args:
        executor: ``"inline"``, ``"process"`` or ``"ray"`` (see :func:`run_many`).
        n_workers: Parallel trials (default: 1 inline, else the number of cores); each
            trains with ``cores // n_workers`` threads.
        device: Passed to :func:`~metahp.runner.run_trial`.
        ray_address: Address of a running Ray cluster (``None``: a local one, started on
            first use and shut down by :meth:`close` unless Ray was already initialised).

    Raises:
        InvalidConfigError: Unknown executor or a bad ``n_workers``.
        MissingDependencyError: ``executor="ray"`` without Ray installed.

    Example:
        >>> with TrialPool("inline") as pool:
        ...     pool.n_workers
        1
    """

    def __init__(self, executor: str = "process", n_workers: int | None = None, device: str = "auto",
                 ray_address: str | None = None) -> None:
        if executor not in EXECUTORS:
            raise InvalidConfigError(f"unknown executor {executor!r}; choose one of {sorted(EXECUTORS)}",
                                     parameter="executor")
        workers = n_workers if n_workers is not None else (1 if executor == "inline" else available_cores())
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise InvalidConfigError(f"n_workers must be a positive integer, got {n_workers!r}", parameter="n_workers")
        if executor == "ray":
            _import_ray()
        self.executor = executor
        self.n_workers = workers
        self.device = device
        self.threads = max(1, available_cores() // workers)
        self.ray_address = ray_address
        self._lock = threading.Lock()
        self._pool: Any = None
        self._relay: _ProgressRelay | None = None
        self._remote: Any = None
        self._ray_started = False

    def __enter__(self) -> TrialPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def run(self, task: str | Task, config: dict[str, Any], seed: int = 0, budget: int | None = None,
            progress: ProgressFn | None = None) -> TrialResult:
        """Train one trial on a free worker and return its result (blocks until it finishes).

        Args:
            task: A built-in task name or a task (as for :func:`~metahp.runner.run_trial`).
            config: The configuration.
            seed: Seed of the training.
            budget: Training steps (default: the task's).
            progress: Called in this process with the training's :class:`~metahp.runner.Progress`
                (inline and process executors; Ray trainings report through Ray Tune instead).

        Raises:
            UnknownTaskError, InvalidConfigError: A bad task, configuration or budget
                (raised before anything trains).
        """
        job = _check(Job(task, dict(config), seed, budget))
        if self.executor == "inline":
            return _run_job(job, self.device, self.threads, progress=progress)
        if self.executor == "ray":
            ray = _import_ray()
            try:
                return ray.get(self._ray_remote().remote(job, self.device, self.threads))  # type: ignore[no-any-return]
            except MetaHPError:
                raise
            except Exception as exc:  # noqa: BLE001 - a dead worker is a failed trial
                return _failed(job, self.device, exc)
        from concurrent.futures.process import BrokenProcessPool

        for attempt in range(2):
            pool = self._process_pool()
            token = None if progress is None or self._relay is None else self._relay.register(progress)
            try:
                result = pool.submit(_run_job, job, self.device, self.threads, token).result()
                if token is not None and self._relay is not None:
                    self._relay.wait(token)  # the training's last report reaches the caller before its result
                return result  # type: ignore[no-any-return]
            except BrokenProcessPool as exc:
                self._drop(pool)
                if attempt == 1:
                    return _failed(job, self.device, exc)
            except MetaHPError:
                raise
            except Exception as exc:  # noqa: BLE001 - failure is data
                return _failed(job, self.device, exc)
            finally:
                if token is not None and self._relay is not None:
                    self._relay.unregister(token)
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        """Stop the workers (a later :meth:`run` starts new ones)."""
        with self._lock:
            pool, self._pool = self._pool, None
            relay, self._relay = self._relay, None
            started, self._ray_started = self._ray_started, False
            self._remote = None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        if relay is not None:
            relay.close()
        if started:
            _import_ray().shutdown()

    def _process_pool(self) -> Any:
        with self._lock:
            if self._pool is None:
                if self._relay is None:
                    self._relay = _ProgressRelay(_spawn_context())
                self._pool = _spawn_pool(self.n_workers, self.threads, self._relay)
            return self._pool

    def _drop(self, pool: Any) -> None:
        with self._lock:
            if self._pool is pool:
                self._pool = None
        pool.shutdown(wait=False, cancel_futures=True)

    def _ray_remote(self) -> Any:
        ray = _import_ray()
        with self._lock:
            if self._remote is None:
                self._ray_started = _ray_start(ray, self.n_workers * self.threads, self.ray_address)
                self.threads = _ray_threads(ray, self.threads)
                self._remote = _ray_job(ray, self.threads, self.device)
            return self._remote


#: Executor name -> function running the jobs and calling ``ctx.on_result(index, result)``.
EXECUTORS: dict[str, Callable[[list[Job], _Context], None]] = {"inline": _inline, "process": _process, "ray": _ray}


# --------------------------------------------------------------------------- knowledge base
def task_entry(task: Task | str) -> dict[str, Any]:
    """``KnowledgeBase.add_task`` arguments for a task (``name`` included; the space as ``to_dict()``)."""
    spec = resolve_task(task)
    return {"name": spec.name, "family": spec.family, "kind": spec.kind, "meta_features": dict(spec.meta_features),
            "space": spec.space.to_dict(), "objective_name": spec.objective_name, "direction": spec.direction,
            "provenance": {"source": "metahp.runner", "dataset": spec.dataset, "description": spec.description}}


def record_result(kb: Any, result: TrialResult, task: Task | str | None = None, *, source: str = "runner",
                  _known: set[str] | None = None) -> None:
    """Write one result to a knowledge base: the task (idempotent by name), then the trial.

    Args:
        kb: A ``metahp.KnowledgeBase``.
        result: The trial result.
        task: The task trained (default: the built-in task named in ``result``).
        source: Provenance of the trial (``runner``, ``verify:...``).
    """
    spec = resolve_task(task if task is not None else result.task)
    if _known is None or spec.name not in _known:
        entry = task_entry(spec)
        kb.add_task(entry.pop("name"), **{**entry, "space": spec.space})
        if _known is not None:
            _known.add(spec.name)
    kb.add_trials(spec.name, [{**result.to_record(), "source": source}], source=source)


def run_many(
    jobs: Iterable[Job | Sequence[Any] | dict[str, Any]],
    executor: str = "inline",
    n_workers: int | None = None,
    kb: Any = None,
    progress: bool = True,
    ray_address: str | None = None,
    device: str = "auto",
) -> list[TrialResult]:
    """Run trials and return their results in the order of ``jobs``.

    Args:
        jobs: ``(task, config, seed, budget)`` tuples (seed and budget optional), :class:`Job`
            or dicts with those keys. ``task`` is a built-in name or, for ``"inline"``, any task;
            the process and Ray executors need tasks that their workers can rebuild (built-in
            names or picklable tasks whose datasets are registered at import).
        executor: ``"inline"`` (this process), ``"process"`` (a pool of long-lived spawned
            workers that import transformers once; as with any spawned pool, a script must
            call ``run_many`` under ``if __name__ == "__main__":``) or ``"ray"`` (a Ray cluster).
            A worker that dies (killed for memory, say) gives a ``"failed"`` result.
        n_workers: Parallel trials (default: 1 inline, else the number of cores). Each
            worker trains with ``cores // n_workers`` threads.
        kb: A ``metahp.KnowledgeBase`` to write every result to as it finishes (from this
            process only).
        progress: Show a tqdm progress bar, with the latest training's steps, loss and time
            left (inline and process executors).
        ray_address: Address of a running Ray cluster; ``None`` starts a local one (and
            shuts it down afterwards) unless Ray is already initialised.
        device: Passed to :func:`~metahp.runner.run_trial`.

    Raises:
        UnknownTaskError, InvalidConfigError: A job is bad; raised before anything trains.
        InvalidConfigError: Unknown executor or a bad ``n_workers``.
        MissingDependencyError: ``executor="ray"`` without Ray installed.
    """
    if executor not in EXECUTORS:
        raise InvalidConfigError(f"unknown executor {executor!r}; choose one of {sorted(EXECUTORS)}",
                                 parameter="executor")
    job_list = [_check(_as_job(item)) for item in jobs]
    cores = available_cores()
    workers = n_workers if n_workers is not None else (1 if executor == "inline" else cores)
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise InvalidConfigError(f"n_workers must be a positive integer, got {n_workers!r}", parameter="n_workers")
    if executor == "ray":
        _import_ray()
    results: list[TrialResult | None] = [None] * len(job_list)
    known: set[str] = set()
    bar = _progress_bar(len(job_list), executor, progress)

    def on_result(index: int, result: TrialResult) -> None:
        results[index] = result
        if kb is not None:
            record_result(kb, result, job_list[index].task, _known=known)
        bar.update(1)
        bar.set_postfix_str(f"{result.task}: {result.status}", refresh=False)

    def on_progress(index: int, p: Progress) -> None:
        bar.set_postfix_str(f"{p.task} #{index}: {p.describe()}")

    ctx = _Context(device=device, threads=max(1, cores // workers), on_result=on_result, n_workers=workers,
                   ray_address=ray_address, progress=on_progress if progress else None)
    try:
        EXECUTORS[executor](job_list, ctx)
    finally:
        bar.close()
    return [r for r in results if r is not None]


def _progress_bar(total: int, executor: str, enabled: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=f"trials ({executor})", unit="trial", disable=not enabled)

