"""Pruners: whether a running trial should stop, from the values it reported so far."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:  # pragma: no cover
    from metahp.study._trial import Trial

__all__ = ["Pruner", "SuccessiveHalvingPruner"]


@runtime_checkable
class Pruner(Protocol):
    """Decides, at each :meth:`Trial.report`, whether the trial should stop.

    Contract: called under the study's lock, once per report, with the reported value
    already *minimised* (multiplied by the direction's sign); it may keep state per trial
    number; it never changes the trials.
    """

    def should_prune(self, trial: Trial, step: float, value: float, trials: Sequence[Trial]) -> bool:
        """True to stop ``trial`` now (``trials``: every trial of the study, ``trial`` among them)."""
        ...


class SuccessiveHalvingPruner:
    """Asynchronous successive halving (ASHA's rule, without brackets).

    Rung ``r`` is reached at ``base * eta**r`` steps, ``base`` being the smallest first step any
    trial reported. A trial reaching a rung is compared once with every value recorded there;
    it is stopped unless it is among the best ``1/eta`` of them (once ``eta`` values are there).

    Args:
        eta: Reduction factor.
    """

    def __init__(self, eta: int = 3) -> None:
        self.eta = eta
        self._rungs: dict[int, dict[int, float]] = {}

    def should_prune(self, trial: Trial, step: float, value: float, trials: Sequence[Trial]) -> bool:
        """Record ``value`` at the trial's current rung; True if it is not among that rung's best ``1/eta``."""
        base = _min_step(trials, step)
        rung = int(math.floor(math.log(max(step, base) / base, self.eta) + 1e-9))
        rungs = self._rungs.setdefault(trial.number, {})
        if rung in rungs:
            return False
        rungs[rung] = value
        peers = [r[rung] for r in self._rungs.values() if rung in r]
        if len(peers) < self.eta:
            return False
        keep = max(1, len(peers) // self.eta)
        return value > sorted(peers)[keep - 1]


def _min_step(trials: Sequence[Trial], step: float) -> float:
    first = [t.curve[0][0] for t in trials if t.curve and t.curve[0][0] > 0]
    return max(min(first) if first else step, 1e-12)
