"""Ask/tell hyperparameter search, warm-started from the knowledge base.

A :class:`Study` proposes configurations one at a time (:meth:`Study.ask`) and learns from
what you report (:meth:`Study.tell`). Without a knowledge base it is a plain GP-BO: five
scrambled-Sobol points, then a BoTorch GP with LogEI. With one, the first trials are the
recommender's portfolio for the task (part of it space-filling points where the sources rank
configurations unalike; a cold design's where the first trials refute it), and afterwards a
:class:`TransferStrategy` proposes: by default :class:`PriorTransfer`, whose GP takes the
meta-model's prediction as prior mean, shrunk towards zero as far as the target's own trials
contradict it and a GP on those trials alone ranks them better
(:func:`metahp.bo.prior_weight`, :func:`metahp.bo.ranking_trust`); or :class:`RGPETransfer`
(``transfer="rgpe"``); or any strategy an experiment passes in.

Example:
    >>> from metahp import SearchSpace, Float, Study
    >>> study = Study(SearchSpace([Float("x", -2.0, 2.0)]), seed=0)
    >>> study.optimize(lambda t: (t["x"] - 1.0) ** 2, n_trials=8, progress=False)
    >>> len(study.trials), study.best_trial.value < 0.5
    (8, True)

Objectives given to :meth:`Study.optimize` receive the :class:`Trial`, which is also a
read-only mapping of the configuration, so both ``lambda t: f(t["lr"])`` and functions that
expect a plain config dict work; they return a float, a runner ``TrialResult``, or None
(counted as failed). Raise :class:`TrialPruned` (or return after :meth:`Trial.report`
returned True) to stop a trial early.

Where to change what: a new way to use the sources after the initial design is a
:class:`TransferStrategy` (``_strategy.py``); early stopping is a :class:`Pruner`
(``_pruner.py``); the facade (``_study.py``) only runs the initial design and delegates.
"""

from __future__ import annotations

from metahp.study._pool import CandidatePool
from metahp.study._pruner import Pruner, SuccessiveHalvingPruner
from metahp.study._storage import KBStorage
from metahp.study._strategy import (
    TRANSFERS,
    PriorTransfer,
    RGPETransfer,
    Sources,
    Start,
    Step,
    StepFunction,
    TransferStrategy,
)
from metahp.study._study import Study
from metahp.study._trial import Trial
from metahp.types import STATUSES, TrialPruned

__all__ = [
    "Study", "Trial", "TrialPruned", "STATUSES", "TransferStrategy", "PriorTransfer", "RGPETransfer", "TRANSFERS",
    "Sources", "Start", "Step", "StepFunction", "Pruner", "SuccessiveHalvingPruner", "CandidatePool", "KBStorage",
]
