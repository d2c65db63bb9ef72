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
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from metahp.aliases import canonical_space
from metahp.errors import InvalidConfigError, InvalidSpaceError, MetaHPError
from metahp.space import Categorical, Float, Int, Param, SearchSpace
from metahp.task import resolve_task
from metahp.vocabulary import META_FEATURES, OBJECTIVE_TYPES, canonical_regime, check_regime, unknown

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from metahp.kb import KnowledgeBase
    from metahp.meta import FittedMeta

__all__ = ["Recommendation", "Neighbour", "Recommender", "recommend", "literature_defaults", "FALLBACK_SPACE"]

_TRENDS: dict[tuple[str, str, tuple[int, ...]], Any] = {}  # fitted meta-model key -> its OptimumTrend

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
            read from the nearest tasks' objective quantiles at the predicted score, or, where
            the answer comes from a model across scales (``score`` NaN), that model's prediction
            at the target's scale
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
        regime: str | None = None,
        objective: str | None = None,
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
            regime: ``pretrain``, ``finetune`` or ``lora`` (default: the task's ``kind``, else
                read from ``model_pretrained``). Without a family, only sources of this regime answer.
            objective: ``loss`` or ``score``: without a family, only sources of this objective type answer.

        Without a family, the sources are every task of the knowledge base of the same regime
        (and objective type) sharing a meta-feature with the target
        (:func:`metahp.meta.select_sources`), and the answer is in the union of the parameters the
        nearest of them record. Where the sources' optima follow a power law of the scale
        meta-features (:class:`metahp.meta.ScaleTrend`), the first pick follows it, also beyond the
        sources' range, with a warning. A ``space`` may use other tools' names (``lr``,
        ``per_device_train_batch_size``, ...): the answer is in those names.

        Raises:
            UnknownTaskError: A task name not in the knowledge base, or a bad ``task``.
            InvalidSpaceError: ``space`` is not a SearchSpace.
            InvalidConfigError: A candidate is not a valid configuration of ``space``.
            MetaHPError: ``k`` is not a positive integer or ``model`` is unknown.
            UnknownNameError: An unknown meta-feature name, family, regime or objective type.
        """
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise MetaHPError(f"k must be a positive integer, got {k!r}")
        if space is not None and not isinstance(space, SearchSpace):
            raise InvalidSpaceError(f"space must be a metahp.SearchSpace, got {type(space).__name__}")
        if objective is not None and objective not in OBJECTIVE_TYPES:
            raise unknown(str(objective), sorted(OBJECTIVE_TYPES), what="objective type")
        wanted_regime = check_regime(regime) if regime is not None else None
        user_names: dict[str, str] = {}
        kb = self._kb()
        excluded = sorted({str(e) for e in (exclude or ())})
        selection = None
        # A warm call on an unchanged store opens nothing: the store keeps its content hash and
        # families between connections, and what is read from it is kept per content hash here.
        # Otherwise one connection serves the cheap look-ups (opening the store dominates a warm call).
        kb_hash = kb.content_hash() if self.use_cache else None
        warm = (kb_hash is not None and kb_hash in _TASK_TABLES and not isinstance(task, str)
                and (space is None or kb_hash in _RECORDED))
        with nullcontext() if warm else _session(kb):
            target = resolve_task(task, kb)
            families = kb.families()
            if family is not None and family not in families:
                raise unknown(str(family), sorted(families), what="family")
            kb_hash = kb_hash if families else None
            if space is not None:  # the user's names (Trainer's, lr, bs, ...) -> canonical, and back in the answer
                space, user_names = canonical_space(space, keep=_recorded_names(kb, kb_hash))
            if candidates is not None and user_names:
                candidates = _canonical_candidates(candidates, user_names)
            tasks_frame = _task_table(kb, kb_hash) if families else None
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
                                           space_names=space.names if space is not None else (), key=kb_hash)
                wanted_regime = selection.regime
                if len(selection) and space is None:
                    space = _union_space(kb, selection, self.n_neighbours * 2, target.meta_features, kb_hash)
            if space is None:
                if train_family is not None:
                    space = kb.space(train_family)
                else:
                    space = _fallback_space(wanted_regime)
            if wanted_regime in ("finetune", "lora") and not user_names and target.space is None:
                space = _with_finetuning_params(space, wanted_regime)
            meta_of = _meta_of(tasks_frame, kb_hash) if tasks_frame is not None else {}
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
            # A task of one or two runs says (next to) nothing about which configuration is better, so
            # the per-task normalised meta-model does not learn from it.
            from metahp.meta import MIN_TRIALS_TO_RANK

            chosen = {n for n, c in zip(selection.names, selection.n_trials) if c >= MIN_TRIALS_TO_RANK}
            fit_exclude = sorted(set(excluded) | {str(n) for n in meta_of if n not in chosen})
        fitted = fit_meta(kb, self.model, family=train_family, exclude=fit_exclude, space=space,
                          use_cache=self.use_cache, kb_hash=kb_hash)
        if fitted.model is None:
            why = ("the knowledge base holds no trial of a parameter in the target space "
                   f"({', '.join(space.names)})" if fitted.n_trials else "no source trial is left after exclude=")
            start = (_cross_scale_pick(kb, kb_hash, space, target.meta_features, selection, meta_of)
                     if selection is not None and self.trend else None)
            if start is not None:
                why = "no source task ranks configurations itself (each holds one run or two)"
            return _answer(_fallback(space, target.meta_features, int(k), seed, why, pool, regime=wanted_regime,
                                     start=start), user_names)
        about = _about_sources(selection, fitted, train_family)
        prior = None if wanted_regime in ("finetune", "lora") else _literature_prior(target.meta_features)
        pick = _scale_pick(fitted, space, target.meta_features, meta_of, prior) if self.trend else None
        if pick is None and selection is not None:
            pick = _cross_scale_pick(kb, kb_hash, space, target.meta_features, selection, meta_of)
        if pick is None and selection is not None:
            pick = _consensus_pick(fitted, space, selection, self.n_neighbours)
        notes = list(pick.warnings) if pick is not None else []
        for note in notes:
            warnings.warn(note, stacklevel=2)
        if (pick is not None and pick.across is not None and pool is None
                and _ranking_is_farther(selection, pick.across.distance, set(fit_exclude))):
            # The runs across scales are the nearest evidence: the hedges come from them too, not
            # from farther tasks that rank configurations of another scale.
            recs = _across_portfolio(pick, pick.across, space, target.meta_features, int(k), self.min_distance,
                                     wanted_regime)
            return _answer([_replace(r, sources=about, warnings=tuple(notes)) for r in recs], user_names)
        recs = self._portfolio(fitted, space, target.meta_features, int(k), seed, pool, pick=pick)
        return _answer([_replace(r, sources=about, warnings=tuple(notes)) for r in recs], user_names)

    # ------------------------------------------------------------------------------------
    def _portfolio(self, fitted: FittedMeta, space: SearchSpace, meta: dict[str, float], k: int,
                   seed: int, pool: tuple[np.ndarray, list[dict[str, Any]]] | None = None,
                   pick: _ScalePick | None = None) -> list[Recommendation]:
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
                    extra = space.snap(extra)
                    candidates, n_moved = np.vstack([extra, candidates]), len(extra)
            rows = np.arange(len(candidates))
        else:
            candidates, rows = pool[0], np.arange(len(pool[0]))
        forced = None
        if pick is not None:
            candidates, rows, forced = _with_scale_pick(model, meta, space, candidates, rows, pick, pool is None)
            n_moved += 1 if pool is None else 0  # the trend's point is prepended to the moved optima
        mean, std, draws = model.predict_joint(meta, candidates, n_samples=self.n_scenarios, seed=seed)
        # Only a shortlist can enter the portfolio: the best by mean and by optimistic bound.
        shortlist = np.union1d(np.argsort(mean, kind="stable")[: max(self.shortlist, k)],
                               np.argsort(mean - std, kind="stable")[: self.shortlist])
        shortlist = np.union1d(shortlist, np.arange(n_moved))  # the moved optima always compete
        if forced is not None:
            shortlist = np.union1d(shortlist, [forced])
            forced = int(np.searchsorted(shortlist, forced))
        candidates, mean, std, draws = candidates[shortlist], mean[shortlist], std[shortlist], draws[:, shortlist]
        rows = rows[shortlist]
        scenarios = [draws]
        if near.size:
            neighbour_meta = [fitted.source_meta_features(int(i)) for i in near]
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
        picks, reasons = _greedy(mean, sc, labels, candidates, k, min_distance, list(used), first=forced)
        if forced is not None and pick is not None:
            reasons[0] = pick.rationale

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
            widen = pick.std_factor if pick is not None else 1.0
            out.append(Recommendation(
                config=config, score=float(mean[c]), std=float(std[c]) * widen,
                predicted_objective=raw, objective_name=objective_name, neighbours=neighbours, filled=dict(filled),
                rationale=why, candidate=None if pool is None else int(rows[c]),
            ))
        return out

    def _trend_shifts(self, fitted: FittedMeta, space: SearchSpace, meta: dict[str, float], near: np.ndarray,
                      used: list[int]) -> np.ndarray | None:
        """How far the optimum moves from each near task to the target (``len(near) x d``; None: no trend).

        Measured by :class:`~metahp.meta.OptimumTrend` on the source tasks' best configurations.
        """
        from metahp.meta import OptimumTrend

        assert fitted.index is not None
        d = space.dim
        if not near.size or len(fitted.tasks) == 0:
            return None
        dims = [j for j in used if not isinstance(space.params[j], Categorical)]
        memo = (fitted.key, space.signature, tuple(dims))
        trend = _TRENDS.get(memo) if fitted.key else None
        if trend is None:  # fitting it costs more than the rest of a warm call on a large store
            best = np.array([t.best_encoded[0] if t.best_encoded.size else np.full(d, np.nan) for t in fitted.tasks])
            trend = OptimumTrend(fitted.index.meta, best.reshape(len(fitted.tasks), d), dims)
            if fitted.key:
                while len(_TRENDS) >= 16:
                    _TRENDS.pop(next(iter(_TRENDS)))
                _TRENDS[memo] = trend
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
        snapped = space.snap(pool)
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
    regime: str | None = None,
    objective: str | None = None,
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
        regime: ``pretrain``, ``finetune`` or ``lora`` (default: from the task).
        objective: ``loss`` or ``score`` to restrict the sources (default: any).

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
                                                  candidates=candidates, regime=regime, objective=objective)


# --------------------------------------------------------------------------------------
# helpers

def _session(kb: Any) -> Any:
    """``kb.session()`` where the store has one, else a no-op context."""
    from contextlib import nullcontext

    session = getattr(kb, "session", None)
    return session() if callable(session) else nullcontext()


def _greedy(mean: np.ndarray, scenarios: np.ndarray, labels: Sequence[str], candidates: np.ndarray, k: int,
            min_distance: float, dims: list[int], first: int | None = None) -> tuple[list[int], list[str]]:
    """Greedy expected-minimum portfolio over joint scenarios (``s x n``), from ``first`` (default: argmin)."""
    n = mean.shape[0]
    k = min(k, n)
    x = candidates[:, dims] if dims else candidates
    if first is None:
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

def literature_defaults(space: SearchSpace, meta: Mapping[str, float],
                        regime: str | None = None) -> dict[str, tuple[Any, str]]:
    """A starting value for every parameter of ``space``, with where it comes from.

    Canonical parameters follow published practice for AdamW training of transformers:

    - ``learning_rate``: the Step Law fit (Li et al. 2025) ``1.79 N^-0.713 D^0.307`` when
      the model size ``N`` (non-embedding parameters, else all) is known, with ``D`` the
      token budget or, unknown, a Chinchilla-optimal ``20 N`` (Hoffmann et al. 2022);
      otherwise ``3e-4``.
    - ``batch_size`` (sequences): Step Law's ``0.58 D^0.571`` tokens divided by the
      sequence length when ``D`` is known, else 32.
    - ``weight_decay`` 0.1, ``warmup_ratio`` 0.01, ``dropout`` 0.0, ``beta1`` 0.9, ``beta2`` 0.95,
      ``cooldown_ratio`` 0.2,
      ``grad_clip`` 1.0, ``optimizer`` ``adamw``, ``lr_schedule`` ``cosine`` where allowed.

    Fine-tuning a pretrained model (``regime`` ``finetune``, or ``model_pretrained`` 1.0 without
    a LoRA rank in the space) follows BERT / RoBERTa practice instead (Devlin et al. 2019; Liu et
    al. 2019): ``learning_rate`` 2e-5, ``epochs`` 3, ``warmup_ratio`` 0.06, ``batch_size`` 32,
    ``weight_decay`` 0.01, ``dropout`` 0.1. LoRA (``lora``, or a ``lora_rank`` in the space):
    ``learning_rate`` 2e-4, ``lora_rank`` 16, ``lora_alpha`` 32 (Hu et al. 2021; LoRA rates are
    about ten times full fine-tuning's), ``epochs`` 3, ``warmup_ratio`` 0.03.

    Other parameters take the space's default. Every value is clipped into the space.

    Example:
        >>> from metahp import Float, SearchSpace
        >>> space = SearchSpace([Float("learning_rate", 1e-5, 1e-1, log=True)])
        >>> value, why = literature_defaults(space, {})["learning_rate"]
        >>> value
        0.0003
    """
    from metahp.vocabulary import regime_of

    regime = regime or regime_of(None, meta, space.names)
    if regime in ("finetune", "lora"):
        return _clipped(space, _FINETUNING_DEFAULTS[regime])
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
        "beta1": (0.9, "AdamW beta1 0.9 (common practice)"),
        "beta2": (0.95, "AdamW beta2 0.95 (common LLM practice)"),
        "cooldown_ratio": (0.2, "20% cool-down of a warmup-stable-decay schedule (Hagele et al. 2024)"),
        "grad_clip": (1.0, "gradient clipping at 1.0 (common practice)"),
        "optimizer": ("adamw", "AdamW"),
        "lr_schedule": ("cosine", "cosine schedule"),
    })
    return _clipped(space, wanted)


LITERATURE_EXPONENTS: dict[str, dict[str, float]] = {
    "learning_rate": {"model_params_nonembedding": -0.713, "model_params": -0.713, "budget_tokens": 0.307},
    "batch_size": {"budget_tokens": 0.571},
}
"""Step Law's exponents (Li et al. 2025; the same law as :func:`literature_defaults`): the prior a
pre-training trend of the sources' optima is shrunk towards (:class:`metahp.meta.ScaleTrend`)."""

def _literature_prior(meta: Mapping[str, float]) -> dict[str, dict[str, float]]:
    """:data:`LITERATURE_EXPONENTS` on the one model-size feature the target gives (never two at once)."""
    size = next((f for f in ("model_params_nonembedding", "model_params") if f in meta), None)
    return {param: {f: e for f, e in slopes.items() if not f.startswith("model_params") or f == size}
            for param, slopes in LITERATURE_EXPONENTS.items()}


_FINETUNING_DEFAULTS: dict[str, dict[str, tuple[Any, str]]] = {
    "finetune": {
        "learning_rate": (2e-5, "full fine-tuning lr 2e-5 (BERT / RoBERTa practice)"),
        "epochs": (3, "3 epochs (BERT / RoBERTa practice)"),
        "warmup_ratio": (0.06, "6% warm-up (RoBERTa)"),
        "warmup_steps": (0, "no fixed warm-up steps (warm-up ratio unknown)"),
        "batch_size": (32, "batch size 32 (BERT practice)"),
        "weight_decay": (0.01, "weight decay 0.01 (fine-tuning practice)"),
        "dropout": (0.1, "dropout 0.1 (BERT)"),
        "optimizer": ("adamw", "AdamW"),
        "lr_schedule": ("linear", "linear decay (BERT)"),
    },
    "lora": {
        "learning_rate": (2e-4, "LoRA lr 2e-4 (about 10x full fine-tuning's)"),
        "lora_rank": (16, "LoRA rank 16 (common practice)"),
        "lora_alpha": (32, "LoRA alpha 32 (twice the rank)"),
        "epochs": (3, "3 epochs"),
        "warmup_ratio": (0.03, "3% warm-up"),
        "batch_size": (32, "batch size 32"),
        "weight_decay": (0.0, "no weight decay (LoRA practice)"),
        "dropout": (0.05, "LoRA dropout 0.05"),
        "optimizer": ("adamw", "AdamW"),
        "lr_schedule": ("cosine", "cosine schedule"),
    },
}


def _clipped(space: SearchSpace, wanted: Mapping[str, tuple[Any, str]]) -> dict[str, tuple[Any, str]]:
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
              pool: tuple[np.ndarray, list[dict[str, Any]]] | None = None,
              regime: str | None = None, start: _ScalePick | None = None) -> list[Recommendation]:
    """Literature defaults (or ``start``'s values over them) and learning-rate variations around them, with a warning.

    With given candidates, each is replaced by the nearest candidate not picked yet.
    """
    if start is None:
        note = f"{why}; recommending literature defaults instead of learned configurations"
    else:
        note = f"{why}; the first configuration comes from a model across scales, the others vary its learning rate"
    warnings.warn(note, stacklevel=3)
    defaults = literature_defaults(space, meta, regime)
    base = {name: value for name, (value, _) in defaults.items()}
    filled = {name: how for name, (_, how) in defaults.items()}
    reasons = ["literature defaults"]
    if start is not None:
        for name, value in start.values.items():
            if name in space:
                base[name] = _into(space[name], value)
                filled.pop(name, None)
        reasons = [start.rationale]
    configs = [dict(base)]
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
                               rationale=r, warnings=(note,)) for c, r in zip(configs[:k], reasons[:k])]
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
                                  rationale=f"candidate nearest the {r}", candidate=i, warnings=(note,)))
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


