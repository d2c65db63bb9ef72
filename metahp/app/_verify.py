"""Verification: train the top recommendations and compare them with what was predicted.

``metahp verify --task NAME -k 3`` (and :func:`verify`) asks the recommender for a
built-in task, trains the top ``k`` configurations and the task's default configuration
with the runner, prints predicted and measured objectives side by side, stores every run
in the knowledge base with its provenance, and says whether the best verified
configuration beats the default.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from metahp.kb import KnowledgeBase
from metahp.recommender import recommend
from metahp.runner import record_result, run_many
from metahp.runner import suite as tasks
from metahp.task import TaskSpec, resolve_task

__all__ = ["VerifiedRun", "VerifyReport", "verify", "task_spec_of"]


@dataclass
class VerifiedRun:
    """One trained configuration: what was predicted and what was measured."""

    label: str
    config: dict[str, Any]
    predicted: float | None
    measured: float | None
    status: str
    seconds: float


@dataclass
class VerifyReport:
    """The outcome of :func:`verify`."""

    task: str
    objective_name: str
    direction: str
    runs: list[VerifiedRun] = field(default_factory=list)
    default: VerifiedRun | None = None

    def _better(self, a: float, b: float) -> bool:
        return a > b if self.direction == "maximize" else a < b

    @property
    def best(self) -> VerifiedRun | None:
        """The best verified recommendation (``None`` if every run failed)."""
        ok = [r for r in self.runs if r.measured is not None and math.isfinite(r.measured)]
        if not ok:
            return None
        best = ok[0]
        for run in ok[1:]:
            if self._better(run.measured, best.measured):  # type: ignore[arg-type]
                best = run
        return best

    @property
    def beats_default(self) -> bool | None:
        """Whether the best verified recommendation beats the task's default configuration.

        None when the default was not trained (``include_default=False``) or nothing was measured.
        """
        best = self.best
        if best is None or self.default is None:  # without a default run there is nothing to claim
            return None
        if self.default.measured is None:
            return True
        return self._better(best.measured, self.default.measured)  # type: ignore[arg-type]

    def table(self) -> str:
        """Predicted and measured objectives side by side, as text."""
        width = max(len(r.label) for r in [*self.runs, *([self.default] if self.default else [])])
        lines = [f"{'run':<{width}}  {'predicted':>10}  {'measured':>10}  {'status':<9} {'seconds':>7}"]
        for run in [*self.runs, *([self.default] if self.default else [])]:
            predicted = f"{run.predicted:.4f}" if run.predicted is not None else "-"
            measured = f"{run.measured:.4f}" if run.measured is not None else "-"
            lines.append(f"{run.label:<{width}}  {predicted:>10}  {measured:>10}  {run.status:<9} {run.seconds:>7.1f}")
        verdict = self.beats_default
        if verdict is not None:
            lines.append(f"best verified recommendation {'beats' if verdict else 'does not beat'} the default "
                         f"({self.objective_name}, {self.direction})")
        return "\n".join(lines)


def task_spec_of(name: str) -> TaskSpec:
    """The :class:`~metahp.task.TaskSpec` of a built-in task (its meta-features, family and space).

    The library resolves task names through a knowledge base only (:func:`metahp.task.resolve_task`);
    a built-in task of the training suite is resolved here, above it.
    """
    return resolve_task(tasks.get(name))


def verify(task: str, k: int = 3, *, kb: KnowledgeBase | None = None, model: str = "lgbm", device: str = "cpu",
           seed: int = 0, budget: int | None = None, exclude: Sequence[str] | None = None,
           include_default: bool = True, progress: bool = True) -> VerifyReport:
    """Train the top ``k`` recommendations for a built-in task and store the runs.

    Args:
        task: A built-in task name (``metahp.tasks.names()``).
        k: How many recommendations to train.
        kb: The knowledge base to recommend from and to store into (default store if None).
        model: Meta-model name.
        device: Where to train (``cpu``, ``cuda``, ``auto``).
        seed: Training seed.
        budget: Override the task's training steps.
        exclude: Tasks whose trials the recommender must not use; the task itself is always
            excluded, so the check is honest even after its verified runs are stored.
        include_default: Also train the task's default configuration, for comparison.
        progress: Show a progress bar.

    Returns:
        A :class:`VerifyReport`.
    """
    kb = kb if kb is not None else KnowledgeBase()
    spec = task_spec_of(task)
    assert spec.space is not None  # every built-in task has a space
    recs = recommend(spec, space=spec.space, k=k, model=model, kb=kb, seed=seed,
                     exclude=sorted({task, *(exclude or [])} & set(kb.tasks()["name"])))
    configs = [r.config for r in recs]
    labels = [f"recommendation {i + 1}" for i in range(len(configs))]
    if include_default:
        configs.append(spec.space.default())
        labels.append("default")
    results = run_many([(task, c, seed, budget) for c in configs], executor="inline", device=device,
                       progress=progress)
    runner_task = tasks.get(task)
    report = VerifyReport(task=task, objective_name=runner_task.objective_name, direction=runner_task.direction)
    for i, (label, result) in enumerate(zip(labels, results)):
        record_result(kb, result, runner_task, source=f"verify:{label}")
        run = VerifiedRun(label=label, config=result.config,
                          predicted=recs[i].predicted_objective if i < len(recs) else None,
                          measured=result.objective, status=result.status, seconds=result.seconds)
        if label == "default":
            report.default = run
        else:
            report.runs.append(run)
    return report
