"""metahp's own methods: the cold GP-BO baseline, zero-shot portfolios and the warm-started Study."""

from __future__ import annotations

import warnings
from typing import Any

from metahp.bench._method import Method, register_method
from metahp.bench._problem import PoolProblem, Suite, TaskPool
from metahp.errors import MetaHPError
from metahp.kb import KnowledgeBase
from metahp.recommender import recommend

__all__ = ["StudyGP", "MetaHPZeroShot", "MetaHPStudy", "MetaHPRGPE"]


def _open_kb(suite: Suite) -> Any:
    if suite.kb_path is None:
        raise MetaHPError(f"suite {suite.name!r} has no knowledge base; build it with load_suites() or pass --kb")
    return KnowledgeBase(suite.kb_path)


def _run_study(problem: PoolProblem, study: Any) -> None:
    while problem.remaining > 0:
        trial = study.ask()
        if trial.candidate is None:
            raise MetaHPError("a pool-mode Study returned a configuration outside its candidates")
        study.tell(trial, problem.evaluate(int(trial.candidate)))


class StudyGP(Method):
    """Cold-start GP-BO: metahp's ``Study`` without a knowledge base (5 Sobol points, BoTorch GP + LogEI)."""

    name = "gp"
    note = "metahp.Study without knowledge base, pool mode: 5 scrambled Sobol points, then BoTorch GP + LogEI"

    def prepare(self, suite: Suite, target: TaskPool) -> Any:
        """Keep the suite's space."""
        return {"space": suite.space}

    def search(self, problem: PoolProblem, state: Any, seed: int) -> None:
        """Run a cold pool-mode Study."""
        from metahp.study import Study  # SciPy/BoTorch: the baselines and `bench summary` do without

        study = Study(state["space"], candidates=problem.pool.frame, seed=seed % 2**31)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _run_study(problem, study)


class MetaHPZeroShot(Method):
    """metahp's zero-shot portfolio (``metahp.recommend``, k = budget), evaluated in order without feedback."""

    name = "metahp-zs"
    note = ("metahp.recommend(k=budget, model='lgbm', exclude=[target]) in order, each snapped to the nearest "
            "free pool member")

    def __init__(self, budget: int = 50) -> None:
        self.budget = budget

    def prepare(self, suite: Suite, target: TaskPool) -> Any:
        """Ask the recommender once per target: it is deterministic and takes no feedback."""
        k = min(self.budget, target.size)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            recs = recommend(target.name, space=suite.space, k=k, kb=_open_kb(suite), exclude=[target.name],
                             candidates=target.frame)
        return {"portfolio": [suite.space.encode(r.config) for r in recs]}

    def search(self, problem: PoolProblem, state: Any, seed: int) -> None:
        """Evaluate the portfolio; should it be short, continue at random."""
        problem.evaluate_portfolio(state["portfolio"], seed)


class MetaHPStudy(Method):
    """metahp's warm-started ``Study`` in pool mode (meta-model prior + BoTorch on the target's trials)."""

    name = "metahp"
    note = ("metahp.Study(task=target, kb, exclude=[target], candidates=pool): recommender portfolio, then GP "
            "with the meta-model as prior mean")

    def prepare(self, suite: Suite, target: TaskPool) -> Any:
        """Fit the leave-one-out meta-model once (the studies of every seed load it from the cache)."""
        from metahp.meta import fit_meta  # scikit-learn/LightGBM: the baselines and `bench summary` do without

        kb = _open_kb(suite)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit_meta(kb, "lgbm", exclude=[target.name], space=suite.space)
        return {"space": suite.space, "kb": kb, "task": target.name}

    transfer = "prior"

    def search(self, problem: PoolProblem, state: Any, seed: int) -> None:
        """Run the warm-started pool-mode Study."""
        from metahp.study import Study  # SciPy/BoTorch: the baselines and `bench summary` do without

        study = Study(state["space"], task=state["task"], kb=state["kb"], exclude=[state["task"]],
                      candidates=problem.pool.frame, seed=seed % 2**31, transfer=self.transfer)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _run_study(problem, study)


class MetaHPRGPE(MetaHPStudy):
    """metahp's ``Study(transfer="rgpe")``: the same portfolio, then the RGPE ensemble of source-task GPs."""

    name = "metahp-rgpe"
    note = ("metahp.Study(..., transfer='rgpe'): recommender portfolio, then a ranking-weighted ensemble of "
            "one GP per source task and the target's GP (Feurer et al. 2018)")
    transfer = "rgpe"


register_method(StudyGP())
register_method(MetaHPZeroShot())
register_method(MetaHPStudy())
register_method(MetaHPRGPE())