# --------------------------------------------------------------------------------------
# the user's question: names, sources, scale

_ARCHITECTURE = {"num_layers", "hidden_size", "num_heads"}


_TASK_TABLES: dict[str, Any] = {}  # store content hash -> its task table (a warm call reads it once)


def _task_table(kb: KnowledgeBase, kb_hash: str | None) -> pd.DataFrame:
    if kb_hash is not None and kb_hash in _TASK_TABLES:
        return _TASK_TABLES[kb_hash]
    table = kb.tasks()
    if kb_hash is not None:
        while len(_TASK_TABLES) >= 4:
            _TASK_TABLES.pop(next(iter(_TASK_TABLES)))
        _TASK_TABLES[kb_hash] = table
    return table


_META_OF: dict[str, dict[str, dict[str, Any]]] = {}  # store content hash -> each task's meta-features


def _meta_of(tasks: pd.DataFrame, kb_hash: str | None) -> dict[str, dict[str, Any]]:
    """Each task's meta-features by name (kept per content hash; read, never changed, by the callers)."""
    if kb_hash is not None and kb_hash in _META_OF:
        return _META_OF[kb_hash]
    table = {str(n): dict(m) for n, m in zip(tasks["name"], tasks["meta_features"])}
    if kb_hash is not None:
        while len(_META_OF) >= 4:
            _META_OF.pop(next(iter(_META_OF)))
        _META_OF[kb_hash] = table
    return table


