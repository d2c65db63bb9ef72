"""The :class:`Study` facade: ask/tell over a space, every job delegated to a part.

Parts (each with its contract in its module): the proposer (:mod:`._propose`) runs the
initial design and hands the rest to the transfer strategy (:mod:`._strategy`), which makes
the model-based proposals; the warm start (:mod:`._warm`) gets the sources and the portfolio
from the knowledge base; the pool (:mod:`._pool`) holds pool mode's candidates; the pruner
(:mod:`._pruner`) stops trials; the storage (:mod:`._storage`) persists a named study;
:mod:`._run` holds the optimisation loop, the table and the plot.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from metahp.bo import Prior
from metahp.errors import InvalidSpaceError, MetaHPError
from metahp.space import SearchSpace
from metahp.study import _run
from metahp.study._design import COLD_DESIGN
from metahp.study._pool import CandidatePool
from metahp.study._propose import Proposer
from metahp.study._pruner import Pruner, SuccessiveHalvingPruner
from metahp.study._storage import KBStorage
from metahp.study._strategy import TransferStrategy, make_strategy
from metahp.study._trial import Trial, outcome
from metahp.task import resolve_task
from metahp.types import check_direction

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

    from metahp.kb import KnowledgeBase

__all__ = ["Study"]


class Study:
    """An ask/tell search over a :class:`~metahp.SearchSpace`.

    Args:
        space: The search space.
        task: The target task, as :func:`metahp.task.resolve_task` takes it: a ``TaskSpec``,
            the name of a knowledge-base task, or a mapping of meta-features (a built-in task
            of the training suite: ``metahp.app.task_spec_of(name)``). Without a task (or
            without ``kb``) the search starts cold.
        kb: A :class:`~metahp.KnowledgeBase` (or a path to one): the source of the prior and
            the warm-start portfolio, and where a named study is persisted.
        direction: ``minimize`` or ``maximize`` the objective.
        seed: Seed of every random choice; the same seed and reports give the same trials.
        exclude: Knowledge-base tasks not to learn from (names), e.g. the target itself.
        candidates: Pool mode: a frame (one column per parameter) or list of configurations;
            ``ask`` then only returns not-yet-evaluated candidates.
        model: Meta-model name (a key of ``metahp.meta.META_MODELS``).
        name: Persist the study in ``kb`` as task ``study/<name>``; an existing name resumes it.
        n_initial: Trials before the model: portfolio size when warm (default 3; up to twice
            that while the finished trials show fewer distinct values), Sobol points when
            cold (default 5). A warm portfolio is part space-filling where the sources rank
            unalike, and a warm start the first trials refute completes a cold start's
            design instead (:mod:`metahp.study._design`).
        prune: Let :meth:`Trial.report` stop poor trials: True for asynchronous successive
            halving (reduction factor 3), or a :class:`~metahp.study.Pruner`.
        warm_start: Use the knowledge base for the sources and the portfolio (False: cold
            even with a ``kb``, which is still used to persist a named study).
        prior: Use this :class:`~metahp.bo.Prior` instead of a meta-model fitted on ``kb``
            (no portfolio: the first trial is the prior's best candidate).
        transfer: How the sources shape the proposals after the initial design (a
            :class:`~metahp.study.TransferStrategy`): ``"prior"`` (default: the meta-model is
            the GP's prior mean, weighted by measured trust), ``"rgpe"`` (a ranking-weighted
            ensemble of source GPs and the target's GP), or a strategy instance.

    Raises:
        InvalidSpaceError: ``space`` is not a SearchSpace.
        MetaHPError: A bad direction, transfer or n_initial, or a resumed study whose space differs.
    """

    def __init__(self, space: SearchSpace, task: Any = None, kb: KnowledgeBase | str | os.PathLike[str] | None = None,
                 direction: str = "minimize", seed: int = 0, exclude: Sequence[str] | str | None = None,
                 candidates: pd.DataFrame | Sequence[Mapping[str, Any]] | None = None, model: str = "lgbm",
                 name: str | None = None, n_initial: int | None = None, prune: bool | Pruner = False, *,
                 warm_start: bool = True, prior: Prior | None = None,
                 transfer: str | TransferStrategy = "prior") -> None:
        if not isinstance(space, SearchSpace):
            raise InvalidSpaceError(f"space must be a metahp.SearchSpace, got {type(space).__name__}")
        if space.dim == 0:
            raise InvalidSpaceError("the search space has no parameters; add at least one Float, Int or Categorical")
        if direction not in ("minimize", "maximize"):
            raise MetaHPError(f"direction must be 'minimize' or 'maximize', got {direction!r}")
        self.strategy = make_strategy(transfer, prior)
        if n_initial is not None and (isinstance(n_initial, bool) or not isinstance(n_initial, int) or n_initial < 0):
            raise MetaHPError(f"n_initial must be a non-negative integer, got {n_initial!r}")
        if kb is not None and isinstance(kb, (str, os.PathLike)):
            from metahp.kb import KnowledgeBase  # the store (DuckDB) only when a path is given

            kb = KnowledgeBase(kb)
        self.space, self.task, self.kb, self.direction, self.seed = space, task, kb, direction, int(seed)
        self._sign = check_direction(direction).sign
        self.exclude = [exclude] if isinstance(exclude, str) else list(exclude or [])
        self.model, self.name, self.transfer = model, name, self.strategy.name
        self.pruner: Pruner | None = SuccessiveHalvingPruner() if prune is True else (prune or None)
        self.prune = self.pruner is not None
        self._user_prior = prior is not None
        self.warm_start = bool(warm_start) and kb is not None and task is not None and prior is None
        self.n_initial = n_initial if n_initial is not None else (3 if self.warm_start or prior else COLD_DESIGN)
        self.trials: list[Trial] = []
        self._queue: list[dict[str, Any]] = []
        self._lock = threading.RLock()
        self._proposer = Proposer(self)
        self.pool = CandidatePool(space, candidates) if candidates is not None else None
        self.storage = KBStorage(kb, name) if name is not None and kb is not None else None
        if self.storage is not None:
            for number, r in enumerate(self.storage.read(space, direction)):
                trial = self._add(r.config, r.origin, self.pool.match(r.config) if self.pool else None, r.seed, number)
                trial.value, trial.status, trial.curve = r.value, r.status, r.curve
                trial.datetime_complete = trial.datetime_start

    # -- public API ---------------------------------------------------------------------------
    @property
    def study_id(self) -> str | None:
        """The id written on every persisted trial (the study's name); used by ``kb.contribute``."""
        return self.name

    @property
    def task_name(self) -> str | None:
        """Knowledge-base task holding this study's trials (``study/<name>``), or None in memory."""
        return f"study/{self.name}" if self.name is not None else None

    @property
    def exhausted(self) -> bool:
        """In pool mode, whether every candidate has been evaluated or is running (``ask`` would raise)."""
        return self.pool is not None and self.pool.exhausted

    @classmethod
    def load(cls, name: str, kb: KnowledgeBase | str | os.PathLike[str], **overrides: Any) -> Study:
        """Resume a persisted study with every finished trial.

        Args:
            name: The study's name.
            kb: The knowledge base it was persisted in.
            **overrides: Constructor arguments that were not persisted (``candidates``, a
                strategy instance as ``transfer``) or should change.

        Raises:
            UnknownTaskError: No study of that name in ``kb``.
        """
        if isinstance(kb, (str, os.PathLike)):
            from metahp.kb import KnowledgeBase  # the store (DuckDB) only when a path is given

            kb = KnowledgeBase(kb)
        space, kwargs = KBStorage.settings(kb, name)
        return cls(space, kb=kb, name=name, **{**kwargs, **overrides})

    def enqueue(self, config: Mapping[str, Any]) -> None:
        """Queue a configuration (missing parameters take their defaults); queued ones are asked first.

        Raises:
            InvalidConfigError: The configuration does not fit the space.
        """
        valid = self.space.validate(config, fill_defaults=True)
        with self._lock:
            self._queue.append(valid)

    def ask(self) -> Trial:
        """Propose the next configuration: a running :class:`Trial`; report its result with :meth:`tell`.

        Raises:
            MetaHPError: Pool mode and every candidate was evaluated or is running.
        """
        with self._lock:
            number = len(self.trials)
            config, origin, candidate = self._proposer.propose(np.random.default_rng([self.seed, number]))
            return self._add(config, origin, candidate, self.seed + number)

    def tell(self, trial: Trial | int, value: Any = None, status: str = "ok") -> Trial:
        """Report the outcome of a trial and return it, finished.

        Args:
            trial: The trial (or its number) from :meth:`ask`.
            value: The objective in the study's direction, a runner ``TrialResult``, or None.
                None or a non-finite value with status ``ok`` becomes ``failed`` / ``diverged``.
            status: One of :data:`metahp.types.STATUSES`.

        Raises:
            InvalidObjectiveError: A value that is not a number (or too large for a float), or an
                unknown status; the trial stays running.
            KnowledgeBaseError: The study's store could not be written (e.g. locked past its
                ``lock_timeout``); the trial stays running and can be told again.
            MetaHPError: The trial is unknown or already finished.
        """
        with self._lock:
            t = self._get(trial)
            if t.status != "running":
                raise MetaHPError(f"trial {t.number} is already finished ({t.status}); ask() for a new one")
            curve = list(t.curve)
            try:  # persisted, then finished: a failed save leaves the trial running, to be told again
                t.value, t.status = outcome(t, value, status)
                t.datetime_complete = datetime.now(UTC)
                if self.storage is not None:
                    spec = (resolve_task(self.task, self.kb) if self.task is not None and not self.storage.created
                            else None)
                    self.storage.write(t, spec, self.space, self.direction, self._settings())
            except BaseException:
                t.value, t.status, t.datetime_complete, t.curve = None, "running", None, curve
                raise
            return t

    def add_trial(self, config: Mapping[str, Any], value: Any = None, status: str = "ok") -> Trial:
        """Record a trial evaluated outside :meth:`ask` (e.g. by another sampler); it informs later proposals.

        Raises:
            InvalidConfigError: The configuration does not fit the space.
        """
        valid = self.space.validate(config, fill_defaults=True)
        with self._lock:
            trial = self._add(valid, "external", self.pool.match(valid) if self.pool else None,
                              self.seed + len(self.trials))
            return self.tell(trial, value, status=status)

    def optimize(self, objective: Callable[[Trial], Any], n_trials: int, n_jobs: int = 1,
                 timeout: float | None = None, progress: bool = True,
                 catch: tuple[type[BaseException], ...] = ()) -> None:
        """Run ``objective`` on ``n_trials`` proposed configurations.

        Args:
            objective: Called with each :class:`Trial` (a mapping of the configuration);
                returns a float, a runner ``TrialResult`` or None (failed). Raising
                :class:`~metahp.TrialPruned` marks the trial pruned.
            n_trials: How many trials to run.
            n_jobs: Trials evaluated at once (threads).
            timeout: Stop starting new trials after this many seconds.
            progress: Show a tqdm progress bar with the incumbent.
            catch: Exception types recorded as a failed trial instead of stopping the study
                (others are recorded as failed and re-raised).
        """
        _run.optimize(self, objective, n_trials, n_jobs=n_jobs, timeout=timeout, progress=progress, catch=catch)

    @property
    def best_trial(self) -> Trial:
        """The finished ``ok`` trial with the best value.

        Raises:
            MetaHPError: No trial has finished with a value yet.
        """
        best = self._best()
        if best is None:
            raise MetaHPError("no trial has finished with status 'ok' yet; tell() a result first")
        return best

    @property
    def best_value(self) -> float:
        """Value of :attr:`best_trial`."""
        value = self.best_trial.value
        assert value is not None  # an ok trial always has a value
        return value

    @property
    def best_config(self) -> dict[str, Any]:
        """Configuration of :attr:`best_trial`."""
        return self.best_trial.config

    def trials_dataframe(self) -> pd.DataFrame:
        """The trials as a frame, one row each.

        Columns: ``number, value, status, origin, duration, datetime_start, datetime_complete``
        and ``params_<name>`` per parameter.
        """
        return _run.trials_dataframe(self)

    def plot(self, path: str | os.PathLike[str] | None = None, optimum: float | None = None) -> Figure:
        """Plot every trial's value and the incumbent (or its regret, given the ``optimum``).

        Args:
            path: Save the figure there (PNG, PDF, ... by extension).
            optimum: Known best value; the plot then shows regret on a log scale.

        Returns:
            The matplotlib figure (Agg backend; nothing is shown).
        """
        return _run.plot(self, path, optimum)

    # -- helpers -------------------------------------------------------------------------------
    def _add(self, config: dict[str, Any], origin: str, candidate: int | None, seed: int,
             number: int | None = None) -> Trial:
        trial = Trial(self, len(self.trials) if number is None else number, config, origin=origin,
                      candidate=candidate, seed=seed)
        if self.pool is not None:
            self.pool.take(candidate)
        self.trials.append(trial)
        return trial

    def _should_prune(self, trial: Trial, step: float, value: float) -> bool:
        if self.pruner is None:
            return False
        with self._lock:
            return self.pruner.should_prune(trial, step, self._sign * value, self.trials)

    def _settings(self) -> dict[str, Any]:
        task = self.task if isinstance(self.task, (str, type(None))) else None
        return {"task": task, "seed": self.seed, "exclude": self.exclude, "model": self.model,
                "n_initial": self.n_initial, "prune": self.prune, "warm_start": self.warm_start,
                "transfer": self.transfer}

    def _get(self, trial: Trial | int) -> Trial:
        number = trial.number if isinstance(trial, Trial) else trial
        if isinstance(number, bool) or not isinstance(number, (int, np.integer)) or not 0 <= number < len(self.trials):
            raise MetaHPError(f"unknown trial {trial!r}; tell() takes a Trial from ask() or its number")
        t = self.trials[int(number)]
        if isinstance(trial, Trial) and t is not trial:
            raise MetaHPError(f"trial {trial.number} belongs to another study")
        return t

    def _best(self) -> Trial | None:
        done = [t for t in self.trials if t.status == "ok" and t.value is not None]
        return min(done, key=lambda t: self._sign * float(t.value)) if done else None  # type: ignore[arg-type]

    def __repr__(self) -> str:
        return (f"Study(name={self.name!r}, direction={self.direction!r}, trials={len(self.trials)}, "
                f"mode={'pool' if self.pool is not None else 'continuous'})")
