"""The warm start: what the knowledge base contributes to a study (the sources and the portfolio)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from metahp.aliases import canonical_space
from metahp.errors import MetaHPError
from metahp.space import SearchSpace
from metahp.study._design import kept_members, prior_odds, sobol_design, source_agreement
from metahp.study._pool import _plain
from metahp.study._strategy import Sources
from metahp.task import TaskSpec

if TYPE_CHECKING:  # pragma: no cover
    from metahp.kb import KnowledgeBase
    from metahp.meta import FittedMeta

__all__ = ["WarmStart", "warm_start"]

logger = logging.getLogger(__name__)


@dataclass
class WarmStart:
    """The sources for the transfer strategy (None: cold) and the portfolio of first trials.

    Attributes:
        sources: What the knowledge base offers, or None for a cold start.
        portfolio: The recommender's configurations for the first trials, in order.
        hedge: The cold design's points that follow them (trials of origin ``sobol``), where
            the sources' agreement kept only part of the portfolio.
        agreement: How well the sources' consensus ranks a left-out source
            (:func:`~metahp.study._design.source_agreement`; 1 without sources).
        note: Why the warm start is what it is.
    """

    sources: Sources | None = None
    portfolio: list[dict[str, Any]] = field(default_factory=list)
    hedge: list[dict[str, Any]] = field(default_factory=list)
    agreement: float = 1.0
    note: str = ""


def warm_start(kb: KnowledgeBase, spec: TaskSpec, space: SearchSpace, *, exclude: Sequence[str], model: str,
               seed: int, portfolio_size: int, pool: pd.DataFrame | None, label: str) -> WarmStart:
    """Fit the meta-model on the sources and ask the recommender for the portfolio, hedged.

    Where the nearest sources rank the candidates unalike, only their agreement's share of
    the portfolio is the recommender's (at least its first pick); the other members are the
    points a cold start's design would begin with (:mod:`metahp.study._design`). The fit
    uses the same family and exclusions as the recommender's, so both share one
    cached fit. Whatever fails (no meta-model library, a fit error, no shared parameter)
    gives a cold start with a note saying why; a failed portfolio leaves the first trials
    to the strategy.

    Args:
        kb: The knowledge base.
        spec: The target task.
        space: The study's space.
        exclude: Tasks not to learn from.
        model: Meta-model name.
        seed: The study's seed.
        portfolio_size: Configurations to ask the recommender for (0: none).
        pool: Pool mode: the candidates, among which the portfolio is picked.
        label: The strategy's name, for the note.
    """
    # metahp.meta (scikit-learn, LightGBM) and the recommender are heavy: imported only for a warm start.
    try:
        from metahp.meta import fit_meta
    except ImportError as exc:  # the meta-learning part is optional for plain BO
        return WarmStart(note=f"no meta-models available ({exc}); cold start")
    train_family = spec.family if spec.family in kb.families() else None
    try:
        # The store speaks canonical names (lr -> learning_rate); the encoding is by position, so the
        # fitted model serves the study's own space as it is.
        fitted = fit_meta(kb, model, family=train_family, exclude=list(exclude),
                          space=canonical_space(space, keep=kb.parameter_names())[0])
    except MetaHPError as exc:
        return WarmStart(note=f"could not fit the meta-model ({exc}); cold start")
    if fitted.model is None:
        return WarmStart(note="the knowledge base shares no parameter with this space; cold start")
    portfolio: list[dict[str, Any]] = []
    if portfolio_size > 0:
        try:
            from metahp.recommender import recommend

            # In pool mode the portfolio is picked among the candidates themselves.
            recs = recommend(spec, space=space, k=portfolio_size, model=model, exclude=list(exclude), kb=kb,
                             seed=seed, family=train_family, candidates=pool)
            portfolio = [space.validate(r.config, fill_defaults=True) for r in recs]
        except (ImportError, MetaHPError) as exc:
            logger.info("no portfolio from the recommender (%s); the strategy picks the first trials", exc)
    meta = dict(spec.meta_features)
    agreement, odds, hedge = 1.0, 1.0, []
    if len(portfolio) > 1:
        measured = source_agreement(fitted, meta, _reference(fitted, space, pool), seed=seed)
        agreement, odds = measured.rho, prior_odds(measured)
        keep = kept_members(len(portfolio), agreement)
        if keep < len(portfolio):
            portfolio, hedge = portfolio[:keep], _space_filling(space, portfolio[:keep], len(portfolio) - keep, pool,
                                                                 seed)
    note = f"warm start from {fitted.n_trials} source trials ({label})"
    if hedge:
        note += f"; the sources' consensus ranks a left-out source at {agreement:.2f}: {len(hedge)} of the " \
                f"portfolio's {len(portfolio) + len(hedge)} are a cold design's points"
    return WarmStart(sources=Sources(fitted, meta, prior_odds=odds), portfolio=portfolio, hedge=hedge,
                     agreement=agreement, note=note)


def _reference(fitted: FittedMeta, space: SearchSpace, pool: pd.DataFrame | None) -> np.ndarray:
    """Configurations the sources' rankings are compared on: the pool, else what the sources recorded."""
    if pool is not None:
        return space.encode_frame(pool)
    observed = [t.observed for t in fitted.tasks if t.observed.size]
    ref = np.vstack(observed) if observed else np.zeros((0, space.dim))
    return ref[np.isfinite(ref).all(axis=1)]


def _space_filling(space: SearchSpace, kept: list[dict[str, Any]], n: int, pool: pd.DataFrame | None,
                   seed: int) -> list[dict[str, Any]]:
    """The first ``n`` points of a cold start's design that are not a kept member.

    The design is the study's scrambled-Sobol sequence (:func:`~metahp.study._design.sobol_design`,
    the points a cold study with this seed starts from), snapped to the space, or in pool
    mode the pool members nearest to its points.
    """
    design = sobol_design(space.dim, len(kept) + n, seed)
    taken = [space.encode(c) for c in kept]
    unit = space.encode_frame(pool) if pool is not None else None
    out: list[dict[str, Any]] = []
    for u in design:
        if len(out) == n:
            break
        if unit is not None:
            row = int(np.argmin(((unit - u[None, :]) ** 2).sum(axis=1)))
            point = unit[row]
        else:
            point = space.snap(u[None, :])[0]
        if any(np.abs(point - t).max() < 1e-9 for t in taken):
            continue
        taken.append(point)
        if pool is not None:
            values = pool.iloc[row]
            out.append(space.validate({name: _plain(values[name]) for name in space.names}, fill_defaults=True))
        else:
            out.append(space.validate(space.decode(point), fill_defaults=True))
    return out