def _check_meta_names(meta: Mapping[str, float], tasks: pd.DataFrame | None) -> None:
    """Refuse meta-feature names neither documented nor held by a task of the knowledge base."""
    if all(name in META_FEATURES for name in meta):
        return
    valid = set(META_FEATURES)
    if tasks is not None and len(tasks):
        for mf in tasks["meta_features"]:
            if isinstance(mf, Mapping):
                valid.update(str(key) for key in mf)
    for name in meta:
        if name not in valid:
            raise unknown(name, sorted(valid), what="meta-feature")


def _canonical_candidates(candidates: Any, renamed: Mapping[str, str]) -> Any:
    import pandas as pd

    back = {user: canonical for canonical, user in renamed.items()}
    if isinstance(candidates, pd.DataFrame):
        return candidates.rename(columns=back)
    return [{back.get(k, k): v for k, v in dict(c).items()} if isinstance(c, Mapping) else c for c in candidates]


def _answer(recs: list[Recommendation], renamed: Mapping[str, str]) -> list[Recommendation]:
    """The recommendations in the user's parameter names."""
    if not renamed:
        return recs
    return [_replace(r, config={renamed.get(k, k): v for k, v in r.config.items()},
                     filled={renamed.get(k, k): v for k, v in r.filled.items()}) for r in recs]


