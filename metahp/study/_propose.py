"""The initial design of a study (queue, portfolio, Sobol points), then its transfer strategy's proposals."""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.stats import qmc

from metahp.bo import MetaModelPrior, candidate_points, impute_broken
from metahp.errors import MetaHPError
from metahp.study._design import COLD_DESIGN, design_size, max_min_index, ranking_refuted, sobol_design
from metahp.study._strategy import Start, Step
from metahp.study._trial import Trial
from metahp.study._warm import WarmStart, warm_start
from metahp.task import resolve_task

if TYPE_CHECKING:  # pragma: no cover
    from metahp.study._study import Study

__all__ = ["Proposer"]

logger = logging.getLogger("metahp.study")


class Proposer:
    """Chooses each asked trial's configuration (the study's sampler, in Optuna's terms).

    Contract: queued configurations first; then the initial design (the first ``n_initial``
    trials, and a warm start's portfolio while the finished trials tie, at most ``2 *
    n_initial``, or more where the sources' consensus is weak): the portfolio while the
    target's trials do not refute it, with the cold design's points that hedge it, else Sobol
    points when the strategy cannot rank without data. Refuted (the strategy says so, or the
    meta-model's mean ranks the successful trials no better than chance:
    :func:`~metahp.study._design.ranking_refuted`), the rest of the portfolio is dropped; a
    strategy that cannot rank without data then gets the rest of a cold design, space-filling
    points (each the design point farthest from every trial) up to ``max(n_initial,
    COLD_DESIGN)`` trials, one with a prior mean proposes at once. Then every proposal is the
    transfer strategy's
    choice among the free pool members or, in continuous mode, among scrambled-Sobol points
    and perturbations of the best trials away from the taken ones. The warm start (the
    sources and the portfolio) is built once, at the first proposal. Called under the
    study's lock.

    Args:
        study: The study it proposes for.
    """

    def __init__(self, study: Study) -> None:
        self.study = study
        self.warm: WarmStart | None = None
        self._prior: MetaModelPrior | None = None

    def propose(self, rng: np.random.Generator) -> tuple[dict[str, Any], str, int | None]:
        """The next configuration, why it was chosen (the trial's origin) and its pool row (or None).

        Raises:
            MetaHPError: Pool mode and every candidate is taken.
        """
        study = self.study
        if study._queue:
            config = study._queue.pop(0)
            return config, "enqueued", study.pool.match(config) if study.pool else None
        if study.pool is not None and study.pool.exhausted:
            raise MetaHPError(f"every one of the {len(study.pool)} candidates has been evaluated or is running; "
                              "the pool is exhausted")
        warm = self._warm_start()
        finished = [t for t in study.trials if t.status != "running"]
        # The initial design fills the first n_initial trials, whatever their origin.
        n_auto = sum(1 for t in study.trials if t.origin in ("portfolio", "sobol"))
        cold = not study.strategy.ranks_without_data
        refuted = self._sources_refuted(warm)
        if refuted and cold and len(study.trials) < max(study.n_initial, COLD_DESIGN):
            return self._space_filling_point()
        if self._initial_design_pending(finished, warm):
            if warm.portfolio and not refuted:
                return self._in_pool(warm.portfolio.pop(0), "portfolio")
            if warm.hedge and not refuted:
                return self._in_pool(warm.hedge.pop(0), "sobol")
            if cold and not refuted:
                return self._sobol_point(n_auto)
        if not finished and cold:
            return self._sobol_point(n_auto)
        X, values, ok = self._observations(finished)
        if study.pool is not None:
            free = study.pool.free()
            at = [t.candidate for t in finished]
            observed = np.asarray(at, dtype=int) if all(i is not None for i in at) else None
            step = Step(X, values, ok, study.pool.unit[free], rng, rows=free, observed_rows=observed)
            row = int(free[study.strategy.propose(step)])
            return study.pool.config(row), study.strategy.origin, row
        order = np.argsort(np.where(ok, values, np.inf))[:5] if len(values) else np.zeros(0, dtype=int)
        cand = self._drop_near_taken(candidate_points(study.space, rng, X[order]))
        idx = study.strategy.propose(Step(X, values, ok, cand, rng))
        return study.space.decode(cand[idx]), study.strategy.origin, None

    def _in_pool(self, config: dict[str, Any], origin: str) -> tuple[dict[str, Any], str, int | None]:
        """A design point as the trial: in pool mode, the free candidate nearest to it."""
        study = self.study
        if study.pool is None:
            return config, origin, None
        row = study.pool.nearest_free(study.space.encode(config)[None, :])
        return study.pool.config(row), origin, row

    def _initial_design_pending(self, finished: list[Trial], warm: WarmStart) -> bool:
        """Whether the next trial still belongs to the initial design (portfolio or Sobol points).

        It holds the first ``n_initial`` trials, more where the sources' consensus is weak
        (:func:`~metahp.study._design.design_size`). A warm start's portfolio also goes on, up to
        ``2 * n_initial`` trials, while the finished trials show fewer than ``n_initial``
        distinct values: a trial that ties an earlier one (broken trials all count as one
        value) tells the rank-based GP nothing new, so the next hedge is worth more.
        """
        study = self.study
        designed = warm.portfolio or warm.hedge
        if len(study.trials) < (design_size(study.n_initial, warm.agreement) if designed else study.n_initial):
            return True
        if not designed or len(study.trials) >= 2 * study.n_initial or not finished:
            return False
        values, ok = self._values(finished)
        return len(np.unique(impute_broken(values, ok))) < study.n_initial

    def _sources_refuted(self, warm: WarmStart) -> bool:
        """Whether the successful trials refute the sources; asked only while the initial design may run."""
        study = self.study
        done = [t for t in study.trials if t.status == "ok" and t.value is not None]
        if len(done) < 3 or len(study.trials) >= max(2 * study.n_initial, COLD_DESIGN):
            return False
        X = study.space.encode_many([t.config for t in done])
        values = self._values(done)[0]
        if warm.sources is not None and warm.sources.fitted.model is not None:
            if self._prior is None:
                self._prior = MetaModelPrior(warm.sources.fitted.model, warm.sources.meta_features, study.space)
            if ranking_refuted(self._prior(X)[0], values):
                return True
        return study.strategy.sources_refuted(X, values)

    def _space_filling_point(self) -> tuple[dict[str, Any], str, int | None]:
        """The point of a cold design (:func:`~metahp.study._design.sobol_design`) farthest from every trial.

        In pool mode each design point stands for its nearest free pool member.
        """
        study = self.study
        taken = study.space.encode_many([t.config for t in study.trials])
        design = sobol_design(study.space.dim, max(study.n_initial, COLD_DESIGN), study.seed)
        if study.pool is not None:
            rows = np.unique([study.pool.nearest_free(u) for u in design])
            row = int(rows[max_min_index(study.pool.unit[rows], taken)])
            return study.pool.config(row), "sobol", row
        cand = study.space.snap(design)
        return study.space.decode(cand[max_min_index(cand, taken)]), "sobol", None

    def _sobol_point(self, k: int) -> tuple[dict[str, Any], str, int | None]:
        study = self.study
        n = max(study.n_initial, k + 1)
        points = qmc.Sobol(study.space.dim, scramble=True, seed=study.seed).random(1 << int(math.ceil(math.log2(n))))
        u = points[k % len(points)][None, :]
        if study.pool is not None:
            row = study.pool.nearest_free(u)
            return study.pool.config(row), "sobol", row
        return study.space.decode(study.space.snap(u)[0]), "sobol", None

    def _warm_start(self) -> WarmStart:
        study = self.study
        if self.warm is None:
            warm = WarmStart(note="user prior" if study._user_prior else "cold start")
            if study.warm_start:
                assert study.kb is not None
                own = study.task_name
                exclude = [*study.exclude, *([own] if own and study.kb.has_task(own) else [])]
                warm = warm_start(study.kb, resolve_task(study.task, study.kb), study.space, exclude=exclude,
                                  model=study.model, seed=study.seed, portfolio_size=2 * study.n_initial,
                                  pool=study.pool.frame if study.pool is not None else None, label=study.transfer)
            logger.info("study %s: %s", study.name or "(in memory)", warm.note)
            pool = study.pool.unit if study.pool is not None else None
            study.strategy.start(Start(study.space, study.seed, pool, warm.sources))
            done = {repr(sorted(t.config.items())) for t in study.trials}
            warm.portfolio = [c for c in warm.portfolio if repr(sorted(c.items())) not in done]
            warm.hedge = [c for c in warm.hedge if repr(sorted(c.items())) not in done]
            self.warm = warm
        return self.warm

    def _observations(self, finished: list[Trial]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Encoded points (``n x d``), minimised values (NaN where none) and the usable-value mask."""
        study = self.study
        X = study.space.encode_many([t.config for t in finished]) if finished else np.zeros((0, study.space.dim))
        return (X, *self._values(finished))

    def _values(self, finished: list[Trial]) -> tuple[np.ndarray, np.ndarray]:
        """Minimised values (NaN where none) and the usable-value mask."""
        study = self.study
        values = np.array([study._sign * t.value if t.value is not None else np.nan for t in finished], dtype=float)
        ok = np.array([t.status == "ok" and t.value is not None for t in finished], dtype=bool)
        return values, ok

    def _drop_near_taken(self, cand: np.ndarray) -> np.ndarray:
        study = self.study
        if not study.trials:
            return cand
        T = study.space.encode_many([t.config for t in study.trials])
        running = np.array([t.status == "running" for t in study.trials])
        # Exact repeats are never useful; pending points also keep their neighbourhood free so that
        # parallel workers do not all evaluate the same spot.
        radius = np.where(running, 0.05, 1e-6)[None, :]
        dist = np.sqrt(((cand[:, None, :] - T[None, :, :]) ** 2).mean(axis=2))
        keep = ~(dist < radius).any(axis=1)
        return cand[keep] if keep.any() else cand

