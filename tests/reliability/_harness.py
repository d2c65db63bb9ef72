"""Processes that write, read, crash and fuzz a knowledge base; shared by the tests and the benchmark.

Run as a script this module is the child process of the crash, concurrency and training-fault
scenarios (``python _harness.py <command> <args as JSON>``); imported, it gives the parent
side: start a child, kill it at a chosen moment, and check what the store holds afterwards;
and the runner tasks that misbehave on purpose (a worker that dies, a model too large).
The benchmark (``benchmarks/reliability.py``) imports it to run the long variants.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from metahp import Categorical, Float, Int, KnowledgeBase, SearchSpace
from metahp.runner import Task

HERE = Path(__file__).resolve()
SPACE = SearchSpace([
    Float("learning_rate", 1e-5, 1e-1, log=True),
    Int("batch_size", 1, 4096, log=True),
    Categorical("optimizer", ("adamw", "sgd")),
])
TASK = "crash/target"


def batch(tag: int, index: int, size: int) -> pd.DataFrame:
    """Rows ``index * size`` .. of writer ``tag``: objectives are their global row numbers, all distinct."""
    rng = np.random.default_rng(tag * 1_000_003 + index)
    start = index * size
    return pd.DataFrame({
        "learning_rate": 10 ** rng.uniform(-5, -1, size),
        "batch_size": rng.integers(1, 4097, size),
        "optimizer": rng.choice(["adamw", "sgd"], size),
        "objective": np.arange(start, start + size, dtype=float),
        "seed": np.full(size, tag),
    })


def prepare_store(path: Path, *, tasks: tuple[str, ...] = (TASK,), keep: int = 10) -> KnowledgeBase:
    """A store with ``tasks`` and ``keep`` trials of a task ``crash/keep`` that must survive every crash."""
    kb = KnowledgeBase(path)
    for name in (*tasks, "crash/keep"):
        kb.add_task(name, family="crash", space=SPACE)
    kb.add_trials("crash/keep", batch(999, 0, keep))
    return kb


def make_bundle(folder: Path, prefix: str, n_tasks: int, per_task: int, tag: int) -> Path:
    """Export a bundle of ``n_tasks`` tasks named ``<prefix>/<i>`` with ``per_task`` trials each."""
    kb = KnowledgeBase(":memory:")
    for i in range(n_tasks):
        name = f"{prefix}/{i}"
        kb.add_task(name, family=prefix, space=SPACE, meta_features={"m": float(i)})
        kb.add_trials(name, batch(tag + i, 0, per_task))
    return kb.export(folder)


# ------------------------------------------------------------------------------------ studies
STUDY_SPACE = SearchSpace([Float("x", -2.0, 2.0), Float("y", -2.0, 2.0)])


def study_objective(params: dict[str, Any]) -> float:
    """A cheap deterministic objective (no training): the resumed values must match it exactly."""
    return float((params["x"] - 0.3) ** 2 + (params["y"] + 0.1) ** 2)


def make_study(kb: KnowledgeBase, name: str) -> Any:
    """A cold, named study (Sobol points only, so no model fitting slows the loop)."""
    from metahp import Study

    return Study(STUDY_SPACE, kb=kb, name=name, warm_start=False, n_initial=10_000, seed=0)


# ------------------------------------------------------------------------------ runner faults
#: Environment variable naming the flag file of :class:`SignallingTask` and :class:`DyingTask`
#: (spawned workers inherit the environment).
FLAG_ENV = "METAHP_RELIABILITY_FLAG"


class SignallingTask(Task):
    """A task that touches the flag file (``$METAHP_RELIABILITY_FLAG``) when its training loop starts."""

    def eval_interval(self, budget: int) -> int:
        Path(os.environ[FLAG_ENV]).touch()
        return super().eval_interval(budget)


class DyingTask(Task):
    """A task whose worker process exits abruptly (as under the OOM killer or a segfault) mid-trial.

    It builds its model, waits until the flag file exists (another worker is training),
    then calls ``os._exit``.
    """

    def eval_interval(self, budget: int) -> int:
        flag, deadline = Path(os.environ[FLAG_ENV]), time.monotonic() + 300
        while not flag.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        os._exit(3)


def variant(cls: type[Task], suffix: str, base: str = "copy") -> Task:
    """The built-in task ``base`` as an instance of ``cls``, named ``<base>-<suffix>``."""
    import dataclasses

    from metahp.runner import suite as tasks

    template = tasks.get(base)
    values = {f.name: getattr(template, f.name) for f in dataclasses.fields(template)}
    return cls(**{**values, "name": f"{base}-{suffix}"})


#: A configuration of the built-in ``copy`` task that diverges within a few steps.
DIVERGING = {"learning_rate": 1.0, "optimizer": "adamw", "warmup_ratio": 0.0, "grad_clip": 0.0}


def huge_task(base: str = "copy") -> Any:
    """A built-in task with a model of about 1.6 billion parameters (6.4 GB in float32)."""
    import dataclasses

    from metahp.runner import suite as tasks

    template = tasks.get(base)
    model = dataclasses.replace(template.model, hidden_size=4096, num_layers=8, num_heads=8)
    return dataclasses.replace(template, name=f"{base}-huge", model=model)


def oom_trial(kb: KnowledgeBase, headroom: int) -> dict[str, Any]:
    """Train :func:`huge_task` with the address space limited to what is mapped now plus ``headroom`` bytes.

    The limit is lifted again before the result is written to ``kb``, as a runner would after
    a trial. Returns the result's status, message and the limit used.
    """
    import resource

    import torch  # noqa: F401 - mapped before the limit, as in a long-lived worker

    from metahp.runner import record_result, run_trial

    task = huge_task()
    mapped = next(int(line.split()[1]) * 1024 for line in Path("/proc/self/status").read_text().splitlines()
                  if line.startswith("VmSize:"))
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (mapped + headroom, hard))
    try:
        result = run_trial(task, {"learning_rate": 1e-3, "batch_size": 4}, budget=2, device="cpu", threads=1)
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
    record_result(kb, result, task)
    return {"status": result.status, "message": result.message, "limit": mapped + headroom, "task": task.name}


# ------------------------------------------------------------------------------ the child side
def _say(*words: Any) -> None:
    print(*words, flush=True)


def child_main(command: str, args: dict[str, Any]) -> None:
    """Entry of a child process; prints ``ready`` before its first write and ``committed <k>`` after each."""
    kb = KnowledgeBase(args["path"], lock_timeout=600)
    if command == "batches":  # a long loop of add_trials, each one transaction
        _say("ready")
        for k in range(args["batches"]):
            kb.add_trials(args["task"], batch(args["tag"], k, args["size"]))
            _say("committed", k + 1)
    elif command == "import":
        _say("ready")
        kb.import_(args["bundle"])
        _say("committed", 1)
    elif command == "hold":  # hold the write lock until killed
        with kb.session():
            _say("locked")
            time.sleep(600)
    elif command == "ops":  # a concurrent writer: a list of mixed operations
        _say("ready")
        for op in args["ops"]:
            if op[0] == "add":
                _, task, tag, n, size = op
                for k in range(n):
                    kb.add_trials(task, batch(tag, k, size))
                    time.sleep(args.get("pause", 0.0))  # the file lock is not fair: let a reader in
            elif op[0] == "import":
                kb.import_(op[1])
            elif op[0] == "source":
                kb.import_source(op[1], op[2], **(op[3] if len(op) > 3 else {}))
            _say("done", op[0])
    elif command == "study":  # a named study persisted in the store, one tell after another
        study = make_study(kb, args["name"])
        _say("ready")
        for _ in range(args["trials"]):
            trial = study.ask()
            study.tell(trial, study_objective(trial.params))
            _say("committed", len(study.trials))
    elif command == "faults":  # a diverging trial, then one under an address-space limit too small for its model
        from metahp.runner import record_result, run_trial

        diverging = run_trial("copy", DIVERGING, budget=12, device="cpu", threads=1)
        record_result(kb, diverging)
        _say("diverged", json.dumps({"status": diverging.status, "message": diverging.message}))
        _say("oom", json.dumps(oom_trial(kb, args["headroom"])))
    elif command == "reader":  # poll a count until the stop file appears
        seen: list[int] = []
        stop = Path(args["stop"])
        _say("ready")
        while not stop.exists():
            seen.append(kb.count_trials(args["task"]))
            time.sleep(args.get("interval", 0.0))  # leave the lock to the writers between polls
        seen.append(kb.count_trials(args["task"]))
        _say("seen", json.dumps(seen))
    else:
        raise SystemExit(f"unknown command {command!r}")


# ----------------------------------------------------------------------------- the parent side
@dataclass
class Child:
    """A running child process and the lines it has printed."""

    proc: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)
    _reader: threading.Thread | None = None
    _event: threading.Event = field(default_factory=threading.Event)

    def wait_for(self, word: str, timeout: float = 120.0) -> None:
        """Block until the child prints a line starting with ``word``."""
        deadline = time.monotonic() + timeout
        while not any(line.startswith(word) for line in self.lines):
            if self.proc.poll() is not None and self._reader is not None and not self._reader.is_alive():
                raise RuntimeError(f"child exited with {self.proc.returncode} before {word!r}: "
                                   f"{self.proc.stderr.read() if self.proc.stderr else ''}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"child did not print {word!r} within {timeout} s")
            self._event.wait(0.02)
            self._event.clear()

    def committed(self) -> int:
        """The last ``committed <k>`` the child printed (0 if none)."""
        counts = [int(line.split()[1]) for line in self.lines if line.startswith("committed")]
        return max(counts, default=0)

    def kill(self) -> None:
        """SIGKILL the child and wait for it (and for its output to be read)."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=60)
        if self._reader is not None:
            self._reader.join(timeout=10)

    def finish(self, timeout: float = 300.0) -> int:
        """Wait for a normal exit; returns the exit code."""
        code = self.proc.wait(timeout=timeout)
        if self._reader is not None:
            self._reader.join(timeout=10)
        return code

    def stderr(self) -> str:
        """What the child wrote to stderr (after it ended)."""
        return self.proc.stderr.read() if self.proc.stderr else ""