def _replace(rec: Recommendation, **changes: Any) -> Recommendation:
    from dataclasses import replace

    return replace(rec, **changes)


_UNIONS: dict[tuple[str, tuple[str, ...], bool], SearchSpace] = {}


_RECORDED: dict[str, frozenset[str]] = {}


def _recorded_names(kb: KnowledgeBase, kb_hash: str | None) -> frozenset[str]:
    """The parameter names the store's tasks record (memoised per content hash)."""
    if kb_hash is not None and kb_hash in _RECORDED:
        return _RECORDED[kb_hash]
    names = frozenset(kb.parameter_names())
    if kb_hash is not None:
        while len(_RECORDED) >= 16:
            _RECORDED.pop(next(iter(_RECORDED)))
        _RECORDED[kb_hash] = names
    return names


def _union_space(kb: KnowledgeBase, selection: Any, n_near: int, target: Mapping[str, float],
                 kb_hash: str | None = None) -> SearchSpace:
    """The parameters the nearest sources record, each over the union of their ranges.

    Log-scaled numbers are widened by a factor of ten each way, so an answer that follows a
    trend beyond the sources stays inside the space. Architecture parameters are left out
    when the target describes its model (its shape is the user's, not a hyperparameter).
    """
    near_families = list(dict.fromkeys(selection.families[:n_near]))
    describes_model = any(k.startswith("model_") and k != "model_pretrained" for k in target)
    memo = (kb_hash, tuple(near_families), describes_model) if kb_hash is not None else None
    if memo is not None and memo in _UNIONS:
        return _UNIONS[memo]
    space = _merged_space(kb, near_families, describes_model)
    if memo is not None:
        while len(_UNIONS) >= 16:
            _UNIONS.pop(next(iter(_UNIONS)))
        _UNIONS[memo] = space
    return space


