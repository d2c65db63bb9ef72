"""Train real transformers on the built-in offline task suite, one trial or many.

``run_trial`` trains one configuration of a task with metahp's own loop and returns a
:class:`TrialResult` (failure is data: diverged and failed runs come back, they do not
raise); ``run_many`` runs a list of jobs inline, in a process pool or on a Ray cluster
and writes each result to a knowledge base as it finishes. torch and transformers are
imported on first use.
"""

from __future__ import annotations

from metahp.runner._spec import ARCHITECTURE_PARAMS, ModelSpec, Task
from metahp.runner._train import OPTIMIZERS, SCHEDULES, STATUSES, Progress, Pruned, TrialResult, run_trial
from metahp.runner.executors import (
    EXECUTORS,
    Job,
    MissingDependencyError,
    TrialPool,
    ray_init,
    ray_tune_trainable,
    record_result,
    run_many,
)

__all__ = [
    "ARCHITECTURE_PARAMS",
    "EXECUTORS",
    "Job",
    "MissingDependencyError",
    "ModelSpec",
    "OPTIMIZERS",
    "Progress",
    "Pruned",
    "SCHEDULES",
    "STATUSES",
    "Task",
    "TrialPool",
    "TrialResult",
    "ray_init",
    "ray_tune_trainable",
    "record_result",
    "run_many",
    "run_trial",
]
