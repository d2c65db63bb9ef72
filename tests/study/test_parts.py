"""The parts behind the Study facade: a transfer strategy passed in, the trust rule hook, the pruner, the vocabulary."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pytest

import metahp
from metahp import Float, SearchSpace
from metahp.bo import CallablePrior
from metahp.errors import InvalidConfigError, MetaHPError
from metahp.study import PriorTransfer, Start, Step, Study, SuccessiveHalvingPruner, TransferStrategy, Trial
from metahp.types import STATUSES, Direction, Status, sign

SPACE = SearchSpace([Float("x", 0.0, 1.0), Float("y", 0.0, 1.0)])


@dataclass
class NearestTo:
    """A strategy an experiment might pass in: always the candidate nearest a fixed point."""

    point: tuple[float, float]
    name: str = "nearest"
    origin: str = "nearest"
    ranks_without_data: bool = False  # so the initial design is Sobol points
    starts: list[Start] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)

    def start(self, start: Start) -> None:
        self.starts.append(start)

    def sources_refuted(self, X: np.ndarray, values: np.ndarray) -> bool:
        return False

    def propose(self, step: Step) -> int:
        self.steps.append(step)
        return int(np.argmin(((step.candidates - np.asarray(self.point)) ** 2).sum(axis=1)))


def test_a_strategy_passed_in_makes_every_proposal_after_the_initial_design() -> None:
    grid = [{"x": x, "y": y} for x in np.linspace(0, 1, 5) for y in np.linspace(0, 1, 5)]
    strategy = NearestTo((0.9, 0.1))
    assert isinstance(strategy, TransferStrategy)
    study = Study(SPACE, candidates=grid, seed=0, n_initial=2, transfer=strategy)
    for _ in range(5):
        trial = study.ask()
        study.tell(trial, trial["x"] + trial["y"])
    assert [t.origin for t in study.trials] == ["sobol", "sobol", "nearest", "nearest", "nearest"]
    # Started once, cold (no knowledge base), with the encoded pool; each step sees the free rows only.
    assert len(strategy.starts) == 1 and strategy.starts[0].sources is None
    assert strategy.starts[0].pool is not None and strategy.starts[0].pool.shape == (25, 2)
    first = strategy.steps[0]
    assert first.rows is not None and len(first.rows) == 23 and first.observed_rows is not None
    assert study.trials[2].config == {"x": 1.0, "y": 0.0}  # the pool member nearest (0.9, 0.1)
    assert len({t.candidate for t in study.trials}) == 5  # never the same candidate twice
    assert study.transfer == "nearest"


def test_bad_strategies_are_refused() -> None:
    with pytest.raises(MetaHPError, match="TransferStrategy"):
        Study(SPACE, transfer=object())  # type: ignore[arg-type]
    with pytest.raises(MetaHPError, match="transfer='prior' only"):
        Study(SPACE, transfer="rgpe", prior=CallablePrior(lambda X: X.sum(axis=1)))


def test_the_trust_rule_is_a_parameter_of_the_prior_strategy() -> None:
    calls: list[int] = []

    def half(features, y, good, prior_obs, *, own_state, init_state, optimize, min_scale):  # type: ignore[no-untyped-def]
        calls.append(len(y))
        return 0.5, None

    prior = CallablePrior(lambda X: ((X - 0.3) ** 2).sum(axis=1))
    study = Study(SPACE, seed=0, n_initial=0, transfer=PriorTransfer(prior=prior, trust=half))
    study.optimize(lambda t: (t["x"] - 0.3) ** 2 + (t["y"] - 0.3) ** 2, n_trials=4, progress=False)
    assert study.trials[0].origin == "gp" and calls == [1, 2, 3]
    # With a prior and no portfolio the first trial is the prior's best candidate.
    assert abs(study.trials[0]["x"] - 0.3) < 0.1 and abs(study.trials[0]["y"] - 0.3) < 0.1


def test_successive_halving_stops_all_but_the_best_third_at_a_rung() -> None:
    pruner = SuccessiveHalvingPruner(eta=3)
    trials = [Trial(None, i, {"x": 0.5}) for i in range(4)]
    for t in trials:
        t.curve.append([1.0, 0.0])
    # Rung 0: the first two are never compared; the third and fourth are, against the best third.
    assert [pruner.should_prune(t, 1.0, v, trials) for t, v in zip(trials, [0.5, 0.1, 0.9, 0.05])] == [
        False, False, True, False]
    assert not pruner.should_prune(trials[2], 1.0, 0.9, trials)  # a rung is judged once per trial


def test_one_vocabulary_of_statuses_directions_and_pruning() -> None:
    assert STATUSES == ("ok", "failed", "diverged", "pruned") and Status.OK == "ok"
    assert sign("minimize") == 1.0 and sign("maximize") == -1.0 and Direction.MAXIMIZE.sign == -1.0
    with pytest.raises(InvalidConfigError, match="direction"):
        sign("up")
    from metahp.runner import Pruned

    assert Pruned is metahp.TrialPruned is metahp.study.TrialPruned