def _merged_space(kb: KnowledgeBase, near_families: list[str], describes_model: bool) -> SearchSpace:
    merged: dict[str, Param] = {}
    for fam in near_families:
        for name, p in kb.space(fam).items():
            if name in _ARCHITECTURE and describes_model:
                continue
            merged[name] = _merge(merged[name], p) if name in merged else p
    params: list[Param] = []
    for p in merged.values():
        if isinstance(p, (Float, Int)) and p.log:
            low, high = p.low / 10.0, p.high * 10.0
            params.append(Float(p.name, low, high, log=True) if isinstance(p, Float)
                          else Int(p.name, max(1, int(low)), int(high), log=True))
        else:
            params.append(p)
    return SearchSpace(params) if params else FALLBACK_SPACE


def _merge(a: Param, b: Param) -> Param:
    if isinstance(a, Categorical) or isinstance(b, Categorical):
        if isinstance(a, Categorical) and isinstance(b, Categorical):
            return Categorical(a.name, tuple(dict.fromkeys([*a.choices, *b.choices])))
        return a
    log = bool(a.log or b.log)
    low, high = min(a.low, b.low), max(a.high, b.high)
    if isinstance(a, Int) and isinstance(b, Int):
        return Int(a.name, int(low), int(high), log=log and low > 0)
    return Float(a.name, float(low), float(high), log=log and low > 0)


_FINETUNING_PARAMS: dict[str, Param] = {
    "epochs": Int("epochs", 1, 10),
    "warmup_ratio": Float("warmup_ratio", 0.0, 0.3),
    "lora_rank": Int("lora_rank", 1, 256, log=True),
}


def _with_finetuning_params(space: SearchSpace, regime: str) -> SearchSpace:
    """A fine-tuning answer always says how long (epochs) and how to warm up; a LoRA answer its rank."""
    wanted = ["epochs", "warmup_ratio"] + (["lora_rank"] if regime == "lora" else [])
    have = set(space.names)
    if "warmup_steps" in have:
        wanted.remove("warmup_ratio")
    extra = [_FINETUNING_PARAMS[n] for n in wanted if n not in have]
    return SearchSpace([*space.params, *extra]) if extra else space


def _fallback_space(regime: str | None) -> SearchSpace:
    return _with_finetuning_params(FALLBACK_SPACE, regime) if regime in ("finetune", "lora") else FALLBACK_SPACE


def _about_sources(selection: Any, fitted: FittedMeta, family: str | None) -> str:
    names = [t.name for t in fitted.tasks]
    fams = sorted({t.family for t in fitted.tasks})
    if selection is None:
        return f"{len(names)} source tasks of family {family}" if family else f"{len(names)} source tasks"
    near = ", ".join(f"{n} (d={d:.2f})" for n, d in zip(selection.names[:3], selection.distances[:3]))
    fams = sorted(set(selection.families)) or fams  # every selected source's family, ranked or not
    from metahp.meta import MIN_TRIALS_TO_RANK

    single = sum(1 for c in selection.n_trials if c < MIN_TRIALS_TO_RANK)
    if single:
        near += (f"; {single} of them hold fewer than {MIN_TRIALS_TO_RANK} runs each and only inform the space "
                 "(no per-task ranking)")
    left = ("; left out: " + ", ".join(f"{c} of {r}" for r, c in selection.left_out.items())
            if selection.left_out else "")
    return (f"{len(selection)} source tasks of {len(fams)} famil{'y' if len(fams) == 1 else 'ies'} "
            f"({', '.join(fams)}), chosen by {', '.join(selection.reasons)}; nearest {near}{left}")


@dataclass
class _ScalePick:
    """The first pick where the sources' optima follow a power law of scale."""

    values: dict[str, float]  # parameter -> raw value the trend predicts
    rationale: str
    std_factor: float = 1.0
    warnings: tuple[str, ...] = ()
    across: _Across | None = None  # the model across scales the pick came from, if it did


@dataclass
class _Across:
    """A family's model across scales at the target's scale: what a portfolio from it needs."""

    family: str
    distance: float  # the family's nearest selected task, in the selection's meta-feature distance
    model: Any  # metahp.meta.CrossScaleModel
    at: dict[str, float]  # the target's scale features
    configs: dict[str, np.ndarray]  # every run's parameters, on each parameter's scale
    logs: dict[str, bool]
    predicted: np.ndarray  # every run's predicted objective at the target's scale
    tasks: np.ndarray  # each run's task
    objectives: np.ndarray  # what each run measured, at its own scale
    objective_name: str
    distances: dict[str, float]  # the family's selected tasks' distances to the target

    def values_of(self, run: int, names: Sequence[str]) -> dict[str, float]:
        """Run ``run``'s raw values of the parameters ``names`` (off each parameter's scale)."""
        return {n: float(10 ** self.configs[n][run]) if self.logs[n] else float(self.configs[n][run]) for n in names}

    def predict(self, values: Mapping[str, float]) -> float:
        """The predicted objective of raw parameter ``values`` at the target's scale."""
        config = {n: np.array([math.log10(values[n]) if self.logs[n] else float(values[n])]) for n in self.configs}
        return float(self.model.predict({f: np.array([v]) for f, v in self.at.items()}, config)[0])


