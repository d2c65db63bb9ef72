"""The vocabulary of a trial: how it ended, which way its objective goes, and the signal that stops it.

One home for what the knowledge base, the importers, the runner and the search all share:

* :class:`Status` (:data:`STATUSES`): ``ok``, ``failed``, ``diverged`` or ``pruned``;
  :data:`BROKEN_STATUSES` are the ones that leave no usable objective.
* :class:`Direction` (:data:`DIRECTIONS`) with the sign rule: metahp minimises internally,
  so a value is multiplied by :func:`sign` (``+1`` to minimise, ``-1`` to maximise) on the
  way in and again on the way out.
* :class:`TrialPruned`: raised inside an objective or a training run's ``report`` callback
  to stop it early; the trial is recorded as ``pruned``.

Both enums are ``str`` enums, so ``Status.OK == "ok"`` and a stored or user-given string
can be used wherever a member is.

Example:
    >>> sign("maximize") * 0.9
    -0.9
    >>> Direction("minimize").sign, Status.PRUNED == "pruned"
    (1.0, True)
"""

from __future__ import annotations

from enum import StrEnum

from metahp.errors import InvalidConfigError, MetaHPError

__all__ = ["Status", "STATUSES", "BROKEN_STATUSES", "Direction", "DIRECTIONS", "sign", "check_direction",
           "TrialPruned"]


class Status(StrEnum):
    """How a finished trial ended."""

    OK = "ok"
    FAILED = "failed"
    DIVERGED = "diverged"
    PRUNED = "pruned"


STATUSES: tuple[str, ...] = tuple(s.value for s in Status)
"""Every status, in a fixed order: ``("ok", "failed", "diverged", "pruned")``."""

BROKEN_STATUSES: frozenset[str] = frozenset({Status.FAILED.value, Status.DIVERGED.value})
"""Statuses of trials that produced no usable objective."""


class Direction(StrEnum):
    """Whether the objective is minimised or maximised."""

    MINIMIZE = "minimize"
    MAXIMIZE = "maximize"

    @property
    def sign(self) -> float:
        """``+1.0`` to minimise, ``-1.0`` to maximise: ``sign * value`` is always minimised."""
        return 1.0 if self is Direction.MINIMIZE else -1.0


DIRECTIONS: tuple[str, ...] = tuple(d.value for d in Direction)
"""Both directions: ``("minimize", "maximize")``."""


def check_direction(direction: str) -> Direction:
    """The :class:`Direction` named ``direction``.

    Raises:
        InvalidConfigError: Neither ``"minimize"`` nor ``"maximize"``.
    """
    try:
        return Direction(direction)
    except ValueError:
        raise InvalidConfigError(f"direction must be 'minimize' or 'maximize', got {direction!r}") from None


def sign(direction: str) -> float:
    """``+1.0`` for ``"minimize"``, ``-1.0`` for ``"maximize"``: multiply a value by it to minimise it.

    Raises:
        InvalidConfigError: An unknown direction.
    """
    return check_direction(direction).sign


class TrialPruned(MetaHPError):  # noqa: N818 - named as optuna.TrialPruned, whose role it has
    """Raise to stop a trial early; the trial is recorded as ``pruned``.

    Raise it inside an objective of :meth:`metahp.Study.optimize`, or from a training run's
    ``report`` callback (:func:`metahp.run_trial`, where it is also ``metahp.runner.Pruned``).
    """
