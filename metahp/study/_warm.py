"""The warm start: what the knowledge base contributes to a study (the sources and the portfolio)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

from metahp.aliases import canonical_space
from metahp.errors import MetaHPError
from metahp.space import SearchSpace
from metahp.study._strategy import Sources
from metahp.task import TaskSpec

if TYPE_CHECKING:  # pragma: no cover
    from metahp.kb import KnowledgeBase

__all__ = ["WarmStart", "warm_start"]

logger = logging.getLogger(__name__)


@dataclass
class WarmStart:
    """The sources for the transfer strategy (None: cold) and the portfolio of first trials."""

    sources: Sources | None = None
    portfolio: list[dict[str, Any]] = field(default_factory=list)
    note: str = ""


def warm_start(kb: KnowledgeBase, spec: TaskSpec, space: SearchSpace, *, exclude: Sequence[str], model: str,
               seed: int, portfolio_size: int, pool: pd.DataFrame | None, label: str) -> WarmStart:
    """Fit the meta-model on the sources and ask the recommender for the portfolio.

    The fit uses the same family and exclusions as the recommender's, so both share one
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
    return WarmStart(sources=Sources(fitted, dict(spec.meta_features)), portfolio=portfolio,
                     note=f"warm start from {fitted.n_trials} source trials ({label})")
