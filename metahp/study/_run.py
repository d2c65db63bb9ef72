"""What a study does with its trials besides proposing: the optimisation loop, the table and the plot."""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from metahp.errors import MetaHPError
from metahp.types import TrialPruned, sign

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

    from metahp.study._study import Study
    from metahp.study._trial import Trial

__all__ = ["optimize", "trials_dataframe", "plot"]

logger = logging.getLogger("metahp.study")


def optimize(study: Study, objective: Callable[[Trial], Any], n_trials: int, n_jobs: int = 1,
             timeout: float | None = None, progress: bool = True,
             catch: tuple[type[BaseException], ...] = ()) -> None:
    """:meth:`Study.optimize` (see there)."""
    if isinstance(n_trials, bool) or not isinstance(n_trials, int) or n_trials < 0:
        raise MetaHPError(f"n_trials must be a non-negative integer, got {n_trials!r}")
    if n_jobs < 1:
        raise MetaHPError(f"n_jobs must be at least 1, got {n_jobs!r}")
    from tqdm.auto import tqdm  # tqdm.auto probes for notebooks: only when a study runs

    start = time.monotonic()
    bar = tqdm(total=n_trials, disable=not progress, desc=study.name or "metahp")
    counter = iter(range(n_trials))
    counter_lock = threading.Lock()

    def next_slot() -> bool:
        if timeout is not None and time.monotonic() - start > timeout:
            return False
        with counter_lock:
            return next(counter, None) is not None

    def run_one() -> None:
        trial = study.ask()
        try:
            result = objective(trial)
        except TrialPruned:
            study.tell(trial, None, status="pruned")
        except catch as exc:
            logger.warning("trial %d failed: %r", trial.number, exc)
            study.tell(trial, None, status="failed")
        except BaseException:
            study.tell(trial, None, status="failed")
            raise
        else:
            study.tell(trial, result)
        best = study._best()
        bar.update(1)
        if best is not None:
            bar.set_postfix(best=f"{best.value:.6g}", refresh=False)

    def worker() -> None:
        while next_slot():
            run_one()

    try:
        if n_jobs == 1:
            worker()
        else:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(max_workers=n_jobs) as pool:
                futures = [pool.submit(worker) for _ in range(n_jobs)]
                for f in futures:
                    f.result()
    finally:
        bar.close()


def trials_dataframe(study: Study) -> pd.DataFrame:
    """:meth:`Study.trials_dataframe` (see there)."""
    rows = []
    for t in study.trials:
        row: dict[str, Any] = {"number": t.number, "value": t.value, "status": t.status, "origin": t.origin,
                               "duration": t.duration, "datetime_start": t.datetime_start,
                               "datetime_complete": t.datetime_complete}
        row.update({f"params_{k}": v for k, v in t.config.items()})
        rows.append(row)
    columns = ["number", "value", "status", "origin", "duration", "datetime_start", "datetime_complete",
               *[f"params_{n}" for n in study.space.names]]
    return pd.DataFrame(rows, columns=columns)


def plot(study: Study, path: str | os.PathLike[str] | None = None, optimum: float | None = None) -> Figure:
    """:meth:`Study.plot` (see there)."""
    from matplotlib.figure import Figure  # matplotlib only for a plot

    fig = Figure(figsize=(6, 4))
    ax = fig.add_subplot()
    s = sign(study.direction)
    xs, ys, inc = [], [], []
    best = math.inf
    for t in study.trials:
        if t.status == "ok" and t.value is not None:
            best = min(best, s * t.value)
            xs.append(t.number + 1)
            ys.append(t.value)
        inc.append(s * best if math.isfinite(best) else math.nan)
    steps = np.arange(1, len(study.trials) + 1)
    if optimum is not None:
        regret = np.abs(np.asarray(inc, dtype=float) - optimum)
        ax.step(steps, np.maximum(regret, 1e-12), where="post", label="regret of incumbent")
        ax.set_yscale("log")
        ax.set_ylabel("regret")
    else:
        ax.scatter(xs, ys, s=12, alpha=0.6, label="trial")
        ax.step(steps, inc, where="post", color="C1", label="incumbent")
        ax.set_ylabel(f"objective ({study.direction})")
    ax.set_xlabel("trial")
    ax.legend()
    ax.set_title(study.name or "metahp study")
    fig.tight_layout()
    if path is not None:
        fig.savefig(Path(path))
    return fig
