"""An Optuna sampler backed by a metahp :class:`~metahp.Study`.

Drop it into any Optuna study (or ``Trainer.hyperparameter_search(backend="optuna",
sampler=...)``): the objective stays as it is.

Example:
    >>> import optuna
    >>> from metahp.integrations import MetaHPSampler
    >>> optuna.logging.set_verbosity(optuna.logging.WARNING)
    >>> study = optuna.create_study(sampler=MetaHPSampler(seed=0))
    >>> study.optimize(lambda t: (t.suggest_float("x", -3, 3) - 1) ** 2, n_trials=8)
    >>> len(study.trials)
    8
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.samplers import BaseSampler, RandomSampler
from optuna.search_space import IntersectionSearchSpace
from optuna.trial import FrozenTrial, TrialState

from metahp.space import Categorical, Float, Int, Param, SearchSpace
from metahp.study import Study

if TYPE_CHECKING:  # pragma: no cover
    from metahp.kb import KnowledgeBase

__all__ = ["MetaHPSampler", "to_search_space"]


def to_search_space(distributions: dict[str, BaseDistribution]) -> SearchSpace:
    """Map Optuna distributions to a metahp search space.

    ``FloatDistribution`` becomes :class:`~metahp.Float` (a ``step`` is applied when values go
    back to Optuna), ``IntDistribution`` :class:`~metahp.Int` and ``CategoricalDistribution``
    :class:`~metahp.Categorical`. Distributions with a single value are left out.

    Raises:
        InvalidSpaceError: A distribution metahp cannot represent (e.g. ``None`` as a choice).
    """
    params: list[Param] = []
    for name, dist in sorted(distributions.items()):
        if dist.single():
            continue
        if isinstance(dist, FloatDistribution):
            params.append(Float(name, float(dist.low), float(dist.high), log=dist.log))
        elif isinstance(dist, IntDistribution):
            params.append(Int(name, int(dist.low), int(dist.high), log=dist.log, step=int(dist.step)))
        elif isinstance(dist, CategoricalDistribution):
            params.append(Categorical(name, tuple(dist.choices)))  # type: ignore[arg-type]
        else:
            from metahp.errors import InvalidSpaceError

            raise InvalidSpaceError(f"parameter {name!r}: unsupported Optuna distribution {type(dist).__name__}")
    return SearchSpace(params)


def _to_optuna(value: Any, dist: BaseDistribution) -> Any:
    if isinstance(dist, FloatDistribution):
        v = float(value)
        if dist.step is not None:
            v = dist.low + round((v - dist.low) / dist.step) * dist.step
        return min(max(v, dist.low), dist.high)
    if isinstance(dist, IntDistribution):
        return int(value)
    return value


class MetaHPSampler(BaseSampler):
    """Optuna sampler: metahp's warm-started GP-BO on the joint (relative) search space.

    The first trial has no known search space and is sampled at random, as with Optuna's
    own model-based samplers; afterwards the joint space of completed trials is mapped to a
    :class:`~metahp.SearchSpace` and a metahp :class:`~metahp.Study` (in memory) proposes:
    the recommender's portfolio first when ``kb`` and ``task`` are given, then the GP with
    the meta-model as prior mean. Parameters outside the joint space fall back to
    ``RandomSampler``.

    Args:
        kb: Knowledge base for the prior and portfolio (None: cold-start GP-BO).
        task: The target task, as for :func:`metahp.recommend`.
        exclude: Knowledge-base tasks not to learn from.
        seed: Seed of the metahp study and of the random fallback.
        model: Meta-model name.
        n_initial: Passed to :class:`~metahp.Study`.
    """

    def __init__(self, kb: KnowledgeBase | None = None, task: Any = None, exclude: Sequence[str] | None = None,
                 seed: int = 0, model: str = "lgbm", n_initial: int | None = None) -> None:
        self.kb = kb
        self.task = task
        self.exclude = exclude
        self.seed = seed
        self.model = model
        self.n_initial = n_initial
        self._random = RandomSampler(seed=seed)
        self._intersection = IntersectionSearchSpace()
        self._studies: dict[tuple[int, str], Study] = {}
        self._synced: dict[tuple[int, str], set[int]] = {}
        self._pending: dict[int, tuple[Study, Any]] = {}
        self._lock = threading.RLock()

    def reseed_rng(self) -> None:
        """Reseed the random fallback (Optuna calls this in worker processes)."""
        self._random.reseed_rng()

    def infer_relative_search_space(self, study: optuna.Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        """The joint space of the completed trials, without single-valued distributions."""
        space = self._intersection.calculate(study)
        return {n: d for n, d in space.items() if not d.single()}

    def sample_relative(self, study: optuna.Study, trial: FrozenTrial,
                        search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        """Ask the metahp study for a configuration of the joint space."""
        if not search_space:
            return {}
        self._raise_error_if_multi_objective(study)
        try:
            space = to_search_space(search_space)
        except Exception:  # noqa: BLE001 - a space metahp cannot hold is left to the random fallback
            return {}
        if space.dim == 0:
            return {}
        with self._lock:
            inner = self._study_for(study, space)
            self._sync(study, inner, space)
            proposal = inner.ask()
            self._pending[trial.number] = (inner, proposal)
        return {n: _to_optuna(proposal.config[n], search_space[n]) for n in space.names}

    def sample_independent(self, study: optuna.Study, trial: FrozenTrial, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        """Parameters outside the joint space: random."""
        return self._random.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(self, study: optuna.Study, trial: FrozenTrial, state: TrialState,
                    values: Sequence[float] | None) -> None:
        """Tell the metahp study how the trial it proposed ended."""
        with self._lock:
            pending = self._pending.pop(trial.number, None)
            if pending is None:
                return
            inner, proposal = pending
            # Optuna may have moved the value onto a step grid: record what was evaluated.
            actual = {n: trial.params[n] for n in inner.space.names if n in trial.params}
            if inner.space.contains({**proposal.config, **actual}):
                proposal.config.update(inner.space.validate({**proposal.config, **actual}))
            value, status = _outcome(trial, state, values)
            inner.tell(proposal, value, status=status)
            self._synced.setdefault((id(study), inner.space.signature), set()).add(trial.number)

    # ------------------------------------------------------------------------------------------
    def _study_for(self, study: optuna.Study, space: SearchSpace) -> Study:
        key = (id(study), space.signature)
        if key not in self._studies:
            direction = "maximize" if study.direction == optuna.study.StudyDirection.MAXIMIZE else "minimize"
            self._studies[key] = Study(space, task=self.task, kb=self.kb, direction=direction, seed=self.seed,
                                       exclude=self.exclude, model=self.model, n_initial=self.n_initial)
            self._synced[key] = set()
        return self._studies[key]

    def _sync(self, study: optuna.Study, inner: Study, space: SearchSpace) -> None:
        """Record finished Optuna trials the metahp study has not seen (random ones, enqueued ones)."""
        seen = self._synced[(id(study), space.signature)]
        for ft in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.FAIL, TrialState.PRUNED)):
            if ft.number in seen or ft.number in self._pending or not all(n in ft.params for n in space.names):
                continue
            value, status = _outcome(ft, ft.state, ft.values)
            try:
                inner.add_trial({n: ft.params[n] for n in space.names}, value, status=status)
            except Exception:  # noqa: BLE001 - a value outside the current space is just not informative
                pass
            seen.add(ft.number)


def _outcome(trial: FrozenTrial, state: TrialState, values: Sequence[float] | None) -> tuple[float | None, str]:
    if state == TrialState.COMPLETE and values:
        v = float(values[0])
        return (v, "ok") if math.isfinite(v) else (None, "diverged")
    if state == TrialState.PRUNED:
        last = trial.last_step
        return (float(trial.intermediate_values[last]) if last is not None else None), "pruned"
    return None, "failed"
