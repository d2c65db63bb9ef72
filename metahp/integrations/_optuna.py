"""An Optuna sampler backed by a metahp :class:`~metahp.Study`.

Drop it into any Optuna study (or ``Trainer.hyperparameter_search(backend="optuna",
sampler=...)``): the objective stays as it is, parameter names included
(``per_device_train_batch_size`` learns from the knowledge base's ``batch_size``).

Example:
    >>> import optuna, warnings
    >>> from metahp.integrations import MetaHPSampler
    >>> optuna.logging.set_verbosity(optuna.logging.WARNING)
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")  # no kb and no task: it says it starts cold
    ...     sampler = MetaHPSampler(seed=0)
    >>> study = optuna.create_study(sampler=sampler)
    >>> study.optimize(lambda t: (t.suggest_float("x", -3, 3) - 1) ** 2, n_trials=8)
    >>> len(study.trials), study.trials[0].user_attrs["metahp_origin"]
    (8, 'random')
"""

from __future__ import annotations

import logging
import math
import threading
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.samplers import BaseSampler, RandomSampler
from optuna.search_space import IntersectionSearchSpace
from optuna.trial import FrozenTrial, TrialState

import metahp
from metahp.aliases import canonical_name
from metahp.errors import InvalidSpaceError, MetaHPError
from metahp.integrations._common import ORIGIN_ATTR, NameMap, origin_label, warn_if_cold
from metahp.space import Categorical, Float, Int, Param, SearchSpace

if TYPE_CHECKING:  # pragma: no cover
    from metahp.kb import KnowledgeBase
    from metahp.study import Study

logger = logging.getLogger(__name__)
_MISSING = object()

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


def _into(value: Any, dist: BaseDistribution) -> Any:
    """A recommended value moved into an Optuna distribution, or ``_MISSING`` if it cannot be."""
    if isinstance(dist, CategoricalDistribution):
        for choice in dist.choices:
            if choice == value and isinstance(choice, bool) == isinstance(value, bool):
                return choice
        numeric = [c for c in dist.choices if isinstance(c, (int, float)) and not isinstance(c, bool)]
        if not numeric or isinstance(value, (bool, str)) or not isinstance(value, (int, float)):
            return _MISSING
        # A batch size of 15 among [4, 8, 16] is 16: nearest on a log scale where every value is positive.
        logs = value > 0 and all(c > 0 for c in numeric)
        return min(numeric, key=lambda c: abs(math.log(c / value)) if logs else abs(c - value))
    if isinstance(value, (bool, str)) or not isinstance(value, (int, float)):
        return _MISSING
    v = min(max(float(value), dist.low), dist.high)  # type: ignore[attr-defined]
    if isinstance(dist, IntDistribution):
        return min(dist.high, dist.low + round((v - dist.low) / dist.step) * dist.step)
    return _to_optuna(v, dist)


