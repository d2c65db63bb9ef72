"""Ask/tell hyperparameter search, warm-started from the knowledge base.

A :class:`Study` proposes configurations one at a time (:meth:`Study.ask`) and learns from
what you report (:meth:`Study.tell`). Without a knowledge base it is a plain GP-BO: five
scrambled-Sobol points, then a BoTorch GP with LogEI. With one, the first trials are the
recommender's portfolio for the task, and afterwards the GP's prior mean is the
meta-model's prediction, shrunk towards zero as far as the target's own trials contradict
it and a GP on those trials alone ranks them better (:func:`metahp.bo.prior_weight`,
:func:`metahp.bo.ranking_trust`).

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
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from metahp.bo._encoding import encode_frame, snap
from metahp.bo._prior import MetaModelPrior, Prior, prior_weight
from metahp.errors import InvalidObjectiveError, MetaHPError
from metahp.space import SearchSpace
from metahp.task import resolve_task

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

    from metahp.kb import KnowledgeBase

__all__ = ["Study", "Trial", "TrialPruned", "STATUSES"]

logger = logging.getLogger(__name__)

STATUSES = ("ok", "failed", "diverged", "pruned")
"""Statuses a finished trial can have (as in the knowledge base)."""

_DIRECTIONS = ("minimize", "maximize")
_SH_ETA = 3


class TrialPruned(MetaHPError):
    """Raise inside an objective to stop a trial early; :meth:`Study.optimize` records it as pruned."""


class Trial(Mapping[str, Any]):
    """One proposed configuration and what became of it; a read-only mapping of the configuration.

    Attributes:
        number: Position in the study (0, 1, ...).
        config: The configuration to evaluate.
        seed: A seed for the training run (the study's seed plus ``number``).
        origin: Why it was proposed: ``enqueued``, ``portfolio``, ``sobol``, ``gp``, ``rgpe`` or ``random``.
        status: ``running`` until told, then one of :data:`STATUSES`.
        value: The reported objective, in the study's direction (None if failed).
        curve: Intermediate ``[step, value]`` pairs from :meth:`report`.
    """

    def __init__(self, study: Study | None, number: int, config: dict[str, Any], *, origin: str = "gp",
                 candidate: int | None = None, seed: int = 0) -> None:
        self._study = study
        self.number = number
        self.config = config
        self.origin = origin
        self.candidate = candidate
        self.seed = seed
        self.status = "running"
        self.value: float | None = None
        self.curve: list[list[float]] = []
        self.datetime_start = datetime.now(UTC)
        self.datetime_complete: datetime | None = None
        self._rungs: dict[int, float] = {}

    @property
    def params(self) -> dict[str, Any]:
        """Alias of :attr:`config` (Optuna's name)."""
        return self.config

    @property
    def duration(self) -> float | None:
        """Seconds between ask and tell."""
        if self.datetime_complete is None:
            return None
        return (self.datetime_complete - self.datetime_start).total_seconds()

    def __getitem__(self, name: str) -> Any:
        return self.config[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.config)

    def __len__(self) -> int:
        return len(self.config)

    def __repr__(self) -> str:
        return f"Trial(number={self.number}, status={self.status!r}, value={self.value!r}, config={self.config!r})"

    def report(self, step: int | float, value: float) -> bool:
        """Record an intermediate value; True means stop this trial now (successive halving).

        Only studies created with ``prune=True`` ever answer True.

        Args:
            step: Training step (or epoch) the value was measured at; increasing.
            value: The objective at that step, in the study's direction.
        """
        v = float(value)
        self.curve.append([float(step), v])
        if self._study is None:
            return False
        return self._study._should_prune(self, float(step), v)


@dataclass
class _Warm:
    """What the knowledge base contributes: a prior and a portfolio (both may be empty)."""

    prior: Prior | None = None
    portfolio: list[dict[str, Any]] = field(default_factory=list)
    note: str = ""
    rgpe: Any = None


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
        n_initial: Trials before the GP: portfolio size when warm (default 3; up to twice
            that while the finished trials show fewer distinct values), Sobol points when
            cold (default 5).
        prune: Let :meth:`Trial.report` stop poor trials (asynchronous successive halving,
            reduction factor 3).
        warm_start: Use the knowledge base for the prior and the portfolio (False: cold GP-BO
            even with a ``kb``, which is still used to persist a named study).
        prior: Use this :class:`~metahp.bo.Prior` instead of a meta-model fitted on ``kb``
            (no portfolio: the first trial is the prior's best candidate).
        transfer: How the knowledge base shapes the GP after the portfolio: ``"prior"``
            (default: the meta-model is the GP's prior mean, weighted by measured trust) or
            ``"rgpe"`` (a ranking-weighted ensemble of one GP per source task and the
            target's GP, :class:`metahp.bo.RGPE`; the portfolio is the same).

    Raises:
        InvalidSpaceError: ``space`` is not a SearchSpace.
        MetaHPError: A bad direction, or a resumed study whose space differs.
    """

    def __init__(
        self,
        space: SearchSpace,
        task: Any = None,
        kb: KnowledgeBase | str | os.PathLike[str] | None = None,
        direction: str = "minimize",
        seed: int = 0,
        exclude: Sequence[str] | str | None = None,
        candidates: pd.DataFrame | Sequence[Mapping[str, Any]] | None = None,
        model: str = "lgbm",
        name: str | None = None,
        n_initial: int | None = None,
        prune: bool = False,
        *,
        warm_start: bool = True,
        prior: Prior | None = None,
        transfer: str = "prior",
    ) -> None:
        from metahp.errors import InvalidSpaceError

        if not isinstance(space, SearchSpace):
            raise InvalidSpaceError(f"space must be a metahp.SearchSpace, got {type(space).__name__}")
        if space.dim == 0:
            raise InvalidSpaceError("the search space has no parameters; add at least one Float, Int or Categorical")
        if direction not in _DIRECTIONS:
            raise MetaHPError(f"direction must be 'minimize' or 'maximize', got {direction!r}")
        if transfer not in ("prior", "rgpe"):
            raise MetaHPError(f"transfer must be 'prior' or 'rgpe', got {transfer!r}")
        if n_initial is not None and (isinstance(n_initial, bool) or not isinstance(n_initial, int) or n_initial < 0):
            raise MetaHPError(f"n_initial must be a non-negative integer, got {n_initial!r}")
        if kb is not None and isinstance(kb, (str, os.PathLike)):
            from metahp.kb import KnowledgeBase

            kb = KnowledgeBase(kb)
        self.space = space
        self.task = task
        self.kb = kb
        self.direction = direction
        self.seed = int(seed)
        self.exclude = [exclude] if isinstance(exclude, str) else list(exclude or [])
        self.model = model
        self.name = name
        self.prune = bool(prune)
        self.transfer = transfer
        self.warm_start = bool(warm_start) and kb is not None and task is not None and prior is None
        self.n_initial = n_initial if n_initial is not None else (3 if self.warm_start or prior else 5)
        self.trials: list[Trial] = []
        self._queue: list[dict[str, Any]] = []
        self._lock = threading.RLock()
        self._warm: _Warm | None = _Warm(prior=prior, note="user prior") if prior is not None else None
        self._gp_state: dict | None = None
        self._own_state: dict | None = None  # the GP on the target's trials alone that the prior is judged against
        self._gp_fitted_at: int | None = None
        self._prior_scale: tuple[float, float] | None = None
        self._pool: pd.DataFrame | None = None
        self._pool_unit: np.ndarray | None = None
        self._pool_prior: np.ndarray | None = None
        self._used: np.ndarray | None = None
        if candidates is not None:
            self._set_pool(candidates)
        self._persisted = False
        if name is not None and kb is not None:
            self._resume()

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
        return self._used is not None and bool(self._used.all())

    @classmethod
    def load(cls, name: str, kb: KnowledgeBase | str | os.PathLike[str], **overrides: Any) -> Study:
        """Resume a persisted study with every finished trial.

        Args:
            name: The study's name.
            kb: The knowledge base it was persisted in.
            **overrides: Constructor arguments that were not persisted (``candidates``) or
                should change.

        Raises:
            UnknownTaskError: No study of that name in ``kb``.
        """
        if isinstance(kb, (str, os.PathLike)):
            from metahp.kb import KnowledgeBase

            kb = KnowledgeBase(kb)
        info = kb.task_info(f"study/{name}")
        settings = dict(info.provenance.get("study", {}))
        if info.space is None:
            raise MetaHPError(f"study {name!r} was stored without a search space; it cannot be resumed")
        kwargs: dict[str, Any] = {
            "task": settings.get("task") or (dict(info.meta_features) or None),
            "direction": info.direction,
            "seed": settings.get("seed", 0),
            "exclude": settings.get("exclude"),
            "model": settings.get("model", "lgbm"),
            "n_initial": settings.get("n_initial"),
            "prune": settings.get("prune", False),
            "warm_start": settings.get("warm_start", True),
            "transfer": settings.get("transfer", "prior"),
        }
        kwargs.update(overrides)
        return cls(info.space, kb=kb, name=name, **kwargs)

    def enqueue(self, config: Mapping[str, Any]) -> None:
        """Queue a configuration; queued configurations are asked before anything else.

        Missing parameters take their defaults.

        Raises:
            InvalidConfigError: The configuration does not fit the space.
        """
        valid = self.space.validate(config, fill_defaults=True)
        with self._lock:
            self._queue.append(valid)

    def ask(self) -> Trial:
        """Propose the next configuration.

        Returns:
            A running :class:`Trial`; report its result with :meth:`tell`.

        Raises:
            MetaHPError: Pool mode and every candidate was evaluated or is running.
        """
        with self._lock:
            number = len(self.trials)
            rng = np.random.default_rng([self.seed, number])
            config, origin, candidate = self._propose(rng)
            trial = Trial(self, number, config, origin=origin, candidate=candidate, seed=self.seed + number)
            if candidate is not None and self._used is not None:
                self._used[candidate] = True
            self.trials.append(trial)
            return trial

    def tell(self, trial: Trial | int, value: Any = None, status: str = "ok") -> Trial:
        """Report the outcome of a trial.

        Args:
            trial: The trial (or its number) from :meth:`ask`.
            value: The objective in the study's direction, a runner ``TrialResult``, or None.
                None or a non-finite value with status ``ok`` becomes ``failed`` / ``diverged``.
            status: One of :data:`STATUSES`.

        Returns:
            The finished trial.

        Raises:
            InvalidObjectiveError: A value that is not a number, or an unknown status.
            MetaHPError: The trial is unknown or already finished.
        """
        with self._lock:
            t = self._get(trial)
            if t.status != "running":
                raise MetaHPError(f"trial {t.number} is already finished ({t.status}); ask() for a new one")
            if value is not None and not isinstance(value, (int, float, np.integer, np.floating)) \
                    and hasattr(value, "objective"):
                curve = getattr(value, "curve", None)
                if curve:
                    t.curve = [[float(s), float(v)] for s, v in curve]
                status = str(getattr(value, "status", status) or status)
                value = value.objective
            if status not in STATUSES:
                raise InvalidObjectiveError(f"status must be one of {STATUSES}, got {status!r}")
            number: float | None = None
            if value is not None:
                if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
                    raise InvalidObjectiveError(
                        f"the objective of trial {t.number} must be a number, got {value!r} ({type(value).__name__})")
                number = float(value)
                if not math.isfinite(number):
                    number = None
                    if status == "ok":
                        status = "diverged"
            elif status == "ok":
                status = "failed"
            if status == "pruned" and number is None and t.curve:
                number = t.curve[-1][1]
            t.value = number
            t.status = status
            t.datetime_complete = datetime.now(UTC)
            self._persist(t)
            return t

    def add_trial(self, config: Mapping[str, Any], value: Any = None, status: str = "ok") -> Trial:
        """Record a trial evaluated outside :meth:`ask` (e.g. by another sampler); it informs later proposals.

        Args:
            config: The configuration (missing parameters take their defaults).
            value: As in :meth:`tell`.
            status: As in :meth:`tell`.

        Raises:
            InvalidConfigError: The configuration does not fit the space.
        """
        valid = self.space.validate(config, fill_defaults=True)
        with self._lock:
            candidate = self._pool_match(valid)
            trial = Trial(self, len(self.trials), valid, origin="external", candidate=candidate,
                          seed=self.seed + len(self.trials))
            if candidate is not None and self._used is not None:
                self._used[candidate] = True
            self.trials.append(trial)
            return self.tell(trial, value, status=status)

    def optimize(self, objective: Callable[[Trial], Any], n_trials: int, n_jobs: int = 1,
                 timeout: float | None = None, progress: bool = True,
                 catch: tuple[type[BaseException], ...] = ()) -> None:
        """Run ``objective`` on ``n_trials`` proposed configurations.

        Args:
            objective: Called with each :class:`Trial` (a mapping of the configuration);
                returns a float, a runner ``TrialResult`` or None (failed). Raising
                :class:`TrialPruned` marks the trial pruned.
            n_trials: How many trials to run.
            n_jobs: Trials evaluated at once (threads).
            timeout: Stop starting new trials after this many seconds.
            progress: Show a tqdm progress bar with the incumbent.
            catch: Exception types recorded as a failed trial instead of stopping the study
                (others are recorded as failed and re-raised).
        """
        if isinstance(n_trials, bool) or not isinstance(n_trials, int) or n_trials < 0:
            raise MetaHPError(f"n_trials must be a non-negative integer, got {n_trials!r}")
        if n_jobs < 1:
            raise MetaHPError(f"n_jobs must be at least 1, got {n_jobs!r}")
        from tqdm.auto import tqdm

        start = time.monotonic()
        bar = tqdm(total=n_trials, disable=not progress, desc=self.name or "metahp")
        counter = iter(range(n_trials))
        counter_lock = threading.Lock()

        def next_slot() -> bool:
            if timeout is not None and time.monotonic() - start > timeout:
                return False
            with counter_lock:
                return next(counter, None) is not None

        def run_one() -> None:
            trial = self.ask()
            try:
                result = objective(trial)
            except TrialPruned:
                self.tell(trial, None, status="pruned")
            except catch as exc:
                logger.warning("trial %d failed: %r", trial.number, exc)
                self.tell(trial, None, status="failed")
            except BaseException:
                self.tell(trial, None, status="failed")
                raise
            else:
                self.tell(trial, result)
            best = self._best()
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
        rows = []
        for t in self.trials:
            row: dict[str, Any] = {"number": t.number, "value": t.value, "status": t.status, "origin": t.origin,
                                   "duration": t.duration, "datetime_start": t.datetime_start,
                                   "datetime_complete": t.datetime_complete}
            row.update({f"params_{k}": v for k, v in t.config.items()})
            rows.append(row)
        columns = ["number", "value", "status", "origin", "duration", "datetime_start", "datetime_complete",
                   *[f"params_{n}" for n in self.space.names]]
        return pd.DataFrame(rows, columns=columns)

    def plot(self, path: str | os.PathLike[str] | None = None, optimum: float | None = None) -> Figure:
        """Plot every trial's value and the incumbent (or its regret, given the ``optimum``).

        Args:
            path: Save the figure there (PNG, PDF, ... by extension).
            optimum: Known best value; the plot then shows regret on a log scale.

        Returns:
            The matplotlib figure (Agg backend; nothing is shown).
        """
        from matplotlib.figure import Figure

        fig = Figure(figsize=(6, 4))
        ax = fig.add_subplot()
        sign = 1.0 if self.direction == "minimize" else -1.0
        xs, ys, inc = [], [], []
        best = math.inf
        for t in self.trials:
            if t.status == "ok" and t.value is not None:
                best = min(best, sign * t.value)
                xs.append(t.number + 1)
                ys.append(t.value)
            inc.append(sign * best if math.isfinite(best) else math.nan)
        steps = np.arange(1, len(self.trials) + 1)
        if optimum is not None:
            regret = np.abs(np.asarray(inc, dtype=float) - optimum)
            ax.step(steps, np.maximum(regret, 1e-12), where="post", label="regret of incumbent")
            ax.set_yscale("log")
            ax.set_ylabel("regret")
        else:
            ax.scatter(xs, ys, s=12, alpha=0.6, label="trial")
            ax.step(steps, inc, where="post", color="C1", label="incumbent")
            ax.set_ylabel(f"objective ({self.direction})")
        ax.set_xlabel("trial")
        ax.legend()
        ax.set_title(self.name or "metahp study")
        fig.tight_layout()
        if path is not None:
            fig.savefig(Path(path))
        return fig

    # -- proposal -------------------------------------------------------------------------------
    def _propose(self, rng: np.random.Generator) -> tuple[dict[str, Any], str, int | None]:
        if self._queue:
            config = self._queue.pop(0)
            return config, "enqueued", self._pool_match(config)
        if self.exhausted:
            assert self._used is not None
            raise MetaHPError(f"every one of the {len(self._used)} candidates has been evaluated or is running; "
                              "the pool is exhausted")
        warm = self._warm_start()
        finished = [t for t in self.trials if t.status != "running"]
        # The initial design fills the first n_initial trials, whatever their origin (enqueued,
        # recorded with add_trial or proposed here).
        n_auto = sum(1 for t in self.trials if t.origin in ("portfolio", "sobol"))
        if self._initial_design_pending(finished, warm) and not self._prior_refuted():
            if warm.portfolio:
                config = warm.portfolio.pop(0)
                if self._pool is None:
                    return config, "portfolio", None
                idx = self._nearest_free(self.space.encode(config)[None, :])
                return self._pool_config(idx), "portfolio", idx
            if warm.prior is None:
                return self._initial_point(rng, n_auto)
        if not finished and warm.prior is None:
            return self._initial_point(rng, n_auto)
        if warm.rgpe is not None and finished:
            return self._rgpe_step(rng, finished, warm.rgpe)
        return self._bo_step(rng, finished, warm.prior)

    @property
    def _max_portfolio(self) -> int:
        """How many portfolio trials a warm start may run while its trials tie (see below)."""
        return 2 * self.n_initial

    def _initial_design_pending(self, finished: list[Trial], warm: _Warm) -> bool:
        """Whether the next trial still belongs to the initial design (portfolio or Sobol points).

        It holds the first ``n_initial`` trials. A warm start's portfolio also goes on, up to
        ``2 * n_initial`` trials, while the finished trials show fewer than ``n_initial``
        distinct values: a trial that ties an earlier one (an accuracy on a small evaluation
        set often does; broken trials all count as one value) tells the rank-based GP nothing
        the earlier one did not, so the next source-backed hedge is worth more than a GP step.
        """
        if len(self.trials) < self.n_initial:
            return True
        if not warm.portfolio or len(self.trials) >= self._max_portfolio or not finished:
            return False
        from metahp.bo._gp import impute_broken

        values, ok = self._values(finished)
        return len(np.unique(impute_broken(values, ok))) < self.n_initial

    def _initial_point(self, rng: np.random.Generator, k: int) -> tuple[dict[str, Any], str, int | None]:
        from scipy.stats import qmc

        n = max(self.n_initial, k + 1)
        points = qmc.Sobol(self.space.dim, scramble=True, seed=self.seed).random(1 << int(math.ceil(math.log2(n))))
        u = points[k % len(points)][None, :]
        if self._pool is not None:
            idx = self._nearest_free(u)
            return self._pool_config(idx), "sobol", idx
        return self.space.decode(snap(self.space, u)[0]), "sobol", None

    def _bo_step(self, rng: np.random.Generator, finished: list[Trial],
                 prior: Prior | None) -> tuple[dict[str, Any], str, int | None]:
        from metahp.bo._gp import candidate_points, propose, refit_due

        X, values, ok = self._observations(finished)
        if self._pool is not None:
            assert self._pool_unit is not None and self._used is not None
            free = np.flatnonzero(~self._used)
            cand = self._pool_unit[free]
        else:
            order = np.argsort(np.where(ok, values, np.inf))[:5] if len(values) else np.zeros(0, dtype=int)
            cand = candidate_points(self.space, rng, X[order])
            cand = self._drop_near_taken(cand)
            free = None
        prior_obs = prior_cand = None
        if prior is not None:
            if self._pool is not None and free is not None:
                pool_prior = self._pool_prior_values(prior)
                prior_cand = pool_prior[free]
                # Trials picked from the pool reuse its prior values instead of another prediction.
                at_pool = [t.candidate for t in finished]
                if all(i is not None for i in at_pool):
                    prior_obs = pool_prior[np.asarray(at_pool, dtype=int)]
            else:
                prior_cand = self._prior_std(prior, cand)
            if prior_obs is None:
                prior_obs = self._prior_std(prior, X) if len(X) else np.zeros(0)
        if len(finished) == 0:
            assert prior_cand is not None
            idx = int(np.argmin(prior_cand))
        else:
            optimize = self._gp_state is None or refit_due(len(X), self._gp_fitted_at)
            idx, scores, fitted = propose(self.space, X, values, ok, candidates=cand, prior_obs=prior_obs,
                                          prior_cand=prior_cand, init_state=self._gp_state,
                                          own_state=self._own_state, optimize=optimize)
            self._gp_state = fitted.model.state_dict()  # type: ignore[attr-defined]
            if fitted.own is not None:
                self._own_state = fitted.own.state_dict()  # type: ignore[attr-defined]
            if optimize:
                self._gp_fitted_at = len(X)
            finite = scores[np.isfinite(scores)]
            if finite.size == 0 or np.ptp(finite) == 0:
                idx = int(rng.integers(len(cand)))
        if self._pool is not None and free is not None:
            pool_idx = int(free[idx])
            return self._pool_config(pool_idx), "gp", pool_idx
        return self.space.decode(cand[idx]), "gp", None

    def _rgpe_step(self, rng: np.random.Generator, finished: list[Trial],
                   rgpe: Any) -> tuple[dict[str, Any], str, int | None]:
        from metahp.bo._gp import candidate_points

        X, values, ok = self._observations(finished)
        rgpe.fit(X, values, ok, step=len(finished))
        if self._pool is not None:
            assert self._pool_unit is not None and self._used is not None
            free = np.flatnonzero(~self._used)
            # Scored on the whole pool (source predictions there are computed once), picked among the free.
            scores = rgpe.log_ei(self._pool_unit)[free]
            idx = int(free[int(np.argmax(np.where(np.isfinite(scores), scores, -np.inf)))])
            return self._pool_config(idx), "rgpe", idx
        order = np.argsort(np.where(ok, values, np.inf))[:5]
        cand = self._drop_near_taken(candidate_points(self.space, rng, X[order]))
        scores = rgpe.log_ei(cand)
        return self.space.decode(cand[int(np.argmax(np.where(np.isfinite(scores), scores, -np.inf)))]), "rgpe", None

    def _observations(self, finished: list[Trial]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Encoded points (``n x d``), minimised values (NaN where none) and the usable-value mask."""
        X = self.space.encode_many([t.config for t in finished]) if finished else np.zeros((0, self.space.dim))
        return (X, *self._values(finished))

    def _values(self, finished: list[Trial]) -> tuple[np.ndarray, np.ndarray]:
        """Minimised values (NaN where none) and the usable-value mask, without encoding the configurations."""
        sign = 1.0 if self.direction == "minimize" else -1.0
        values = np.array([sign * t.value if t.value is not None else np.nan for t in finished], dtype=float)
        ok = np.array([t.status == "ok" and t.value is not None for t in finished], dtype=bool)
        return values, ok

    def _drop_near_taken(self, cand: np.ndarray) -> np.ndarray:
        taken = [t for t in self.trials]
        if not taken:
            return cand
        T = self.space.encode_many([t.config for t in taken])
        running = np.array([t.status == "running" for t in taken])
        # Exact repeats are never useful; pending points also keep their neighbourhood free so that
        # parallel workers do not all evaluate the same spot.
        radius = np.where(running, 0.05, 1e-6)[None, :]
        dist = np.sqrt(((cand[:, None, :] - T[None, :, :]) ** 2).mean(axis=2))
        keep = ~(dist < radius).any(axis=1)
        return cand[keep] if keep.any() else cand

    def _prior_refuted(self) -> bool:
        """Whether the warm-start trials so far rank against the prior (then the portfolio stops)."""
        if self._warm is None or self._warm.prior is None:
            return False
        done = [t for t in self.trials if t.status == "ok" and t.value is not None]
        if len(done) < 3:
            return False
        sign = 1.0 if self.direction == "minimize" else -1.0
        X = self.space.encode_many([t.config for t in done])
        mean, _ = self._warm.prior(X)
        return prior_weight(mean, np.array([sign * float(t.value) for t in done if t.value is not None])) == 0.0

    # -- prior ---------------------------------------------------------------------------------
    def _warm_start(self) -> _Warm:
        if self._warm is None:
            self._warm = self._build_warm() if self.warm_start else _Warm(note="cold start")
            if self._warm.note:
                logger.info("study %s: %s", self.name or "(in memory)", self._warm.note)
            done = {repr(sorted(t.config.items())) for t in self.trials}
            self._warm.portfolio = [c for c in self._warm.portfolio if repr(sorted(c.items())) not in done]
        return self._warm

    def _build_warm(self) -> _Warm:
        kb = self.kb
        assert kb is not None
        try:
            from metahp.meta import fit_meta
        except ImportError as exc:  # the meta-learning part is optional for plain BO
            return _Warm(note=f"no meta-models available ({exc}); cold start")
        spec = resolve_task(self.task, kb)
        meta, family = spec.meta_features, spec.family
        exclude = list(self.exclude)
        if self.task_name is not None and kb.has_task(self.task_name):
            exclude.append(self.task_name)
        # The same family and exclusions as the recommender's, so both share one cached fit.
        train_family = family if family in kb.families() else None
        try:
            fitted = fit_meta(kb, self.model, family=train_family, exclude=exclude, space=self.space)
        except MetaHPError as exc:
            return _Warm(note=f"could not fit the meta-model ({exc}); cold start")
        if fitted.model is None:
            return _Warm(note="the knowledge base shares no parameter with this space; cold start")
        prior = MetaModelPrior(fitted.model, meta, self.space)
        portfolio: list[dict[str, Any]] = []
        if self.n_initial > 0:
            try:
                from metahp.recommender import recommend

                # In pool mode the portfolio is picked among the candidates themselves.
                recs = recommend(spec, space=self.space, k=self._max_portfolio, model=self.model, exclude=exclude,
                                 kb=kb, seed=self.seed, family=train_family, candidates=self._pool)
                portfolio = [self.space.validate(r.config, fill_defaults=True) for r in recs]
            except (ImportError, MetaHPError) as exc:
                logger.info("no portfolio from the recommender (%s); the prior picks the first trials", exc)
        rgpe = None
        if self.transfer == "rgpe":
            from metahp.bo._rgpe import RGPE, SourceData

            sources = [SourceData(t.name, t.observed, t.observed_score) for t in fitted.tasks if t.observed.size]
            rgpe = RGPE(self.space, sources, seed=self.seed)
        return _Warm(prior=None if rgpe is not None else prior, portfolio=portfolio, rgpe=rgpe,
                     note=f"warm start from {fitted.n_trials} source trials ({self.transfer})")

    def _prior_std(self, prior: Prior, X: np.ndarray) -> np.ndarray:
        """Prior mean standardised over a fixed reference set of the space (or over the pool)."""
        if self._prior_scale is None:
            from scipy.stats import qmc

            from metahp.bo._gp import standardize_prior

            if self._pool_unit is not None:
                ref = self._pool_unit
            else:
                ref = snap(self.space, qmc.Sobol(self.space.dim, scramble=True, seed=12345).random(1024))
            self._prior_scale = standardize_prior(prior, ref)
        mu, sd = self._prior_scale
        mean, _ = prior(X)
        return (mean - mu) / sd

    def _pool_prior_values(self, prior: Prior) -> np.ndarray:
        if self._pool_prior is None:
            assert self._pool_unit is not None
            self._pool_prior = self._prior_std(prior, self._pool_unit)
        return self._pool_prior

    # -- pool mode -------------------------------------------------------------------------------
    def _set_pool(self, candidates: pd.DataFrame | Sequence[Mapping[str, Any]]) -> None:
        frame = candidates if isinstance(candidates, pd.DataFrame) else pd.DataFrame([dict(c) for c in candidates])
        if len(frame) == 0:
            raise MetaHPError("candidates is empty; pass at least one configuration or leave it None")
        frame = frame.reset_index(drop=True)
        self._pool_unit = encode_frame(self.space, frame)
        self._pool = frame[self.space.names]
        self._used = np.zeros(len(frame), dtype=bool)

    def _pool_config(self, idx: int) -> dict[str, Any]:
        assert self._pool is not None
        row = self._pool.iloc[idx]
        return self.space.validate({n: _plain(row[n]) for n in self.space.names})

    def _pool_match(self, config: Mapping[str, Any]) -> int | None:
        if self._pool_unit is None or self._used is None:
            return None
        u = self.space.encode(config)
        hits = np.flatnonzero(np.all(np.abs(self._pool_unit - u) < 1e-9, axis=1) & ~self._used)
        return int(hits[0]) if hits.size else None

    def _nearest_free(self, u: np.ndarray) -> int:
        assert self._pool_unit is not None and self._used is not None
        free = np.flatnonzero(~self._used)
        d = ((self._pool_unit[free] - u.reshape(1, -1)) ** 2).sum(axis=1)
        return int(free[int(np.argmin(d))])

    # -- pruning -----------------------------------------------------------------------------------
    def _should_prune(self, trial: Trial, step: float, value: float) -> bool:
        if not self.prune:
            return False
        with self._lock:
            sign = 1.0 if self.direction == "minimize" else -1.0
            base = self._min_step(step)
            rung = int(math.floor(math.log(max(step, base) / base, _SH_ETA) + 1e-9))
            if rung in trial._rungs:
                return False
            trial._rungs[rung] = sign * value
            peers = [t._rungs[rung] for t in self.trials if rung in t._rungs]
            if len(peers) < _SH_ETA:
                return False
            keep = max(1, len(peers) // _SH_ETA)
            return sign * value > sorted(peers)[keep - 1]

    def _min_step(self, step: float) -> float:
        first = [t.curve[0][0] for t in self.trials if t.curve and t.curve[0][0] > 0]
        return max(min(first) if first else step, 1e-12)

    # -- persistence ------------------------------------------------------------------------------
    def _settings(self) -> dict[str, Any]:
        task = self.task if isinstance(self.task, (str, type(None))) else None
        return {"task": task, "seed": self.seed, "exclude": self.exclude, "model": self.model,
                "n_initial": self.n_initial, "prune": self.prune, "warm_start": self.warm_start,
                "transfer": self.transfer}

    def _ensure_task(self) -> None:
        if self._persisted or self.kb is None or self.name is None:
            return
        spec = resolve_task(self.task, self.kb) if self.task is not None else None
        meta = spec.meta_features if spec is not None else {}
        family = spec.family if spec is not None else None
        self.kb.add_task(f"study/{self.name}", family=family or "study", kind="study", meta_features=meta,
                         space=self.space, direction=self.direction, provenance={"study": self._settings()})
        self._persisted = True

    def _persist(self, t: Trial) -> None:
        if self.kb is None or self.name is None:
            return
        self._ensure_task()
        record = {"config": t.config, "objective": t.value, "status": t.status,
                  "curve": t.curve or None, "cost": t.duration, "seed": t.seed, "study_id": self.name,
                  "metrics": {"trial_number": t.number, "origin": t.origin}}
        if t.status == "pruned":
            record["objective"] = None if t.value is None else t.value
        self.kb.add_trials(f"study/{self.name}", [record], source=f"study:{self.name}")

    def _resume(self) -> None:
        assert self.kb is not None and self.name is not None
        if not self.kb.has_task(f"study/{self.name}"):
            return
        info = self.kb.task_info(f"study/{self.name}")
        if info.space is not None and info.space != self.space:
            raise MetaHPError(f"study {self.name!r} exists with another search space ({info.space}); use a new name "
                              "or Study.load() to resume it")
        if info.direction != self.direction:
            raise MetaHPError(f"study {self.name!r} exists with direction {info.direction!r}; use a new name")
        self._persisted = True
        frame = self.kb.trials(task=f"study/{self.name}")
        records: list[tuple[int, Any]] = []
        for _, row in frame.iterrows():
            metrics = row.get("metrics") if isinstance(row.get("metrics"), dict) else {}
            records.append((int(metrics.get("trial_number", len(records))), row))
        records.sort(key=lambda r: r[0])
        for new_number, (_, row) in enumerate(records):
            metrics = row["metrics"] if isinstance(row["metrics"], dict) else {}
            config = self.space.validate(dict(row["config"]), fill_defaults=True)
            trial = Trial(self, new_number, config, origin=str(metrics.get("origin", "gp")),
                          candidate=self._pool_match(config), seed=int(row["seed"]) if pd.notna(row["seed"]) else 0)
            value = row["value"]
            trial.value = float(value) if value is not None and pd.notna(value) else None
            trial.status = str(row["status"])
            curve = row.get("curve")
            trial.curve = [[float(s), float(v)] for s, v in curve] if isinstance(curve, list) else []
            trial.datetime_complete = trial.datetime_start
            if trial.candidate is not None and self._used is not None:
                self._used[trial.candidate] = True
            self.trials.append(trial)

    # -- helpers -------------------------------------------------------------------------------------
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
        if not done:
            return None
        sign = 1.0 if self.direction == "minimize" else -1.0
        return min(done, key=lambda t: sign * float(t.value))  # type: ignore[arg-type]

    def __repr__(self) -> str:
        return (f"Study(name={self.name!r}, direction={self.direction!r}, trials={len(self.trials)}, "
                f"mode={'pool' if self._pool is not None else 'continuous'})")


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value
