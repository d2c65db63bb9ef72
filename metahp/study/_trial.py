"""A trial of a study, and how a reported outcome becomes its value and status."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from metahp.errors import InvalidObjectiveError
from metahp.types import STATUSES, Status

if TYPE_CHECKING:  # pragma: no cover
    from metahp.study._study import Study

__all__ = ["Trial", "outcome"]


class Trial(Mapping[str, Any]):
    """One proposed configuration and what became of it; a read-only mapping of the configuration.

    Attributes:
        number: Position in the study (0, 1, ...).
        config: The configuration to evaluate.
        seed: A seed for the training run (the study's seed plus ``number``).
        origin: Why it was proposed: ``enqueued``, ``portfolio``, ``sobol``, ``external`` or
            the transfer strategy's label (``gp``, ``rgpe``, ...).
        candidate: In pool mode, the row of the candidates it is (None otherwise).
        status: ``running`` until told, then one of :data:`metahp.types.STATUSES`.
        value: The reported objective, in the study's direction (None if failed).
        curve: Intermediate ``[step, value]`` pairs from :meth:`report`.
    """

    def __init__(self, study: Study | None, number: int, config: dict[str, Any], *, origin: str = "gp",
                 candidate: int | None = None, seed: int = 0) -> None:
        self._study = study
        self.number = number
        self.config = config
        self.origin = origin
        self.candidate = candidate
        self.seed = seed
        self.status = "running"
        self.value: float | None = None
        self.curve: list[list[float]] = []
        self.datetime_start = datetime.now(UTC)
        self.datetime_complete: datetime | None = None

    @property
    def params(self) -> dict[str, Any]:
        """Alias of :attr:`config` (Optuna's name)."""
        return self.config

    @property
    def duration(self) -> float | None:
        """Seconds between ask and tell."""
        if self.datetime_complete is None:
            return None
        return (self.datetime_complete - self.datetime_start).total_seconds()

    def __getitem__(self, name: str) -> Any:
        return self.config[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.config)

    def __len__(self) -> int:
        return len(self.config)

    def __repr__(self) -> str:
        return f"Trial(number={self.number}, status={self.status!r}, value={self.value!r}, config={self.config!r})"

    def report(self, step: int | float, value: float) -> bool:
        """Record an intermediate value; True means stop this trial now (the study's pruner says so).

        Only studies created with ``prune=True`` (or a pruner) ever answer True.

        Args:
            step: Training step (or epoch) the value was measured at; increasing.
            value: The objective at that step, in the study's direction.
        """
        v, at = _as_float(value, f"the value reported by trial {self.number}"), _as_float(step, "a report's step")
        self.curve.append([at, v])
        if self._study is None:
            return False
        return self._study._should_prune(self, at, v)


def _is_number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float, np.integer, np.floating))


def _as_float(value: Any, what: str) -> float:
    """``value`` as a float (NaN and infinities pass); a typed error for non-numbers and ints beyond a float."""
    if not _is_number(value):
        raise InvalidObjectiveError(f"{what} must be a number, got {value!r} ({type(value).__name__})")
    try:
        return float(value)
    except OverflowError as exc:
        raise InvalidObjectiveError(f"{what} is too large for a float ({str(value)[:20]}... with {len(str(value))} "
                                    "digits); report it in other units, or as inf if the run diverged") from exc


def outcome(trial: Trial, value: Any, status: str) -> tuple[float | None, str]:
    """The value and status a trial is finished with, from what :meth:`Study.tell` was given.

    A runner ``TrialResult`` (anything with ``objective``) gives its objective, status and
    curve (the curve is stored on ``trial``). None or a non-finite value with status ``ok``
    becomes ``failed`` / ``diverged``; a pruned trial without a value keeps its last finite
    reported one (none if every report was NaN or infinite).

    Raises:
        InvalidObjectiveError: A value that is not a number, or an unknown status.
    """
    if value is not None and not _is_number(value) and hasattr(value, "objective"):
        curve = getattr(value, "curve", None)
        if curve:
            trial.curve = [[float(s), float(v)] for s, v in curve]
        status = str(getattr(value, "status", status) or status)
        value = value.objective
    if status not in STATUSES:
        raise InvalidObjectiveError(f"status must be one of {STATUSES}, got {status!r}")
    number: float | None = None
    if value is not None:
        number = _as_float(value, f"the objective of trial {trial.number}")
        if not math.isfinite(number):
            number = None
            if status == Status.OK:
                status = Status.DIVERGED.value
    elif status == Status.OK:
        status = Status.FAILED.value
    if status == Status.PRUNED and number is None:  # the last finite report, if any (NaN is no value)
        number = next((v for _, v in reversed(trial.curve) if math.isfinite(v)), None)
    return number, status
