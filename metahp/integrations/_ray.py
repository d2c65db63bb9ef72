"""A Ray Tune searcher backed by a metahp :class:`~metahp.Study` (needs ``pip install metahp[ray]``)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from metahp.errors import MetaHPError, MissingDependencyError
from metahp.space import SearchSpace
from metahp.study import Study

if TYPE_CHECKING:  # pragma: no cover
    from metahp.kb import KnowledgeBase

__all__ = ["MetaHPSearch", "MissingDependencyError"]




try:
    from ray.tune.search import Searcher
except ImportError as exc:  # pragma: no cover - exercised only without ray
    raise MissingDependencyError(
        f"MetaHPSearch needs Ray Tune ({exc}); install it with `pip install metahp[ray]`") from exc


class MetaHPSearch(Searcher):  # type: ignore[misc]
    """Ray Tune searcher: metahp's warm-started GP-BO over a :class:`~metahp.SearchSpace`.

    Ray Tune forwards ``TuneConfig(metric=..., mode=...)`` to a searcher only when the
    ``Tuner`` has a ``param_space``; since the space lives here, pass ``metric`` and ``mode``
    to the searcher itself (a searcher without them raises on its first suggestion instead
    of stalling the run).

    Args:
        space: The search space (Ray's own ``param_space`` is not used for these parameters).
        metric: The reported metric to optimise.
        mode: ``min`` or ``max``.
        kb: Knowledge base for the prior and portfolio.
        task: The target task, as for :func:`metahp.recommend`.
        exclude: Knowledge-base tasks not to learn from.
        seed: Seed of the study.
        model: Meta-model name.
        n_initial: Passed to :class:`~metahp.Study`.
    """

    def __init__(self, space: SearchSpace, metric: str | None = None, mode: str | None = None,
                 kb: KnowledgeBase | None = None, task: Any = None, exclude: Sequence[str] | None = None,
                 seed: int = 0, model: str = "lgbm", n_initial: int | None = None) -> None:
        super().__init__(metric=metric, mode=mode)
        self.space = space
        self._options = {"kb": kb, "task": task, "exclude": exclude, "seed": seed, "model": model,
                         "n_initial": n_initial}
        self._study: Study | None = None
        self._live: dict[str, Any] = {}

    @property
    def study(self) -> Study:
        """The metahp study behind the searcher (created once ``mode`` is known)."""
        if self._study is None:
            if self._mode not in ("min", "max") or not self._metric:
                raise MetaHPError(
                    "MetaHPSearch needs metric= and mode='min' or 'max': pass them to MetaHPSearch(...) (Ray Tune "
                    "forwards TuneConfig's metric and mode to a searcher only when the Tuner has a param_space)")
            self._study = Study(self.space, direction="minimize" if self._mode == "min" else "maximize",
                                **self._options)
        return self._study

    def set_search_properties(self, metric: str | None, mode: str | None, config: dict, **spec: Any) -> bool:
        """Take ``metric`` and ``mode`` from ``TuneConfig`` when not given here."""
        if self._metric is None and metric:
            self._metric = metric
        if self._mode is None and mode:
            self._mode = mode
        return True

    def suggest(self, trial_id: str) -> dict[str, Any] | str | None:  # type: ignore[override]
        """The next configuration (``Searcher.FINISHED`` once a pool of candidates is exhausted).

        Raises:
            MetaHPError: No metric or mode (see the class docstring).
        """
        study = self.study
        if study.exhausted:
            return str(Searcher.FINISHED)
        trial = study.ask()
        self._live[trial_id] = trial
        return dict(trial.config)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        """Tell the study the trial's final metric (failed on error or a missing metric)."""
        trial = self._live.pop(trial_id, None)
        if trial is None:
            return
        value = None if error or not result or self._metric not in result else result[self._metric]
        if value is not None and not math.isfinite(float(value)):
            self.study.tell(trial, None, status="diverged")
        else:
            self.study.tell(trial, value, status="ok" if value is not None else "failed")