class MetaHPSampler(BaseSampler):
    """Optuna sampler: the knowledge base's recommendations first, then metahp's warm-started GP-BO.

    * **First trials.** Until a trial has finished, Optuna knows no joint search space; the
      sampler answers each ``sample_independent`` call from the recommender's portfolio for
      ``task`` (:func:`metahp.recommend` in the knowledge base's own space; trial ``i`` gets
      recommendation ``i``), each value moved into the user's distribution. So trial 0 is the
      top recommendation. Parameters the recommendation lacks take the distribution's centre.
    * **Afterwards** the joint space of the finished trials becomes a :class:`~metahp.Study` (in
      memory) that proposes the rest of the portfolio, then the GP with the meta-model as prior
      mean. Parameters outside the joint space fall back to ``RandomSampler``.
    * **Names.** Parameters are searched under their canonical names (:mod:`metahp.aliases`):
      ``per_device_train_batch_size`` is the knowledge base's ``batch_size``, ``lr`` its
      ``learning_rate``; values go back to Optuna under the user's names.
    * **Provenance.** Every trial's ``user_attrs["metahp_origin"]`` says where its
      configuration came from: ``portfolio`` (a recommendation), ``bo`` (the GP) or ``random``
      (the cold start's Sobol design or the random fallback); ``enqueued`` for
      ``study.enqueue_trial``.
    * **Cold start.** Without ``kb`` or ``task`` the sampler warns once, at construction, and
      runs a cold GP-BO.

    Args:
        kb: Knowledge base for the recommendations and the prior (None: cold start).
        task: The target task, as for :func:`metahp.recommend`: a ``TaskSpec`` (e.g. from
            :func:`metahp.describe_task`), a task name or a dict of meta-features (None: cold start).
        exclude: Knowledge-base tasks not to learn from.
        seed: Seed of the recommendations, the metahp study and the random fallback.
        model: Meta-model name.
        n_initial: Portfolio size (passed to :class:`~metahp.Study`; default 3).
    """

    def __init__(self, kb: KnowledgeBase | None = None, task: Any = None, exclude: Sequence[str] | None = None,
                 seed: int = 0, model: str = "lgbm", n_initial: int | None = None) -> None:
        self.kb = kb
        self.task = task
        self.exclude = exclude
        self.seed = seed
        self.model = model
        self.n_initial = n_initial
        self.cold = warn_if_cold("MetaHPSampler", kb, task)
        self._random = RandomSampler(seed=seed)
        self._intersection = IntersectionSearchSpace()
        self._studies: dict[tuple[Any, str], Study] = {}
        self._synced: dict[tuple[Any, str], set[int]] = {}
        self._pending: dict[tuple[Any, int], tuple[Study, Any, NameMap]] = {}
        self._recommended: dict[Any, list[dict[str, Any]]] = {}
        self._first: dict[Any, dict[int, int]] = {}
        self._origins: dict[tuple[Any, int], str] = {}
        self._lock = threading.RLock()

    def reseed_rng(self) -> None:
        """Reseed the random fallback (Optuna calls this in worker processes)."""
        self._random.reseed_rng()

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        """Mark a trial from ``study.enqueue_trial`` as ``enqueued``."""
        if trial.system_attrs.get("fixed_params"):
            self._set_origin(study, trial, "enqueued")

    def infer_relative_search_space(self, study: optuna.Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        """The joint space of the completed trials, without single-valued distributions."""
        space = self._intersection.calculate(study)
        return {n: d for n, d in space.items() if not d.single()}

    def sample_relative(self, study: optuna.Study, trial: FrozenTrial,
                        search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        """Ask the metahp study for a configuration of the joint space (in the user's names)."""
        if not search_space:
            return {}
        self._raise_error_if_multi_objective(study)
        fixed = trial.system_attrs.get("fixed_params") or {}
        if all(name in fixed for name in search_space):  # study.enqueue_trial: nothing to propose
            return {}
        names = NameMap(search_space)
        try:
            space = to_search_space({names.canonical[n]: d for n, d in search_space.items()})
        except MetaHPError:  # a space metahp cannot hold is left to the random fallback
            return {}
        if space.dim == 0:
            return {}
        with self._lock:
            inner = self._study_for(study, space)
            self._sync(study, inner, names)
            proposal = inner.ask()
            self._pending[(_key(study), trial.number)] = (inner, proposal, names)
        self._set_origin(study, trial, origin_label(proposal.origin))
        user = names.to_user(proposal.config)
        return {n: _to_optuna(v, search_space[n]) for n, v in user.items() if n in search_space}

    def sample_independent(self, study: optuna.Study, trial: FrozenTrial, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        """While no joint space is known: the trial's recommendation; otherwise random."""
        if not self.cold and (_key(study), trial.number) not in self._pending:
            value = self._recommended_value(study, trial, param_name, param_distribution)
            if value is not _MISSING:
                self._set_origin(study, trial, "portfolio")
                return value
        self._set_origin(study, trial, "random")
        return self._random.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(self, study: optuna.Study, trial: FrozenTrial, state: TrialState,
                    values: Sequence[float] | None) -> None:
        """Tell the metahp study how the trial it proposed ended."""
        with self._lock:
            self._origins.pop((_key(study), trial.number), None)
            pending = self._pending.pop((_key(study), trial.number), None)
            if pending is None:
                return
            inner, proposal, names = pending
            # Optuna may have moved the value onto a step grid: record what was evaluated.
            actual = {n: v for n, v in names.to_canonical(trial.params).items() if n in inner.space}
            if inner.space.contains({**proposal.config, **actual}):
                proposal.config.update(inner.space.validate({**proposal.config, **actual}))
            value, status = _outcome(trial, state, values)
            inner.tell(proposal, value, status=status)
            self._synced.setdefault((_key(study), inner.space.signature), set()).add(trial.number)

    # ------------------------------------------------------------------------------------------
    def _set_origin(self, study: optuna.Study, trial: FrozenTrial, label: str) -> None:
        """Write the trial's origin once (the first answer decides: a later random fallback is a detail)."""
        key = (_key(study), trial.number)
        with self._lock:
            if key in self._origins:
                return
            self._origins[key] = label
        study._storage.set_trial_user_attr(trial._trial_id, ORIGIN_ATTR, label)

    def _recommended_value(self, study: optuna.Study, trial: FrozenTrial, name: str, dist: BaseDistribution) -> Any:
        with self._lock:
            recs = self._recommendations(study)
            first = self._first.setdefault(_key(study), {})
            index = first.setdefault(trial.number, len(first))
        if index >= len(recs):
            return _MISSING
        rec = recs[index]
        target = canonical_name(name)
        if target in rec:
            value = _into(rec[target], dist)
            if value is not _MISSING:
                return value
        space = to_search_space({name: dist})
        return _to_optuna(space[name].default_value(), dist) if name in space else _MISSING

    def _recommendations(self, study: optuna.Study) -> list[dict[str, Any]]:
        """The portfolio for the task in the knowledge base's own space (canonical names), once per study."""
        key = _key(study)
        if key not in self._recommended:
            k = 3 if self.n_initial is None else self.n_initial
            recs: list[dict[str, Any]] = []
            if k > 0:
                try:
                    with warnings.catch_warnings(record=True) as caught:
                        warnings.simplefilter("always")
                        found = metahp.recommend(self.task, k=k, model=self.model, exclude=self.exclude, kb=self.kb,
                                                 seed=self.seed)
                    for w in caught:  # the recommender's caveats (extrapolation, fallback), said once
                        logger.warning("MetaHPSampler: %s", w.message)
                    recs = [dict(r.config) for r in found]
                except MetaHPError as exc:
                    warnings.warn(f"MetaHPSampler: no recommendation for the first trials ({exc}); they are random",
                                  UserWarning, stacklevel=4)
            self._recommended[key] = recs
        return self._recommended[key]

    def _study_for(self, study: optuna.Study, space: SearchSpace) -> Study:
        key = (_key(study), space.signature)
        if key not in self._studies:
            direction = "maximize" if study.direction == optuna.study.StudyDirection.MAXIMIZE else "minimize"
            self._studies[key] = metahp.Study(space, task=self.task, kb=self.kb, direction=direction,
                                              seed=self.seed, exclude=self.exclude, model=self.model,
                                              n_initial=self.n_initial)
            self._synced[key] = set()
        return self._studies[key]

    def _sync(self, study: optuna.Study, inner: Study, names: NameMap) -> None:
        """Record finished Optuna trials the metahp study has not seen (recommended, random, enqueued ones)."""
        seen = self._synced[(_key(study), inner.space.signature)]
        pending = {number for (owner, number) in self._pending if owner == _key(study)}
        for ft in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.FAIL, TrialState.PRUNED)):
            params = names.to_canonical(ft.params)
            if ft.number in seen or ft.number in pending or not all(n in params for n in inner.space.names):
                continue
            value, status = _outcome(ft, ft.state, ft.values)
            try:
                inner.add_trial({n: params[n] for n in inner.space.names}, value, status=status)
            except MetaHPError:  # a value outside the current space is just not informative
                pass
            seen.add(ft.number)


def _key(study: optuna.Study) -> tuple[int, int]:
    # The storage and the study's id: the same for Optuna's filtered views of one study.
    return id(study._storage), study._study_id


def _outcome(trial: FrozenTrial, state: TrialState, values: Sequence[float] | None) -> tuple[float | None, str]:
    if state == TrialState.COMPLETE and values:
        v = float(values[0])
        return (v, "ok") if math.isfinite(v) else (None, "diverged")
    if state == TrialState.PRUNED:
        last = trial.last_step
        return (float(trial.intermediate_values[last]) if last is not None else None), "pruned"
    return None, "failed"