def start(command: str, **args: Any) -> Child:
    """Start a child running ``command`` with ``args`` (JSON-serialisable)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, str(HERE), command, json.dumps(args, default=str)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    child = Child(proc)

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            child.lines.append(line.strip())
            child._event.set()
        child._event.set()

    child._reader = threading.Thread(target=pump, daemon=True)
    child._reader.start()
    return child


def crash_once(command: str, path: Path, delay: float, **args: Any) -> tuple[Child, float]:
    """Start ``command`` on the store at ``path``, SIGKILL it ``delay`` s after it is ready.

    Returns the child and the seconds a new writer then took to get the lock and write.
    """
    child = start(command, path=str(path), **args)
    child.wait_for("ready")
    time.sleep(delay)
    child.kill()
    began = time.perf_counter()
    KnowledgeBase(path, lock_timeout=30).add_task("crash/probe", family="crash", space=SPACE)
    return child, time.perf_counter() - began


def objectives(kb: KnowledgeBase, task: str, seed: int | None = None) -> np.ndarray:
    """The sorted objectives of ``task`` (of one writer's ``seed`` if given), read straight from DuckDB."""
    with kb._connection() as con:
        task_id = kb._resolve(con, task).task_id
        sql = "SELECT objective FROM trials WHERE task_id = ?" + (" AND seed = ?" if seed is not None else "")
        rows = con.execute(sql + " ORDER BY objective", [task_id] + ([seed] if seed is not None else [])).fetchnumpy()
    return np.asarray(rows["objective"], dtype=float)


if __name__ == "__main__":
    child_main(sys.argv[1], json.loads(sys.argv[2]))