def _scale_pick(fitted: FittedMeta, space: SearchSpace, meta: Mapping[str, float],
                meta_of: Mapping[str, Mapping[str, Any]],
                prior: Mapping[str, Mapping[str, float]] | None = None) -> _ScalePick | None:
    """Fit a :class:`~metahp.meta.ScaleTrend` per source family and use the nearest family whose trend holds."""
    from metahp.meta import MIN_TRIALS_FOR_OPTIMUM, ScaleTrend, meta_distances, short_count

    params = [n for n in fitted.param_columns if not isinstance(space[n], Categorical)]
    if not params:
        return None
    by_family: dict[str, list[int]] = {}
    for i, t in enumerate(fitted.tasks):
        if t.n_trials >= MIN_TRIALS_FOR_OPTIMUM and t.best_configs and t.name in meta_of:
            by_family.setdefault(t.family, []).append(i)
    best: tuple[float, str, Any, list[int]] | None = None
    for fam, idx in sorted(by_family.items()):
        metas = [{k: float(v) for k, v in meta_of[fitted.tasks[i].name].items() if _positive(v) is not None}
                 for i in idx]
        columns = {f: np.array([m.get(f, np.nan) for m in metas]) for f in {k for m in metas for k in m}}
        optimum = {}
        for name in params:
            log = bool(getattr(space[name], "log", False))
            optimum[name] = np.array([_source_optimum(fitted.tasks[i], name, log) for i in idx])
        trend = ScaleTrend.fit(columns, optimum, target=meta, prior=prior)
        if not trend.active:
            continue
        near = float(np.min(meta_distances(meta, metas)))
        if best is None or near < best[0]:
            best = (near, fam, trend, idx)
    if best is None:
        return None
    _, fam, trend, idx = best
    predicted = trend.predict(meta)
    values: dict[str, float] = {}
    factor = 1.0
    for name, (value, std) in predicted.items():
        values[name] = float(10**value) if getattr(space[name], "log", False) else float(value)
        rmse = trend.fits[name].rmse
        if rmse > 0:
            factor = max(factor, std / rmse)
    slopes = trend.slopes()
    law = "; ".join(
        f"{name} ~ " + " ".join(f"{f}^{e:+.2f}" for f, e in slopes[name].items())
        + f" (leave-one-task-out R2 {trend.r2[name]:.2f})" for name in predicted)
    rationale = f"follows the scale trend of {trend.n_tasks} {fam} tasks: {law}"
    notes = []
    beyond = trend.coverage(meta)
    if beyond:
        shown = ", ".join(f"{n}={short_count(v) if abs(v) >= 1000 else f'{v:.3g}'}" for n, v in values.items())
        notes.append(f"{'; '.join(beyond)}: the answer extrapolates the trend of {trend.n_tasks} {fam} tasks "
                     f"({shown}) and is less certain (standard deviation x{factor:.1f})")
    for name, value in values.items():
        param = space[name]
        if isinstance(param, (Float, Int)) and not (param.low <= value <= param.high):
            notes.append(f"the trend puts {name} at {value:.3g}, outside the space [{param.low:g}, {param.high:g}]; "
                         "the answer is clipped to the bound")
    return _ScalePick(values=values, rationale=rationale, std_factor=factor, warnings=tuple(notes))


def _source_optimum(task: Any, name: str, log: bool) -> float:
    """A source's optimum of one parameter: the mean of its best configurations, on the parameter's scale."""
    raw = [_positive(c.get(name)) if log else c.get(name) for c in task.best_configs]
    nums = [float(v) for v in raw if v is not None and np.isfinite(float(v))]
    return float(np.mean(np.log10(nums) if log else nums)) if nums else math.nan


_HELD: dict[tuple[Any, ...], tuple[str, ...]] = {}  # (store hash, family, features, names) -> features all give
_CROSS: dict[tuple[Any, ...], Any] = {}  # (store hash, family, features, params) -> fitted CrossScaleModel and runs
_MIN_RUNS_ACROSS_SCALES = 30


