"""Transfer strategies: how the knowledge base shapes a study's model-based proposals.

A :class:`~metahp.Study` runs its initial design itself (enqueued trials, the recommender's
portfolio, Sobol points); every later proposal is a :class:`TransferStrategy`'s choice among
candidates the study hands it in a :class:`Step`. Two ship:

* :class:`PriorTransfer` (``transfer="prior"``, the default): a GP on the target's trials
  whose prior mean is the meta-model's prediction, weighted by measured trust
  (:func:`metahp.bo.propose`). Without sources it is plain GP-BO.
* :class:`RGPETransfer` (``transfer="rgpe"``): a ranking-weighted ensemble of one GP per
  source task and the target's GP (:class:`metahp.bo.RGPE`).

An experiment plugs in a variant by passing an instance: ``Study(..., transfer=MyStrategy())``,
or a :class:`PriorTransfer` with another ``step`` (the BO step function), ``trust`` rule or
outcome floor. A strategy instance serves one study (it keeps the step's GP state).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np
from scipy.stats import qmc

from metahp.bo import RGPE, MetaModelPrior, Prior, SourceData, TrustRule, prior_weight, propose, refit_due
from metahp.bo import standardize_prior as _standardize
from metahp.errors import MetaHPError
from metahp.space import SearchSpace

if TYPE_CHECKING:  # pragma: no cover
    from metahp.meta import FittedMeta

__all__ = ["TransferStrategy", "Sources", "Start", "Step", "StepFunction", "PriorTransfer", "RGPETransfer",
           "make_strategy", "TRANSFERS"]


@dataclass(frozen=True)
class Sources:
    """What the knowledge base offers at the warm start.

    Attributes:
        fitted: The meta-model fitted on the source tasks (:func:`metahp.meta.fit_meta`),
            with the sources' observations (``fitted.tasks``).
        meta_features: The target task's meta-features.
        prior_odds: Odds, before any trial, that the meta-model's prior mean fits the target
            better than none (:func:`~metahp.study._design.prior_odds`, from how well the
            sources' consensus ranks a left-out source; 1: not measured, even odds).
    """

    fitted: FittedMeta
    meta_features: dict[str, float]
    prior_odds: float = 1.0


@dataclass(frozen=True)
class Start:
    """What a strategy is started with, once per study (before its first model-based proposal).

    Attributes:
        space: The study's space.
        seed: The study's seed.
        pool: Pool mode: the ``n x d`` unit-cube encodings of every candidate; None otherwise.
        sources: The knowledge base's contribution, or None for a cold start.
    """

    space: SearchSpace
    seed: int
    pool: np.ndarray | None = None
    sources: Sources | None = None


@dataclass(frozen=True)
class Step:
    """One model-based proposal: the finished trials and the candidates to choose among.

    Attributes:
        X: ``n x d`` unit-cube points of the finished trials.
        values: ``n`` minimised values (NaN where none).
        ok: ``n`` mask of trials with a usable value.
        candidates: ``m x d`` unit-cube points; the strategy returns an index into them.
        rng: The study's random stream for this trial.
        rows: Pool mode: the pool row of each candidate (the free rows, increasing).
        observed_rows: Pool mode: the pool row of each finished trial, where every one is
            a pool member; None otherwise.
    """

    X: np.ndarray
    values: np.ndarray
    ok: np.ndarray
    candidates: np.ndarray
    rng: np.random.Generator
    rows: np.ndarray | None = None
    observed_rows: np.ndarray | None = None


@runtime_checkable
class TransferStrategy(Protocol):
    """How a study turns its trials (and the knowledge base) into its next configuration.

    Contract:
        * :meth:`start` is called once, before any other method, with the sources (or None:
          the strategy must then still propose, as a cold search).
        * :meth:`propose` returns an index into ``step.candidates``; it is called only when
          at least one trial has finished, or when :attr:`ranks_without_data` is True.
        * The same trials and the same seed give the same proposals.
        * :attr:`name` is what a persisted study records (``Study.load`` rebuilds the
          shipped strategies from it); :attr:`origin` labels the trials it proposes.
    """

    name: str

    @property
    def origin(self) -> str:
        """Label of the trials this strategy proposes (``Trial.origin``)."""
        ...

    @property
    def ranks_without_data(self) -> bool:
        """Whether it can rank candidates before any trial finished (a prior mean); else Sobol points come first."""
        ...

    def start(self, start: Start) -> None:
        """Learn from the sources (if any), once."""
        ...

    def sources_refuted(self, X: np.ndarray, values: np.ndarray) -> bool:
        """Whether the successful trials contradict the sources so clearly that the portfolio should stop.

        ``X`` and the minimised ``values`` are the target's successful trials (three or more).
        """
        ...

    def propose(self, step: Step) -> int:
        """The index of the next configuration among ``step.candidates``."""
        ...


class StepFunction(Protocol):
    """The BO step :class:`PriorTransfer` calls: :func:`metahp.bo.propose`'s signature."""

    def __call__(self, space: SearchSpace, X: np.ndarray, values: np.ndarray, ok: np.ndarray, *,
                 candidates: np.ndarray, prior_obs: np.ndarray | None = None, prior_cand: np.ndarray | None = None,
                 init_state: dict | None = None, own_state: dict | None = None, optimize: bool = True,
                 trust: TrustRule | None = None, min_scale: float = 0.0,
                 prior_odds: float = 1.0) -> tuple[int, np.ndarray, Any]: ...


@dataclass
class PriorTransfer:
    """GP-BO on the target's trials with the meta-model as prior mean (plain GP-BO without one).

    The prior mean is standardised over the pool (pool mode) or over 1,024 scrambled-Sobol
    points of the space, and weighted in each step by ``trust`` (default
    :func:`metahp.bo.measured_trust`). Hyperparameters are re-optimised as
    :func:`metahp.bo.refit_due` says, otherwise reused.

    Args:
        prior: A fixed prior (a user's); None: the meta-model of the sources, if any.
        step: The BO step (default :func:`metahp.bo.propose`); a variant wraps or replaces it.
        trust: How the step weighs the prior (default :func:`metahp.bo.measured_trust`).
        min_scale: Outcome-standardisation floor of every GP the step fits (0: BoTorch's default).
    """

    prior: Prior | None = None
    step: StepFunction = propose
    trust: TrustRule | None = None
    min_scale: float = 0.0
    name: str = "prior"
    origin: str = "gp"
    space: SearchSpace | None = field(default=None, init=False, repr=False)
    pool: np.ndarray | None = field(default=None, init=False, repr=False)
    prior_scale: tuple[float, float] | None = field(default=None, init=False, repr=False)
    _gp_state: dict | None = field(default=None, init=False, repr=False)
    _own_state: dict | None = field(default=None, init=False, repr=False)
    _fitted_at: int | None = field(default=None, init=False, repr=False)
    _pool_prior: np.ndarray | None = field(default=None, init=False, repr=False)
    _prior_odds: float = field(default=1.0, init=False, repr=False)

    @property
    def ranks_without_data(self) -> bool:
        """True with a prior: its best candidate is the first model-based trial."""
        return self.prior is not None

    def start(self, start: Start) -> None:
        """Take the sources' meta-model as prior, with their measured odds (unless a prior was given: even odds)."""
        self.space, self.pool = start.space, start.pool
        if self.prior is None and start.sources is not None and start.sources.fitted.model is not None:
            self.prior = MetaModelPrior(start.sources.fitted.model, start.sources.meta_features, start.space)
            self._prior_odds = start.sources.prior_odds

    def refit(self) -> None:
        """Re-optimise the GP hyperparameters at the next step, whatever :func:`~metahp.bo.refit_due` says."""
        self._fitted_at = 1

    def sources_refuted(self, X: np.ndarray, values: np.ndarray) -> bool:
        """Whether the prior ranks the trials so badly that its weight is zero."""
        if self.prior is None:
            return False
        mean, _ = self.prior(X)
        return prior_weight(mean, values) == 0.0

    def standardized_prior(self, X: np.ndarray) -> np.ndarray:
        """The prior mean at ``X``, standardised over the fixed reference set (see the class)."""
        assert self.prior is not None and self.space is not None
        if self.prior_scale is None:
            ref = self.pool if self.pool is not None else self.space.snap(
                qmc.Sobol(self.space.dim, scramble=True, seed=12345).random(1024))
            self.prior_scale = _standardize(self.prior, ref)
        mu, sd = self.prior_scale
        mean, _ = self.prior(X)
        return (mean - mu) / sd

    def propose(self, step: Step) -> int:
        """The candidate of highest LogEI (the prior's best before any trial finished)."""
        assert self.space is not None
        X, values, ok, cand = step.X, step.values, step.ok, step.candidates
        prior_obs = prior_cand = None
        if self.prior is not None:
            if step.rows is not None:
                if self._pool_prior is None:
                    assert self.pool is not None
                    self._pool_prior = self.standardized_prior(self.pool)
                prior_cand = self._pool_prior[step.rows]
                # Trials picked from the pool reuse its prior values instead of another prediction.
                if step.observed_rows is not None:
                    prior_obs = self._pool_prior[step.observed_rows]
            else:
                prior_cand = self.standardized_prior(cand)
            if prior_obs is None:
                prior_obs = self.standardized_prior(X) if len(X) else np.zeros(0)
        if len(X) == 0:
            assert prior_cand is not None
            return int(np.argmin(prior_cand))
        optimize = self._gp_state is None or refit_due(len(X), self._fitted_at)
        idx, scores, fitted = self.step(self.space, X, values, ok, candidates=cand, prior_obs=prior_obs,
                                        prior_cand=prior_cand, init_state=self._gp_state, own_state=self._own_state,
                                        optimize=optimize, trust=self.trust, min_scale=self.min_scale,
                                        prior_odds=self._prior_odds)
        self._gp_state = fitted.model.state_dict()  # type: ignore[attr-defined]
        if fitted.own is not None:
            self._own_state = fitted.own.state_dict()  # type: ignore[attr-defined]
        if optimize:
            self._fitted_at = len(X)
        finite = scores[np.isfinite(scores)]
        if finite.size == 0 or np.ptp(finite) == 0:
            idx = int(step.rng.integers(len(cand)))
        return int(idx)


@dataclass
class RGPETransfer:
    """RGPE: a ranking-weighted ensemble of one GP per source task and the target's GP.

    Without sources (a cold start, or a knowledge base that gave none) it proposes as
    :class:`PriorTransfer` without a prior does.

    Attributes:
        rgpe: The ensemble (after :meth:`start` with sources), e.g. for its ``weights``.
    """

    name: str = "rgpe"
    rgpe: RGPE | None = field(default=None, init=False)
    pool: np.ndarray | None = field(default=None, init=False, repr=False)
    _cold: PriorTransfer | None = field(default=None, init=False, repr=False)

    @property
    def origin(self) -> str:
        """``rgpe``, or ``gp`` while it runs as a cold search."""
        return "rgpe" if self.rgpe is not None else "gp"

    @property
    def ranks_without_data(self) -> bool:
        """False: the ensemble needs the target's trials for its weights."""
        return False

    def start(self, start: Start) -> None:
        """Build the ensemble from the sources' observations."""
        self.pool = start.pool
        if start.sources is None:
            self._cold = PriorTransfer()
            self._cold.start(start)
            return
        sources = [SourceData(t.name, t.observed, t.observed_score) for t in start.sources.fitted.tasks
                   if t.observed.size]
        self.rgpe = RGPE(start.space, sources, seed=start.seed)

    def sources_refuted(self, X: np.ndarray, values: np.ndarray) -> bool:
        """Never: the ensemble's weights already judge the sources."""
        return False

    def propose(self, step: Step) -> int:
        """The candidate of highest LogEI under the ensemble."""
        if self.rgpe is None:
            assert self._cold is not None
            return self._cold.propose(step)
        self.rgpe.fit(step.X, step.values, step.ok, step=len(step.X))
        if step.rows is not None and self.pool is not None:
            # Scored on the whole pool (source predictions there are computed once), picked among the free.
            scores = self.rgpe.log_ei(self.pool)[step.rows]
        else:
            scores = self.rgpe.log_ei(step.candidates)
        return int(np.argmax(np.where(np.isfinite(scores), scores, -np.inf)))


TRANSFERS = {"prior": PriorTransfer, "rgpe": RGPETransfer}
"""The shipped strategies by name (``Study(transfer=name)``)."""


def make_strategy(transfer: str | TransferStrategy, prior: Prior | None = None) -> TransferStrategy:
    """The strategy a study runs: a shipped one by name, or the given instance.

    Raises:
        MetaHPError: An unknown name, an object that is not a :class:`TransferStrategy`, or a
            ``prior`` together with a strategy other than ``"prior"``.
    """
    if isinstance(transfer, str):
        if transfer not in TRANSFERS:
            raise MetaHPError(f"transfer must be 'prior' or 'rgpe' (or a TransferStrategy), got {transfer!r}")
        if prior is not None:
            if transfer != "prior":
                raise MetaHPError("a prior= is used by transfer='prior' only; leave transfer at its default")
            return PriorTransfer(prior=prior)
        strategy: TransferStrategy = TRANSFERS[transfer]()
        return strategy
    if not isinstance(transfer, TransferStrategy):
        raise MetaHPError(f"transfer must be 'prior', 'rgpe' or a metahp.study.TransferStrategy, got {transfer!r}")
    if prior is not None:
        raise MetaHPError("pass the prior to the strategy itself (e.g. PriorTransfer(prior=...)), not to Study")
    return transfer
