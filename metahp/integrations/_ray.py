"""A Ray Tune searcher backed by a metahp :class:`~metahp.Study` (needs ``pip install metahp[ray]``).

The searcher runs in the driver (Ray Tune's controller): it proposes, learns from every
finished trial and, given a knowledge base and a task, writes each trial there, so the
knowledge base has one writer however many nodes train. Trials trained by metahp's runner
(``metahp.runner.ray_tune_trainable``) report their whole record under ``"metahp_result"``
and are stored whole (task description, curve, cost, seed, device).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import metahp
from metahp.errors import MetaHPError, MissingDependencyError
from metahp.integrations._common import ORIGIN_ATTR, NameMap, origin_label, warn_if_cold
from metahp.kb import KnowledgeBase
from metahp.space import SearchSpace

if TYPE_CHECKING:  # pragma: no cover
    from metahp.study import Study, Trial

__all__ = ["MetaHPSearch", "MissingDependencyError", "RESULT_KEY"]

logger = logging.getLogger(__name__)

#: Key of a reported result that holds, as JSON text, ``{"task": add_task arguments, "trial": add_trials row}``
#: (the runner's trainable sets it).
RESULT_KEY = "metahp_result"

try:
    from ray.tune.search import Searcher
except ImportError as exc:  # pragma: no cover - exercised only without ray
    raise MissingDependencyError(
        f"MetaHPSearch needs Ray Tune ({exc}); install it with `pip install metahp[ray]`") from exc


class MetaHPSearch(Searcher):  # type: ignore[misc]
    """Ray Tune searcher: the recommender's portfolio, then metahp's warm-started GP-BO.

    Ray Tune forwards ``TuneConfig(metric=..., mode=...)`` to a searcher only when the
    ``Tuner`` has a ``param_space``; since the space lives here, pass ``metric`` and ``mode``
    to the searcher itself (a searcher without them raises on its first suggestion instead
    of stalling the run).

    The space may use the user's own names (``per_device_train_batch_size``, ``lr``): the study
    searches under the canonical names of :mod:`metahp.aliases` and every suggestion goes back
    in the user's names. :attr:`origins` says, per Ray trial id, where its configuration came
    from: ``portfolio``, ``bo`` or ``random``. Without ``kb`` or ``task`` it warns once and
    starts cold.

    Args:
        space: The search space (Ray's own ``param_space`` is not used for these parameters).
        metric: The reported metric to optimise.
        mode: ``min`` or ``max``.
        kb: Knowledge base for the prior and portfolio, and where finished trials are written.
        task: The target task, as for :func:`metahp.recommend`; a built-in task (name or
            ``metahp.runner.Task``) or a named task is also where the trials are stored.
        exclude: Knowledge-base tasks not to learn from.
        seed: Seed of the study.
        model: Meta-model name.
        n_initial: Passed to :class:`~metahp.Study`.
        record: Write every finished trial to ``kb`` (from the driver, source ``ray-tune``,
            with the Ray trial id and the origin in its metrics); needs ``kb`` and a named task.
        **study_options: Further :class:`~metahp.Study` arguments (``name``, ``warm_start``,
            ``transfer``, ``prune``).
    """

    def __init__(self, space: SearchSpace, metric: str | None = None, mode: str | None = None,
                 kb: KnowledgeBase | None = None, task: Any = None, exclude: Sequence[str] | None = None,
                 seed: int = 0, model: str = "lgbm", n_initial: int | None = None, *, record: bool = True,
                 **study_options: Any) -> None:
        super().__init__(metric=metric, mode=mode)
        self.space = space
        self.kb = kb
        self.task = task
        self.record = record
        self.cold = warn_if_cold("MetaHPSearch", kb, task)
        self._names = NameMap(space.names)
        self._options = {"kb": kb, "task": task, "exclude": exclude, "seed": seed, "model": model,
                         "n_initial": n_initial, **study_options}
        self._study: Study | None = None
        self._live: dict[str, Trial] = {}
        #: Ray trial id -> ``portfolio``, ``bo`` or ``random``.
        self.origins: dict[str, str] = {}
        #: Ray trial id -> the study's :class:`~metahp.Trial` (number, configuration, status, value).
        self.trials: dict[str, Trial] = {}
        #: Ray trial ids written to the knowledge base, in the order they finished.
        self.recorded: list[str] = []

    def __getstate__(self) -> dict[str, Any]:
        """Picklable state: Ray Tune pickles its ``TuneConfig`` (this searcher too) when a ``Tuner`` is made.

        A knowledge base travels as its path and is opened again on unpickling (an in-memory
        one cannot travel and is dropped); the study is left out: it lives in the driver only.
        """
        state = dict(self.__dict__)
        path = _kb_path(self.kb)
        state.update(kb=path, _study=None, _live={}, trials={}, _options={**self._options, "kb": path})
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        kb = state.get("kb")
        if kb is not None:
            kb = KnowledgeBase(kb)
        state.update(kb=kb, _options={**state["_options"], "kb": kb})
        self.__dict__.update(state)

    @property
    def study(self) -> Study:
        """The metahp study behind the searcher, in canonical names (created once ``mode`` is known)."""
        if self._study is None:
            if self._mode not in ("min", "max") or not self._metric:
                raise MetaHPError(
                    "MetaHPSearch needs metric= and mode='min' or 'max': pass them to MetaHPSearch(...) (Ray Tune "
                    "forwards TuneConfig's metric and mode to a searcher only when the Tuner has a param_space)")
            self._study = metahp.Study(self._names.space(self.space),
                                       direction="minimize" if self._mode == "min" else "maximize", **self._options)
        return self._study

    def set_search_properties(self, metric: str | None, mode: str | None, config: dict, **spec: Any) -> bool:
        """Take ``metric`` and ``mode`` from ``TuneConfig`` when not given here."""
        if self._metric is None and metric:
            self._metric = metric
        if self._mode is None and mode:
            self._mode = mode
        return True

    def suggest(self, trial_id: str) -> dict[str, Any] | str | None:  # type: ignore[override]
        """The next configuration, in the space's own names (``Searcher.FINISHED`` once a pool is exhausted).

        Raises:
            MetaHPError: No metric or mode (see the class docstring).
        """
        study = self.study
        if study.exhausted:
            return str(Searcher.FINISHED)
        trial = study.ask()
        self._live[trial_id] = self.trials[trial_id] = trial
        self.origins[trial_id] = origin_label(trial.origin)
        return self._names.to_user(trial.config)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        """Tell the study the trial's final metric (failed on error or a missing metric); store it."""
        trial = self._live.pop(trial_id, None)
        if trial is None:
            return
        record = result.get(RESULT_KEY) if isinstance(result, dict) and not error else None
        if isinstance(record, str):
            record = json.loads(record)
        if isinstance(record, dict):
            status = str(record["trial"]["status"])
            value = record["trial"]["objective"] if status in ("ok", "pruned") else None
        else:
            record = None
            value = None if error or not result or self._metric not in result else result[self._metric]
            status = "ok" if value is not None else "failed"
            if value is not None and not math.isfinite(float(value)):
                value, status = None, "diverged"
        self.study.tell(trial, value, status=status)
        if self.record and self.kb is not None and self.task is not None:
            self._write(trial_id, trial, value, status, record)

    # ------------------------------------------------------------------------------------------
    def _write(self, trial_id: str, trial: Trial, value: Any, status: str, record: dict | None) -> None:
        """One finished trial into the knowledge base (this runs in the driver: the only writer)."""
        provenance = {"ray_trial_id": trial_id, ORIGIN_ATTR: self.origins.get(trial_id, "")}
        assert self.kb is not None
        if record is not None:  # the runner's own record: the task as it trained, the whole trial
            entry = dict(record["task"])
            name = entry.pop("name")
            self.kb.add_task(name, **{**entry, "space": SearchSpace.from_dict(entry["space"])})
            trial_row = {**record["trial"], "metrics": {**record["trial"].get("metrics", {}), **provenance},
                         "source": "ray-tune"}
            self.kb.add_trials(name, [trial_row], source="ray-tune")
        else:
            name = self.task if isinstance(self.task, str) else getattr(self.task, "name", None)
            if not name:
                logger.warning("MetaHPSearch: the task has no name; trial %s is not stored", trial_id)
                return
            if not self.kb.has_task(name):
                self.kb.add_task(name, family=getattr(self.task, "family", None) or "ray-tune",
                                 meta_features=dict(getattr(self.task, "meta_features", None) or {}),
                                 space=self.study.space, objective_name=str(self._metric),
                                 direction=self.study.direction,
                                 provenance={"source": "metahp.integrations.MetaHPSearch"})
            self.kb.add_trials(name, [{"config": dict(trial.config), "objective": value, "status": status,
                                       "metrics": provenance, "source": "ray-tune"}], source="ray-tune")
        self.recorded.append(trial_id)


def _kb_path(kb: Any) -> str | None:
    path = getattr(kb, "path", None)
    return None if path is None or str(path) == ":memory:" else str(path)