def _cross_scale_pick(kb: KnowledgeBase, kb_hash: str | None, space: SearchSpace, meta: Mapping[str, float],
                      selection: Any, meta_of: Mapping[str, Mapping[str, Any]]) -> _ScalePick | None:
    """Without a trend: a family of one run per task answers through a model across scales.

    Where a family's tasks hold one run each (scan-bench draws shape, budget and hyperparameters
    together), no task has an optimum of its own, but the family's runs share one objective: a
    :class:`~metahp.meta.CrossScaleModel` of the objective on ``log10`` scale features and the
    configuration predicts every recorded configuration at the target's scale, and the pick is
    the mean (on each parameter's scale) of the three it predicts best. Only the nearest such
    family answers, and only with scale features the target gives.
    """
    from metahp.meta import MIN_TRIALS_TO_RANK, CrossScaleModel, short_count
    from metahp.vocabulary import SCALE_FEATURES

    counts: dict[str, int] = {}
    nearest: dict[str, float] = {}
    for fam, d, n in zip(selection.families, selection.distances, selection.n_trials):
        if n < MIN_TRIALS_TO_RANK:
            counts[fam] = counts.get(fam, 0) + n
            nearest.setdefault(fam, float(d))
    families = [f for f in sorted(nearest, key=lambda f: nearest[f]) if counts[f] >= _MIN_RUNS_ACROSS_SCALES]
    if not families:
        return None
    fam = families[0]
    names = [n for n, f in zip(selection.names, selection.families) if f == fam]
    given = tuple(f for f in SCALE_FEATURES if _positive(meta.get(f)) is not None)
    held_key = (kb_hash, fam, given, len(names), hash(tuple(names)))
    held = _HELD.get(held_key) if kb_hash is not None else None
    if held is None:  # the scale features every one of the family's selected tasks gives
        held = tuple(f for f in given if all(_positive(meta_of[n].get(f)) is not None for n in names))
        if kb_hash is not None:
            while len(_HELD) >= 32:
                _HELD.pop(next(iter(_HELD)))
            _HELD[held_key] = held
    features = list(held)
    fam_space = _family_space(kb, fam, kb_hash)
    params = [n for n in fam_space.names if n in space and not isinstance(space[n], Categorical)]
    if not features or not params:
        return None
    key = (kb_hash, fam, tuple(features), tuple(params))
    hit = _CROSS.get(key) if kb_hash is not None else None
    if hit is None:
        trials = kb.trials(family=fam)
        trials = trials[(trials["status"] == "ok") & trials["task"].isin(names)].reset_index(drop=True)
        if len(trials) < _MIN_RUNS_ACROSS_SCALES:
            return None
        logs = {n: bool(getattr(space[n], "log", False)) for n in params}
        configs = {n: _on_scale(trials[n].to_numpy(dtype=float), logs[n]) for n in params}
        run_meta = {f: np.array([float(meta_of[t][f]) for t in trials["task"]]) for f in features}
        model = CrossScaleModel().fit(run_meta, configs, trials["objective"].to_numpy(dtype=float))
        ranges = {f: (float(v.min()), float(v.max())) for f, v in run_meta.items()}
        table = _task_table(kb, kb_hash)
        named = table.loc[table["family"] == fam, "objective_name"]
        runs = (trials["task"].astype(str).to_numpy(), trials["objective"].to_numpy(dtype=float),
                str(named.iloc[0]) if len(named) else "objective")
        hit = (model, configs, logs, ranges, len(trials), runs)
        if kb_hash is not None:
            while len(_CROSS) >= 8:
                _CROSS.pop(next(iter(_CROSS)))
            _CROSS[key] = hit
    model, configs, logs, ranges, n_runs, runs = hit
    n_configs = len(next(iter(configs.values())))
    at_target = {f: np.full(n_configs, float(meta[f])) for f in features}
    predicted = model.predict(at_target, configs)
    across = _Across(family=fam, distance=nearest[fam], model=model, at={f: float(meta[f]) for f in features},
                     configs=configs, logs=logs, predicted=predicted, tasks=runs[0], objectives=runs[1],
                     objective_name=runs[2],
                     distances={str(n): float(d) for n, d, f in zip(selection.names, selection.distances,
                                                                      selection.families) if f == fam})
    top = np.argsort(predicted, kind="stable")[:3]
    values = {}
    for name in params:
        v = float(np.nanmean(configs[name][top]))
        values[name] = float(10**v) if logs[name] else v
    notes = []
    for f, (lo, hi) in ranges.items():
        value = float(meta[f])
        if value > 1.5 * hi or value < lo / 1.5:
            notes.append(f"{short_count(value)} {f} is outside the {short_count(lo)}-{short_count(hi)} that {fam}'s "
                         f"{n_runs} runs cover: the model across scales cannot extrapolate, and the answer is that "
                         "of the edge of its coverage")
    return _ScalePick(values=values, rationale=(
        f"a model across scales of {fam}'s {n_runs} runs (one per task; objective on log {', '.join(features)} and "
        f"the configuration): the mean of the three recorded configurations it predicts best at this scale"),
        warnings=tuple(notes), across=across)


_FAMILY_SPACES: dict[tuple[str, str], SearchSpace] = {}


def _ranking_is_farther(selection: Any, distance: float, excluded: set[str]) -> bool:
    """Whether every selected task that ranks configurations itself is farther than ``distance``."""
    from metahp.meta import MIN_TRIALS_TO_RANK

    ranking = [float(d) for n, d, c in zip(selection.names, selection.distances, selection.n_trials)
               if c >= MIN_TRIALS_TO_RANK and str(n) not in excluded]
    return not ranking or min(ranking) > distance


