"""Zero-shot recommendation: a diverse top-k portfolio of configurations for a new task.

The recommender fits (or loads from cache) a meta-model on the knowledge base, scores a
large candidate set for the target task — the nearest source tasks' best
configurations plus a scrambled Sobol design of the target space — and picks ``k``
configurations greedily so that *the best of them* is good:

1. the first is the candidate with the lowest predicted score;
2. each next one minimises the expected minimum, over a set of joint scenarios, of the
   configurations chosen so far. The scenarios are the meta-model's own joint draws
   (ensemble members, GP posterior samples, neighbour tasks) and its predictions *as if*
   the target were each of its nearest source tasks. A configuration that only repeats
   the first pick adds nothing; one that wins where the first is weak is preferred.

Where the source tasks' best configurations move predictably with their meta-features
(:class:`~metahp.meta.OptimumTrend`, e.g. learning rate and batch size with model and data
size), the neighbour scenarios are moved along that trend to the target, and without given
candidates the moved neighbour optima are candidates too: a task beyond the edge of the
knowledge base is then hedged towards where its optimum should lie.

Candidates closer than ``min_distance`` (RMS in the unit cube) to a chosen one are
skipped while others remain, so the portfolio is never k copies of the argmax.

Which trials are used: every trial of the (family of the) knowledge base except those
of the tasks in ``exclude``. When ``task`` names a task of the knowledge base its own
trials are used too (asking again for a known task should return what is known); pass
``exclude=[name]`` for a leave-one-task-out answer.

Parameters of the target space that no source trial records are set to literature
defaults (see :func:`literature_defaults`) and listed in ``Recommendation.filled``. A
knowledge base without any related trial gives those defaults with a warning.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from metahp.errors import InvalidConfigError, InvalidSpaceError, MetaHPError
from metahp.space import Categorical, Float, Int, Param, SearchSpace
from metahp.task import resolve_task
from metahp.vocabulary import META_FEATURES, OBJECTIVE_TYPES, canonical_regime, check_regime, unknown

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from metahp.kb import KnowledgeBase
    from metahp.meta import FittedMeta

__all__ = ["Recommendation", "Neighbour", "Recommender", "recommend", "literature_defaults", "FALLBACK_SPACE"]

FALLBACK_SPACE = SearchSpace([
    Float("learning_rate", 1e-6, 1e-1, log=True),
    Int("batch_size", 1, 4096, log=True),
    Float("weight_decay", 0.0, 0.3),
    Float("warmup_ratio", 0.0, 0.2),
])
"""The space used when neither the task, the caller nor the knowledge base gives one."""


@dataclass(frozen=True)
class Neighbour:
    """A source task near the target, shown as the explanation of a recommendation.

    Attributes:
        task: Source task name.
        distance: Standardised meta-feature distance to the target (0 = identical).
        best_config: The source task's best recorded configuration (target-space parameters).
        best_value: Its objective, in the task's own direction.
        objective_name: The source task's objective.
    """

    task: str
    distance: float
    best_config: dict[str, Any]
    best_value: float
    objective_name: str


@dataclass(frozen=True)
class Recommendation:
    """One configuration of the portfolio.

    Attributes:
        config: A valid configuration of the target space.
        score: Predicted per-task normalised score (Gaussian copula; lower is better;
            NaN for literature defaults).
        std: Predictive standard deviation of the score.
        predicted_objective: Predicted raw objective in the source tasks' own direction,
            read from the nearest tasks' objective quantiles at the predicted score
            (``None`` when the knowledge base cannot say).
        objective_name: The objective ``predicted_objective`` refers to.
        neighbours: The nearest source tasks, nearest first.
        filled: Parameters the knowledge base does not know, and how they were set.
        rationale: Why this configuration is in the portfolio.
        candidate: Row of ``candidates`` this configuration is, when the portfolio was
            chosen from given candidates (``None`` otherwise).
        sources: Why the source tasks were chosen and which they are, in words.
        warnings: What the answer is unsure of, in words (beyond the sources' coverage, no
            comparable source, ...); the same sentences are issued as ``UserWarning``.
    """

    config: dict[str, Any]
    score: float
    std: float
    predicted_objective: float | None = None
    objective_name: str | None = None
    neighbours: tuple[Neighbour, ...] = ()
    filled: dict[str, str] = field(default_factory=dict)
    rationale: str = ""
    candidate: int | None = None
    sources: str = ""
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "config": dict(self.config),
            "score": None if math.isnan(self.score) else self.score,
            "std": None if math.isnan(self.std) else self.std,
            "predicted_objective": self.predicted_objective,
            "objective_name": self.objective_name,
            "neighbours": [{"task": n.task, "distance": n.distance, "best_config": n.best_config,
                            "best_value": n.best_value, "objective_name": n.objective_name} for n in self.neighbours],
            "filled": dict(self.filled),
            "rationale": self.rationale,
            "candidate": self.candidate,
            "sources": self.sources,
            "warnings": list(self.warnings),
        }


class Recommender:
    """Zero-shot portfolios from a knowledge base (see the module docstring for the method).

    Args:
        kb: The knowledge base (default: ``metahp.KnowledgeBase()``, the user's default store).
        model: A key of :data:`metahp.meta.META_MODELS`.
        n_candidates: Size of the Sobol part of the candidate set.
        shortlist: Candidates kept for the portfolio, by predicted mean and by mean - std.
        n_scenarios: Joint draws of the meta-model used by the portfolio.
        n_neighbours: Nearest source tasks used as scenarios and as explanation.
        min_distance: Smallest RMS unit-cube distance between two picks (while possible).
        use_cache: Cache fitted meta-models on disk.
        trend: Move the neighbour scenarios along the family's optimum trend where one is
            measured (:class:`~metahp.meta.OptimumTrend`); without a trend nothing changes.
    """

    def __init__(
        self,
        kb: KnowledgeBase | None = None,
        *,
        model: str = "lgbm",
        n_candidates: int = 256,
        shortlist: int = 48,
        n_scenarios: int = 16,
        n_neighbours: int = 5,
        min_distance: float = 0.05,
        use_cache: bool = True,
        trend: bool = True,
    ) -> None:
        self.kb = kb
        self.model = model
        self.n_candidates = n_candidates
        self.shortlist = shortlist
        self.n_scenarios = n_scenarios
        self.n_neighbours = n_neighbours
        self.min_distance = min_distance
        self.use_cache = use_cache
        self.trend = trend

    def _kb(self) -> KnowledgeBase:
        if self.kb is None:
            from metahp.kb import KnowledgeBase

            self.kb = KnowledgeBase()
        return self.kb

    def recommend(
        self,
        task: Any,
        space: SearchSpace | None = None,
        k: int = 5,
        *,
        exclude: Iterable[str] | None = None,
        family: str | None = None,
        seed: int = 0,
        candidates: pd.DataFrame | Sequence[Mapping[str, Any]] | None = None,
    ) -> list[Recommendation]:
        """Recommend ``k`` configurations for ``task``.

        Args:
            task: A :class:`metahp.task.TaskSpec`, a dict of meta-features, or the name of
                a task in the knowledge base.
            space: Target search space (default: the task's, else its family's in the KB).
            k: Portfolio size.
            exclude: Task names whose trials must not be used.
            family: Family whose trials to learn from (default: the task's family; a family
                the KB does not hold means every trial).
            seed: Seed of the candidate design and of the scenarios.
            candidates: A finite set to choose from (a frame with one column per parameter
                of ``space``, or a list of configurations), e.g. the grid a user is about
                to sweep: the portfolio is then ranked and picked among these rows only
                (no Sobol design, no snapping) and each result's ``candidate`` is its row.

        Raises:
            UnknownTaskError: A task name not in the knowledge base, or a bad ``task``.
            InvalidSpaceError: ``space`` is not a SearchSpace.
            InvalidConfigError: A candidate is not a valid configuration of ``space``.
            MetaHPError: ``k`` is not a positive integer or ``model`` is unknown.
        """
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise MetaHPError(f"k must be a positive integer, got {k!r}")
        if space is not None and not isinstance(space, SearchSpace):
            raise InvalidSpaceError(f"space must be a metahp.SearchSpace, got {type(space).__name__}")
        if objective is not None and objective not in OBJECTIVE_TYPES:
            raise unknown(str(objective), sorted(OBJECTIVE_TYPES), what="objective type")
        wanted_regime = check_regime(regime) if regime is not None else None
        user_names: dict[str, str] = {}
        if space is not None:  # the user's names (Trainer's, lr, bs, ...) -> canonical, and back in the answer
            space, user_names = _canonical_space(space)
        if candidates is not None and user_names:
            candidates = _canonical_candidates(candidates, user_names)
        kb = self._kb()
        excluded = sorted({str(e) for e in (exclude or ())})
        selection = None
        # One connection for the cheap look-ups: opening the store dominates a warm call.
        with _session(kb):
            target = resolve_task(task, kb)
            families = kb.families()
            if family is not None and family not in families:
                raise unknown(str(family), sorted(families), what="family")
            tasks_frame = kb.tasks() if families else None
            _check_meta_names(target.meta_features, tasks_frame)
            wanted_regime = wanted_regime or canonical_regime(target.kind)
            fam = family if family is not None else target.family
            train_family = fam if fam in families else None
            # A knowledge-base task named by the user is searched in its family's space (as before resolve_task).
            space = space or (None if isinstance(task, str) else target.space)
            if tasks_frame is not None and train_family is None:
                from metahp.meta import select_sources

                selection = select_sources(tasks_frame, target.meta_features, regime=wanted_regime,
                                           objective=objective, exclude=excluded,
                                           space_names=space.names if space is not None else ())
                wanted_regime = selection.regime
                if len(selection) and space is None:
                    space = _union_space(kb, selection, self.n_neighbours * 2)
            if space is None:
                if train_family is not None:
                    space = kb.space(train_family)
                else:
                    space = _fallback_space(wanted_regime)
            if wanted_regime in ("finetune", "lora") and not user_names and target.space is None:
                space = _with_finetuning_params(space, wanted_regime)
            kb_hash = kb.content_hash() if families and self.use_cache else None
            meta_of = ({str(n): dict(m) for n, m in zip(tasks_frame["name"], tasks_frame["meta_features"])}
                       if tasks_frame is not None else {})
        pool = _encode_candidates(space, candidates) if candidates is not None else None
        if not families:
            return _answer(_fallback(space, target.meta_features, int(k), seed, "the knowledge base is empty", pool,
                                     regime=wanted_regime), user_names)
        if selection is not None and not len(selection):
            why = ("no task of the knowledge base is comparable"
                   + (f" (regime {wanted_regime})" if wanted_regime else "")
                   + (f"; left out: {', '.join(f'{n} {r}' for r, n in selection.left_out.items())}"
                      if selection.left_out else ""))
            return _answer(_fallback(space, target.meta_features, int(k), seed, why, pool, regime=wanted_regime),
                           user_names)
        from metahp.meta import fit_meta

        fit_exclude = excluded
        if selection is not None:
            chosen = set(selection.names)
            fit_exclude = sorted(set(excluded) | {str(n) for n in meta_of if n not in chosen})
        fitted = fit_meta(kb, self.model, family=train_family, exclude=fit_exclude, space=space,
                          use_cache=self.use_cache, kb_hash=kb_hash)
        if fitted.model is None:
            why = ("the knowledge base holds no trial of a parameter in the target space "
                   f"({', '.join(space.names)})" if fitted.n_trials else "no source trial is left after exclude=")
            return _answer(_fallback(space, target.meta_features, int(k), seed, why, pool, regime=wanted_regime),
                           user_names)
        about = _about_sources(selection, fitted, train_family)
        pick = _scale_pick(fitted, space, target.meta_features, meta_of) if self.trend else None
        notes = list(pick.warnings) if pick is not None else []
        for note in notes:
            warnings.warn(note, stacklevel=2)
        recs = self._portfolio(fitted, space, target.meta_features, int(k), seed, pool, pick=pick)
        return _answer([_replace(r, sources=about, warnings=tuple(notes)) for r in recs], user_names)

    # ------------------------------------------------------------------------------------
    def _portfolio(self, fitted: FittedMeta, space: SearchSpace, meta: dict[str, float], k: int,
                   seed: int, pool: tuple[np.ndarray, list[dict[str, Any]]] | None = None) -> list[Recommendation]:
        model = fitted.model
        assert model is not None and fitted.index is not None  # checked by the caller
        used = set(model.features_.config_dims)
        fixed_dims = [j for j in range(space.dim) if j not in used]
        defaults = literature_defaults(space, meta)
        fixed_unit = np.array([space.params[j].to_unit(defaults[space.names[j]][0]) for j in fixed_dims])
        if pool is None:
            filled = {space.names[j]: defaults[space.names[j]][1] for j in fixed_dims}
        else:  # the caller's candidates set them; the meta-model cannot tell them apart
            filled = {space.names[j]: "given by the candidate (no source trial varies it)" for j in fixed_dims}

        order, dist = fitted.index.nearest(meta, max(self.n_neighbours, 20))
        near = order[: self.n_neighbours]
        shifts = self._trend_shifts(fitted, space, meta, near, list(used)) if self.trend else None
        # Neighbours the trend moves (by 1e-3 or more in the unit cube); the others stay where they are.
        moved = (np.max(np.abs(shifts), axis=1) >= 1e-3) if shifts is not None else np.zeros(len(near), dtype=bool)
        n_moved = 0
        if pool is None:
            candidates = self._candidates(fitted, space, order, seed, fixed_dims, fixed_unit)
            if shifts is not None:  # where the neighbours' optima move to, for this task
                moved_best = [fitted.tasks[int(i)].best_encoded[:1] + shift for i, shift in zip(near, shifts)]
                extra = np.clip(np.vstack(moved_best), 0.0, 1.0)
                if fixed_dims:  # parameters no source records: the same defaults as every candidate
                    extra[:, fixed_dims] = fixed_unit
                extra = extra[np.isfinite(extra).all(axis=1)]
                if len(extra):
                    extra = np.array([[p.to_unit(p.from_unit(u)) for p, u in zip(space.params, row)] for row in extra])
                    candidates, n_moved = np.vstack([extra, candidates]), len(extra)
            rows = np.arange(len(candidates))
        else:
            candidates, rows = pool[0], np.arange(len(pool[0]))
        mean, std, draws = model.predict_joint(meta, candidates, n_samples=self.n_scenarios, seed=seed)
        # Only a shortlist can enter the portfolio: the best by mean and by optimistic bound.
        shortlist = np.union1d(np.argsort(mean, kind="stable")[: max(self.shortlist, k)],
                               np.argsort(mean - std, kind="stable")[: self.shortlist])
        shortlist = np.union1d(shortlist, np.arange(n_moved))  # the moved optima always compete
        candidates, mean, std, draws = candidates[shortlist], mean[shortlist], std[shortlist], draws[:, shortlist]
        rows = rows[shortlist]
        scenarios = [draws]
        if near.size:
            neighbour_meta = [_task_meta(fitted, int(i)) for i in near]
            as_neighbours = model.predict_tasks(neighbour_meta, candidates)[0]
            if pool is not None:
                # Where a neighbour recorded a candidate itself (tasks swept on a shared grid),
                # what it measured there replaces what the meta-model says it would measure.
                for row in np.flatnonzero(~moved):
                    seen = fitted.tasks[int(near[row])].scores_at(candidates)
                    as_neighbours[row] = np.where(np.isfinite(seen), seen, as_neighbours[row])
            if shifts is not None and moved.any():
                # The family's optimum moves with the meta-features: a neighbour's surface is
                # moved by the shift the trend predicts between it and the target, so a task
                # beyond the edge of the knowledge base is hedged towards where its optimum
                # should lie rather than towards its interior neighbours' optima.
                rows_moved = np.flatnonzero(moved)
                as_neighbours[rows_moved] = model.predict_each(
                    [neighbour_meta[row] for row in rows_moved],
                    [np.clip(candidates - shifts[row][None, :], 0.0, 1.0) for row in rows_moved])
            scenarios.append(as_neighbours)
        labels = ["model"] * scenarios[0].shape[0] + [
            fitted.tasks[int(i)].name + (" moved along the family's optimum trend" if is_moved else "")
            for i, is_moved in zip(near, moved)]
        sc = np.vstack(scenarios)
        # A given pool is the user's own design (often a grid): its points are not too close.
        min_distance = self.min_distance if pool is None else 0.0
        picks, reasons = _greedy(mean, sc, labels, candidates, k, min_distance, list(used))

        neighbours = tuple(
            Neighbour(task=fitted.tasks[int(i)].name, distance=float(d),
                      best_config=dict(fitted.tasks[int(i)].best_configs[0]) if fitted.tasks[int(i)].best_configs
                      else {}, best_value=fitted.tasks[int(i)].best_value,
                      objective_name=fitted.tasks[int(i)].objective_name)
            for i, d in zip(order[:3], dist[:3])
        )
        out = []
        for c, why in zip(picks, reasons):
            raw, objective_name = _raw_objective(fitted, order[: self.n_neighbours], dist[: self.n_neighbours],
                                                 float(mean[c]))
            config = space.validate(space.decode(candidates[c])) if pool is None else dict(pool[1][int(rows[c])])
            out.append(Recommendation(
                config=config, score=float(mean[c]), std=float(std[c]),
                predicted_objective=raw, objective_name=objective_name, neighbours=neighbours, filled=dict(filled),
                rationale=why, candidate=None if pool is None else int(rows[c]),
            ))
        return out

    def _trend_shifts(self, fitted: FittedMeta, space: SearchSpace, meta: dict[str, float], near: np.ndarray,
                      used: list[int]) -> np.ndarray | None:
        """How far the optimum moves from each near task to the target (``len(near) x d``; None: no trend).

        Measured by :class:`~metahp.meta.OptimumTrend` on the source tasks' best configurations.
        """
        from metahp.meta._trend import OptimumTrend

        assert fitted.index is not None
        d = space.dim
        if not near.size or len(fitted.tasks) == 0:
            return None
        best = np.array([t.best_encoded[0] if t.best_encoded.size else np.full(d, np.nan) for t in fitted.tasks])
        dims = [j for j in used if not isinstance(space.params[j], Categorical)]
        trend = OptimumTrend(fitted.index.meta, best.reshape(len(fitted.tasks), d), dims)
        if not trend.active:
            return None
        z_target = fitted.index.standardise(meta)
        return np.array([trend.shift(fitted.index.meta[int(i)], z_target) for i in near])

    def _candidates(self, fitted: FittedMeta, space: SearchSpace, order: np.ndarray, seed: int,
                    fixed_dims: list[int], fixed_unit: np.ndarray) -> np.ndarray:
        """Snapped, de-duplicated candidate vectors (``n x d``): source bests first, then Sobol."""
        from scipy.stats import qmc

        rows: list[np.ndarray] = []
        rng = np.random.default_rng(seed)
        for i in order:
            rows.extend(fitted.tasks[int(i)].best_encoded)
        m = 1 << max(1, math.ceil(math.log2(max(2, self.n_candidates))))
        sobol = qmc.Sobol(d=space.dim, scramble=True, seed=rng).random(m)[: self.n_candidates]
        pool = np.vstack([np.array(rows).reshape(-1, space.dim), sobol]) if rows else sobol
        # Source parameters a best config lacks are drawn at random rather than guessed.
        missing = ~np.isfinite(pool)
        pool[missing] = rng.random(int(missing.sum()))
        pool = np.clip(pool, 0.0, 1.0)
        if fixed_dims:
            pool[:, fixed_dims] = fixed_unit
        snapped = np.array([[p.to_unit(p.from_unit(u)) for p, u in zip(space.params, row)] for row in pool])
        _, first = np.unique(np.round(snapped, 9), axis=0, return_index=True)
        return np.asarray(snapped[np.sort(first)])


def recommend(
    task: Any,
    space: SearchSpace | None = None,
    k: int = 5,
    model: str = "lgbm",
    exclude: Iterable[str] | None = None,
    kb: KnowledgeBase | None = None,
    seed: int = 0,
    *,
    family: str | None = None,
    candidates: pd.DataFrame | Sequence[Mapping[str, Any]] | None = None,
) -> list[Recommendation]:
    """Recommend a portfolio of ``k`` configurations for a new task, without training.

    Args:
        task: A :class:`metahp.task.TaskSpec`, a dict of meta-features, or the name of a
            task in the knowledge base (its own trials are used unless excluded).
        space: Target search space (default: the task's, else its family's).
        k: Number of configurations.
        model: Meta-model, a key of :data:`metahp.meta.META_MODELS`.
        exclude: Task names whose trials must not be used (e.g. ``[name]`` for leave-one-out).
        kb: Knowledge base (default ``metahp.KnowledgeBase()``).
        seed: Seed of the candidate design and scenarios.
        family: Family to learn from (default: the task's).
        candidates: Choose only among these configurations (a frame or a list of dicts),
            e.g. a grid to be swept; see :meth:`Recommender.recommend`.

    Returns:
        ``k`` :class:`Recommendation` objects, best first.

    Example:
        >>> import warnings, metahp
        >>> kb = metahp.KnowledgeBase(":memory:")
        >>> with warnings.catch_warnings():
        ...     warnings.simplefilter("ignore")
        ...     recs = recommend({"model_params_nonembedding": 1e8}, k=2, kb=kb)
        >>> len(recs), recs[0].config["learning_rate"] > recs[1].config["learning_rate"] / 4
        (2, True)
    """
    return Recommender(kb, model=model).recommend(task, space=space, k=k, exclude=exclude, family=family, seed=seed,
                                                  candidates=candidates)


# --------------------------------------------------------------------------------------
# helpers

def _session(kb: Any) -> Any:
    """``kb.session()`` where the store has one, else a no-op context."""
    from contextlib import nullcontext

    session = getattr(kb, "session", None)
    return session() if callable(session) else nullcontext()


def _task_meta(fitted: FittedMeta, i: int) -> dict[str, float]:
    assert fitted.index is not None
    z = fitted.index.meta[i] * fitted.index.scale + fitted.index.center
    out: dict[str, float] = {}
    for name, log, v in zip(fitted.index.features.meta_names, fitted.index.features.meta_log, z):
        if np.isfinite(v):
            out[name] = float(10**v) if log else float(v)
    return out


def _greedy(mean: np.ndarray, scenarios: np.ndarray, labels: Sequence[str], candidates: np.ndarray, k: int,
            min_distance: float, dims: list[int]) -> tuple[list[int], list[str]]:
    """Greedy expected-minimum portfolio over joint scenarios (``s x n``)."""
    n = mean.shape[0]
    k = min(k, n)
    x = candidates[:, dims] if dims else candidates
    first = int(np.argmin(mean))
    picks, reasons = [first], ["lowest predicted score"]
    current = scenarios[:, first].copy()
    near = np.zeros(n, dtype=bool)
    while len(picks) < k:
        d = np.sqrt(np.mean((x - x[picks[-1]]) ** 2, axis=1)) if x.shape[1] else np.zeros(n)
        near |= d < min_distance
        allowed = np.ones(n, dtype=bool)
        allowed[picks] = False
        if (allowed & ~near).any():
            allowed &= ~near
        value = np.minimum(current[:, None], scenarios).mean(axis=0)
        value = np.where(allowed, value, np.inf)
        best = float(value.min())
        ties = np.flatnonzero(value <= best + 1e-12)
        c = int(ties[np.argmin(mean[ties])])
        gain = current - scenarios[:, c]
        s = int(np.argmax(gain))
        if gain[s] > 1e-9 and labels[s] != "model":
            reasons.append(f"hedge: best if the task behaves like {labels[s]}")
        elif gain[s] > 1e-9:
            reasons.append("hedge against the meta-model's uncertainty")
        else:
            reasons.append("next lowest predicted score away from earlier picks")
        picks.append(c)
        current = np.minimum(current, scenarios[:, c])
    return picks, reasons


def _raw_objective(fitted: FittedMeta, order: np.ndarray, dist: np.ndarray,
                   score: float) -> tuple[float | None, str | None]:
    """The nearest tasks' objective at the predicted score's quantile, inverse-distance weighted."""
    from scipy.special import ndtr

    if order.size == 0:
        return None, None
    name = fitted.tasks[int(order[0])].objective_name
    probs = np.linspace(0.0, 1.0, 101)
    u = float(ndtr(score))
    values, weights = [], []
    for i, d in zip(order, dist):
        t = fitted.tasks[int(i)]
        if t.objective_name != name:
            continue
        v = float(np.interp(u, probs, t.quantiles))
        if not math.isfinite(v):
            continue
        values.append(-v if t.direction == "maximize" else v)
        weights.append(1.0 / (float(d) + 0.1) if math.isfinite(float(d)) else 1.0)
    if not values:
        return None, name
    return float(np.average(values, weights=weights)), name


# --------------------------------------------------------------------------------------
# literature defaults

def literature_defaults(space: SearchSpace, meta: Mapping[str, float]) -> dict[str, tuple[Any, str]]:
    """A starting value for every parameter of ``space``, with where it comes from.

    Canonical parameters follow published practice for AdamW training of transformers:

    - ``learning_rate``: the Step Law fit (Li et al. 2025) ``1.79 N^-0.713 D^0.307`` when
      the model size ``N`` (non-embedding parameters, else all) is known, with ``D`` the
      token budget or, unknown, a Chinchilla-optimal ``20 N`` (Hoffmann et al. 2022);
      otherwise ``3e-4``.
    - ``batch_size`` (sequences): Step Law's ``0.58 D^0.571`` tokens divided by the
      sequence length when ``D`` is known, else 32.
    - ``weight_decay`` 0.1, ``warmup_ratio`` 0.01, ``dropout`` 0.0, ``beta2`` 0.95,
      ``grad_clip`` 1.0, ``optimizer`` ``adamw``, ``lr_schedule`` ``cosine`` where allowed.

    Other parameters take the space's default. Every value is clipped into the space.

    Example:
        >>> from metahp import Float, SearchSpace
        >>> space = SearchSpace([Float("learning_rate", 1e-5, 1e-1, log=True)])
        >>> value, why = literature_defaults(space, {})["learning_rate"]
        >>> value
        0.0003
    """
    n = _positive(meta.get("model_params_nonembedding")) or _positive(meta.get("model_params"))
    d = _positive(meta.get("budget_tokens")) or _positive(meta.get("data_tokens"))
    seq = _positive(meta.get("model_seq_len")) or _positive(meta.get("data_seq_len_mean")) or 2048.0
    wanted: dict[str, tuple[Any, str]] = {}
    if n is not None:
        tokens = d if d is not None else 20.0 * n
        source = "token budget" if d is not None else "Chinchilla 20 tokens/param"
        wanted["learning_rate"] = (1.79 * n**-0.713 * tokens**0.307, f"Step Law lr from model size and {source}")
    else:
        wanted["learning_rate"] = (3e-4, "AdamW default 3e-4 (model size unknown)")
    if d is not None:
        wanted["batch_size"] = (max(1.0, 0.58 * d**0.571 / seq), "Step Law batch size from the token budget")
    else:
        wanted["batch_size"] = (32, "common default 32 (token budget unknown)")
    wanted.update({
        "weight_decay": (0.1, "AdamW weight decay 0.1 (common LLM practice)"),
        "warmup_ratio": (0.01, "1% warm-up (common practice)"),
        "dropout": (0.0, "no dropout (common for pre-training)"),
        "beta2": (0.95, "AdamW beta2 0.95 (common LLM practice)"),
        "grad_clip": (1.0, "gradient clipping at 1.0 (common practice)"),
        "optimizer": ("adamw", "AdamW"),
        "lr_schedule": ("cosine", "cosine schedule"),
    })
    out: dict[str, tuple[Any, str]] = {}
    for name, param in space.items():
        if name in wanted:
            value = _into(param, wanted[name][0])
            if value is not None:
                out[name] = (value, wanted[name][1])
                continue
        out[name] = (param.default_value(), "space default")
    return out


def _positive(value: Any) -> float | None:
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) and x > 0 else None


def _into(param: Param, value: Any) -> Any:
    """``value`` clipped / snapped into ``param``, or None if it does not fit a categorical."""
    if isinstance(param, Categorical):
        return value if value in param.choices else None
    if isinstance(param, Int):
        x = min(max(float(value), param.low), param.high)
        return param.from_unit(param.to_unit(x))
    x = min(max(float(value), param.low), param.high)
    return float(x)


def _fallback(space: SearchSpace, meta: Mapping[str, float], k: int, seed: int, why: str,
              pool: tuple[np.ndarray, list[dict[str, Any]]] | None = None) -> list[Recommendation]:
    """Literature defaults and learning-rate variations around them, with a warning.

    With given candidates, each is replaced by the nearest candidate not picked yet.
    """
    warnings.warn(f"{why}; recommending literature defaults instead of learned configurations", stacklevel=3)
    defaults = literature_defaults(space, meta)
    base = {name: value for name, (value, _) in defaults.items()}
    filled = {name: how for name, (_, how) in defaults.items()}
    configs = [dict(base)]
    reasons = ["literature defaults"]
    if "learning_rate" in space:
        for factor in (0.5, 2.0, 0.25, 4.0, 0.125, 8.0):
            cfg = dict(base)
            cfg["learning_rate"] = _into(space["learning_rate"], base["learning_rate"] * factor)
            if cfg not in configs:
                configs.append(cfg)
                reasons.append(f"learning rate x{factor:g} around the default")
    for cfg in space.sample(max(0, k - len(configs)) + k, seed=seed):
        if len(configs) >= k:
            break
        if cfg not in configs:
            configs.append(cfg)
            reasons.append("random configuration (no knowledge to rank it)")
    if pool is None:
        return [Recommendation(config=space.validate(c), score=math.nan, std=math.nan, filled=dict(filled),
                               rationale=r) for c, r in zip(configs[:k], reasons[:k])]
    unit, rows = pool
    free = np.ones(len(rows), dtype=bool)
    out: list[Recommendation] = []
    for c, r in zip(configs, reasons):
        if len(out) >= min(k, len(rows)):
            break
        d = ((unit - space.encode(space.validate(c))[None, :]) ** 2).sum(axis=1)
        i = int(np.argmin(np.where(free, d, np.inf)))
        free[i] = False
        out.append(Recommendation(config=dict(rows[i]), score=math.nan, std=math.nan, filled={},
                                  rationale=f"candidate nearest the {r}", candidate=i))
    return out


def _encode_candidates(space: SearchSpace, candidates: Any) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """Validated candidate configurations and their unit-cube encoding (``n x d``).

    Raises:
        InvalidConfigError: No candidate, or one that is not a configuration of ``space``.
    """
    import pandas as pd

    if isinstance(candidates, pd.DataFrame):
        records = candidates.to_dict("records")
    elif isinstance(candidates, Mapping) or isinstance(candidates, (str, bytes)):
        raise InvalidConfigError("candidates must be a DataFrame or a list of configurations, not a single mapping")
    else:
        records = [dict(c) if isinstance(c, Mapping) else c for c in candidates]
    if not records:
        raise InvalidConfigError("candidates is empty; pass at least one configuration or leave it None")
    rows = []
    for i, rec in enumerate(records):
        if not isinstance(rec, Mapping):
            raise InvalidConfigError(f"candidate {i} is a {type(rec).__name__}, not a configuration mapping")
        plain = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in rec.items() if k in space}
        try:
            rows.append(space.validate(plain))
        except InvalidConfigError as exc:
            raise InvalidConfigError(f"candidate {i}: {exc}") from exc
    return space.encode_many(rows), rows
