"""How a warm start's initial design hedges against sources that say nothing about the target.

The recommender's portfolio is the meta-model's best guess of where the target's optimum
lies, so its members sit close together wherever the guess points. That is right when the
source tasks agree on where good configurations are; when they do not, the guess is noise,
and a clustered portfolio spends the first trials exploring one corner, so the target's own
GP starts late. Two measurements decide how far the design trusts the portfolio:

* Before any trial: :func:`source_agreement`, how well the nearest sources' consensus ranks
  the configurations for a source left out of it (Spearman correlation of what it recorded
  there with the others' mean ranking, averaged over the sources): an estimate, from the
  sources alone, of how well the consensus will rank the target's. Sources with a shared
  signal score high even where each one differs from its neighbour; sources whose rankings
  are unrelated score about 0. The portfolio keeps that share of its members
  (:func:`kept_members`, at least the first); the rest become the points a cold start's
  design begins with (its scrambled-Sobol sequence, :func:`sobol_design`) rather than the
  farthest candidates, which in a cube are its corners, extreme configurations a cold design
  rarely spends a trial on. The design grows from ``n_initial`` towards a cold one's size as
  the agreement falls (:func:`design_size`). The same comparison gives the prior odds of the
  BO step's model average (:func:`prior_odds`): how often the consensus orders a pair of
  configurations as the left-out source does, over how many sources that was measured.
* After the first trials: :func:`ranking_refuted`, whether the meta-model's mean ranks the
  target's successful trials no better than chance (Spearman correlation at most 0). Then
  the rest of the portfolio, its hedge included, is dropped. A strategy with a prior mean of its own
  (:attr:`~metahp.study.TransferStrategy.ranks_without_data`) takes over at once: its trust
  rule fades the refuted prior. One that needs the target's trials to rank (RGPE's
  ensemble, which would start from Sobol points without sources) gets the rest of a cold
  start's design, up to :data:`COLD_DESIGN` trials, each the design point farthest from
  every trial so far (:func:`max_min_index`): a warm start the target refutes is a cold
  start, and should explore like one before the model takes over.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy.stats import kendalltau, qmc, rankdata, spearmanr

if TYPE_CHECKING:  # pragma: no cover
    from metahp.meta import FittedMeta

__all__ = ["COLD_DESIGN", "CONSENSUS_SOURCES", "Agreement", "source_agreement", "prior_odds", "kept_members",
           "design_size", "sobol_design", "max_min_index", "ranking_refuted"]

COLD_DESIGN = 5
"""Initial-design size of a cold study (scrambled-Sobol points), and of a refuted warm one."""

CONSENSUS_SOURCES = 20
"""Nearest source tasks whose rankings are compared (as many as the recommender orders by distance)."""

REFERENCE_POINTS = 512
"""At most this many configurations are ranked by each source for :func:`source_agreement`."""


@dataclass(frozen=True)
class Agreement:
    """How well the sources' consensus ranks a source left out of it (:func:`source_agreement`).

    Attributes:
        rho: Mean Spearman correlation of a left-out source's ranking with the others' mean
            ranking; 1 where nothing could be compared.
        concordant: Mean share of configuration pairs the consensus orders as the left-out
            source does, ``(1 + Kendall's tau_b) / 2`` (tied pairs count half); 0.5 where nothing
            could be compared.
        sources: How many left-out sources the means are over (0: none).
    """

    rho: float = 1.0
    concordant: float = 0.5
    sources: int = 0


def prior_odds(agreement: Agreement) -> float:
    """Prior odds, before any trial, that the sources' prior mean fits the target better than none.

    The BO step averages the GP with the prior mean and the GP alone by their marginal
    likelihoods (:func:`metahp.bo.prior_support`); these are the odds it starts from. The
    measured chance that the consensus orders a pair of configurations as a new task of the
    family does is :attr:`Agreement.concordant`, estimated from ``k`` left-out sources;
    Laplace's rule of succession, ``p = (k c + 1) / (k + 2)``, keeps it off 0 and 1 by as
    much as ``k`` is small. Sources whose rankings are unrelated give even odds (the target's
    trials alone decide), a consensus that ranks a left-out source well gives it a head start
    that a few trials' evidence can still overturn, and no measurement gives even odds.

    Example:
        >>> [round(prior_odds(Agreement(concordant=c, sources=k)), 2) for c, k in ((0.5, 20), (0.8, 20), (1.0, 3))]
        [1.0, 3.4, 4.0]
        >>> prior_odds(Agreement())
        1.0
    """
    k = max(0, int(agreement.sources))
    c = min(1.0, max(0.0, float(agreement.concordant)))
    p = (k * c + 1.0) / (k + 2.0)
    return p / (1.0 - p)


def source_agreement(fitted: FittedMeta, meta_features: dict[str, float], reference: np.ndarray,
                     seed: int = 0) -> Agreement:
    """How well the sources' consensus ranks a source it was not told: an estimate of its fit to a new task.

    The nearest :data:`CONSENSUS_SOURCES` source tasks each rank ``reference``; for each, the
    Spearman correlation of its ranking with the mean ranking of the others is taken, and the
    mean over them returned. Each source's view of a configuration is what it recorded there
    (:meth:`~metahp.meta.TaskSummary.scores_at`), or where it recorded nothing, the
    meta-model's prediction for that source. Sources of a family that share where good
    configurations are score high however much each one differs from its neighbour; sources
    whose rankings are unrelated score about 0, and so would the consensus on the target.

    Args:
        fitted: The meta-model fitted on the sources.
        meta_features: The target task's meta-features.
        reference: ``m x d`` unit-cube configurations to rank (the pool in pool mode); at
            most :data:`REFERENCE_POINTS` of them, drawn with ``seed``, are used.
        seed: Seed of that draw.

    Returns:
        The mean correlation ``rho`` in ``[-1, 1]`` and the mean share of pairs ordered alike,
        over the sources compared; ``Agreement()`` (``rho`` 1, no sources) where fewer than three
        sources or configurations can be compared (no evidence that they disagree: the portfolio
        stays the recommender's).
    """
    if fitted.model is None or fitted.index is None or len(fitted.tasks) < 3 or len(reference) < 3:
        return Agreement()
    ref = np.asarray(reference, dtype=float)
    if len(ref) > REFERENCE_POINTS:
        ref = ref[np.sort(np.random.default_rng(seed).choice(len(ref), REFERENCE_POINTS, replace=False))]
    order, _ = fitted.index.nearest(meta_features, CONSENSUS_SOURCES)
    if len(order) < 3:
        return Agreement()
    views = np.array([fitted.tasks[int(i)].scores_at(ref) for i in order])
    missing = ~np.isfinite(views)
    if missing.any():
        predicted = fitted.model.predict_tasks([fitted.source_meta_features(int(i)) for i in order], ref)[0]
        views = np.where(missing, predicted, views)
    views = views[np.isfinite(views).all(axis=1) & (np.ptp(views, axis=1) > 0)]
    if len(views) < 3:
        return Agreement()
    ranks = np.array([rankdata(v) for v in views])
    others = (ranks.sum(axis=0)[None, :] - ranks) / (len(ranks) - 1)
    pairs = [(float(spearmanr(v, o).statistic), float(kendalltau(v, o).statistic)) for v, o in zip(views, others)]
    pairs = [(r, t) for r, t in pairs if np.isfinite(r) and np.isfinite(t)]
    if not pairs:
        return Agreement()
    rho, tau = np.mean(pairs, axis=0)
    return Agreement(rho=float(rho), concordant=float((1.0 + tau) / 2.0), sources=len(pairs))


def kept_members(k: int, agreement: float) -> int:
    """How many of a ``k``-member portfolio to keep: the share ``agreement`` (at least the first).

    Example:
        >>> [kept_members(6, a) for a in (1.0, 0.7, 0.3, 0.0, -0.2)]
        [6, 4, 2, 1, 1]
    """
    if k <= 0:
        return 0
    return int(min(k, max(1, round(k * max(0.0, min(1.0, agreement))))))


def design_size(n_initial: int, agreement: float) -> int:
    """Trials in a warm start's initial design: ``n_initial``, growing towards a cold design's as agreement falls.

    A portfolio saves a cold start's exploration by as much as the sources' consensus is worth;
    a consensus that ranks a left-out source no better than chance saves none of it.

    Example:
        >>> [design_size(3, a) for a in (1.0, 0.6, 0.0)], design_size(8, 0.0)
        ([3, 4, 5], 8)
    """
    share = 1.0 - max(0.0, min(1.0, agreement))
    return int(n_initial + round(max(0, COLD_DESIGN - n_initial) * share))


def sobol_design(dim: int, n: int, seed: int) -> np.ndarray:
    """``2**ceil(log2(2 n))`` scrambled-Sobol points of the unit cube (``m x dim``): twice the points needed.

    Example:
        >>> sobol_design(3, 5, seed=0).shape
        (16, 3)
    """
    m = 1 << int(math.ceil(math.log2(max(2, 2 * n))))
    return np.asarray(qmc.Sobol(dim, scramble=True, seed=seed).random(m))


def max_min_index(candidates: np.ndarray, chosen: np.ndarray, tie_break: np.ndarray | None = None) -> int:
    """The candidate farthest (RMS distance in the unit cube) from its nearest chosen point.

    Args:
        candidates: ``m x d`` unit-cube points.
        chosen: ``n x d`` points already chosen (``n`` may be 0: then the first, or the
            lowest ``tie_break``).
        tie_break: ``m`` values; among equally far candidates the lowest wins (e.g. the prior mean).

    Example:
        >>> max_min_index(np.array([[0.1, 0.1], [0.5, 0.5], [0.9, 0.9]]), np.array([[0.0, 0.0]]))
        2
    """
    cand = np.asarray(candidates, dtype=float)
    taken = np.asarray(chosen, dtype=float).reshape(-1, cand.shape[1])
    if len(taken):
        gap = np.sqrt(((cand[:, None, :] - taken[None, :, :]) ** 2).mean(axis=2)).min(axis=1)
    else:
        gap = np.zeros(len(cand))
    far = np.flatnonzero(gap >= gap.max() - 1e-12)
    if tie_break is not None:
        return int(far[np.argmin(np.asarray(tie_break, dtype=float)[far])])
    return int(far[0])


def ranking_refuted(prior_mean: np.ndarray, values: np.ndarray) -> bool:
    """Whether a prior's mean ranks the target's successful trials no better than chance.

    Judged once three distinct values are observed: Spearman correlation of the prior's mean
    and the minimised values at most 0. A prior that predicts no difference between the trials
    does not rank them either.

    Example:
        >>> ranking_refuted(np.array([0.0, 1.0, 2.0]), np.array([5.0, 4.0, 3.0]))
        True
        >>> ranking_refuted(np.array([0.0, 1.0, 2.0]), np.array([3.0, 4.0, 5.0]))
        False
    """
    p = np.asarray(prior_mean, dtype=float).reshape(-1)
    y = np.asarray(values, dtype=float).reshape(-1)
    good = np.isfinite(p) & np.isfinite(y)
    p, y = p[good], y[good]
    if len(np.unique(y)) < 3:
        return False
    if np.ptp(p) == 0:
        return True
    rho = float(spearmanr(p, y).statistic)
    return bool(np.isfinite(rho) and rho <= 0.0)