def _across_portfolio(pick: _ScalePick, across: _Across, space: SearchSpace, meta: Mapping[str, float], k: int,
                      min_distance: float, regime: str | None) -> list[Recommendation]:
    """The pick, then the recorded runs the model across scales predicts best at the target's scale.

    Each hedge is a configuration one of the family's runs trained with, in the order of its
    predicted objective at the target's scale, skipping those closer than ``min_distance``
    (RMS in the unit cube of the modelled parameters) to one already taken. Parameters the
    family does not record keep the literature defaults.
    """
    from metahp.meta import short_count

    defaults = literature_defaults(space, meta, regime)
    base = {name: value for name, (value, _) in defaults.items()}
    filled = {name: how for name, (_, how) in defaults.items()}
    params = [n for n in across.configs if n in space]
    for name in params:
        filled.pop(name, None)

    def config_of(values: Mapping[str, float]) -> dict[str, Any]:
        cfg = dict(base)
        for name in params:
            cfg[name] = _into(space[name], values[name])
        return space.validate(cfg)

    def unit_of(cfg: Mapping[str, Any]) -> np.ndarray:
        return np.array([space[n].to_unit(cfg[n]) for n in params])

    first = config_of({n: float(pick.values[n]) if n in pick.values else float(base[n]) for n in params})
    picks = [first]
    units = [unit_of(first)]
    reasons = [pick.rationale]
    predicted = [across.predict({n: first[n] for n in params})]
    order = np.argsort(across.predicted, kind="stable")
    scale = ", ".join(f"{short_count(v)} {f}" for f, v in across.at.items())
    for rank, i in enumerate(order, start=1):
        if len(picks) >= k:
            break
        cfg = config_of(across.values_of(int(i), params))
        u = unit_of(cfg)
        if min(float(np.sqrt(((u - v) ** 2).mean())) for v in units) < min_distance:
            continue
        task = str(across.tasks[i])
        picks.append(cfg)
        units.append(u)
        predicted.append(float(across.predicted[i]))
        reasons.append(f"hedge: the configuration of {task} (it measured {across.objectives[i]:.4g} at its own "
                       f"scale), predicted {rank}. best of the {len(order)} runs at {scale}")
    near = sorted(across.distances.items(), key=lambda item: (item[1], item[0]))[:3]
    best_run = {str(t): int(j) for j, t in reversed(list(enumerate(across.tasks)))}
    neighbours = tuple(
        Neighbour(task=name, distance=d, best_config=across.values_of(best_run[name], params),
                  best_value=float(across.objectives[best_run[name]]), objective_name=across.objective_name)
        for name, d in near if name in best_run)
    return [Recommendation(config=cfg, score=math.nan, std=math.nan, predicted_objective=p,
                           objective_name=across.objective_name, neighbours=neighbours, filled=dict(filled),
                           rationale=why)
            for cfg, p, why in zip(picks, predicted, reasons)]


def _family_space(kb: KnowledgeBase, family: str, kb_hash: str | None) -> SearchSpace:
    """``kb.space(family)``, kept per store hash (opening the store costs more than a warm answer)."""
    if kb_hash is not None and (kb_hash, family) in _FAMILY_SPACES:
        return _FAMILY_SPACES[(kb_hash, family)]
    space = kb.space(family)
    if kb_hash is not None:
        while len(_FAMILY_SPACES) >= 64:
            _FAMILY_SPACES.pop(next(iter(_FAMILY_SPACES)))
        _FAMILY_SPACES[(kb_hash, family)] = space
    return space


def _on_scale(values: np.ndarray, log: bool) -> np.ndarray:
    if not log:
        return values
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(values > 0, np.log10(np.where(values > 0, values, 1.0)), np.nan)


def _consensus_pick(fitted: FittedMeta, space: SearchSpace, selection: Any, n_near: int) -> _ScalePick | None:
    """Without a trend: the first pick at the nearest sources' optima (distance-weighted), not at the argmin.

    A source far from the target (a DeBERTa sweep for a MiniLM question) is evidence of where the
    good region lies, not of its exact best point; the argmin of a meta-model fitted on it is that
    one task's noise. The meta-model still chooses the parameters the sources do not record.
    """
    from metahp.meta import MIN_TRIALS_FOR_OPTIMUM

    by_name = {t.name: t for t in fitted.tasks}
    near = [(by_name[n], float(d)) for n, d in zip(selection.names, selection.distances)
            if n in by_name and by_name[n].n_trials >= MIN_TRIALS_FOR_OPTIMUM and by_name[n].best_configs][:n_near]
    params = [n for n in fitted.param_columns if not isinstance(space[n], Categorical)]
    if not near or not params:
        return None
    weights = np.array([1.0 / (d + 0.1) if math.isfinite(d) else 1.0 for _, d in near])
    values: dict[str, float] = {}
    for name in params:
        log = bool(getattr(space[name], "log", False))
        opt = np.array([_source_optimum(t, name, log) for t, _ in near])
        ok = np.isfinite(opt)
        if ok.any():
            v = float(np.average(opt[ok], weights=weights[ok]))
            values[name] = float(10**v) if log else v
    if not values:
        return None
    shown = ", ".join(t.name for t, _ in near[:3]) + (f" and {len(near) - 3} more" if len(near) > 3 else "")
    return _ScalePick(values=values, rationale=f"the consensus optimum of the nearest sources ({shown}): the mean of "
                                               "each one's best three configurations, weighted by nearness")


def _with_scale_pick(model: Any, meta: Mapping[str, float], space: SearchSpace, candidates: np.ndarray,
                     rows: np.ndarray, pick: _ScalePick, free: bool) -> tuple[np.ndarray, np.ndarray, int]:
    """Candidates with the trend's point, and the index of the first pick.

    Free: every candidate with the trended parameters set to the trend's values is scored by the
    meta-model and the best is prepended (the meta-model chooses what the trend does not say).
    Pool: the candidate nearest the trend's values in the trended parameters (ties: lowest mean).
    """
    dims = [space.names.index(n) for n in pick.values]
    unit = np.array([space[n].to_unit(_into(space[n], v)) for n, v in pick.values.items()])
    if free:
        moved = candidates.copy()
        moved[:, dims] = unit
        moved = space.snap(moved)
        _, first = np.unique(np.round(moved, 9), axis=0, return_index=True)
        moved = moved[np.sort(first)]
        mean, _ = model.predict(meta, moved)
        chosen = moved[int(np.argmin(mean))]
        return np.vstack([chosen[None, :], candidates]), np.arange(len(candidates) + 1), 0
    d = np.sqrt(((candidates[:, dims] - unit[None, :]) ** 2).mean(axis=1))
    near = np.flatnonzero(d <= d.min() + 1e-9)
    if len(near) > 1:
        mean, _ = model.predict(meta, candidates[near])
        return candidates, rows, int(near[int(np.argmin(mean))])
    return candidates, rows, int(near[0])
