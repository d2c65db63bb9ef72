"""Bayesian optimisation for metahp: GP on the target's trials with a meta-model prior mean.

The step is a BoTorch-style pipeline (data -> fitted model -> acquisition -> best
candidate); the search state lives in :class:`metahp.Study`, not here.
"""

from __future__ import annotations

from metahp.bo._encoding import FeatureMap, decode_frame, encode_frame, snap
from metahp.bo._evidence import log_evidence, prior_support
from metahp.bo._gp import (
    FittedGP,
    TrustRule,
    candidate_points,
    fit_gp,
    impute_broken,
    log_ei,
    measured_trust,
    propose,
    refit_due,
    single_thread,
    standardize_prior,
)
from metahp.bo._prior import PRIOR_PSEUDO_COUNT, CallablePrior, MetaModelPrior, Prior, copula, prior_weight
from metahp.bo._ranking import misranked, ranking_trust
from metahp.bo._rgpe import RGPE, SourceData, ranking_weights

__all__ = [
    "FeatureMap",
    "decode_frame",
    "encode_frame",
    "snap",
    "FittedGP",
    "candidate_points",
    "fit_gp",
    "impute_broken",
    "log_ei",
    "measured_trust",
    "propose",
    "refit_due",
    "single_thread",
    "standardize_prior",
    "TrustRule",
    "PRIOR_PSEUDO_COUNT",
    "CallablePrior",
    "MetaModelPrior",
    "Prior",
    "copula",
    "prior_weight",
    "misranked",
    "ranking_trust",
    "log_evidence",
    "prior_support",
    "RGPE",
    "SourceData",
    "ranking_weights",
]
