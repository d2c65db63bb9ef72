"""The method contract and the registry the benchmark runs from."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

from metahp.bench._problem import PoolProblem, Suite, TaskPool
from metahp.errors import InvalidConfigError

__all__ = ["Method", "METHODS", "register_method", "get_method"]


class Method(ABC):
    """A search method replayed on task pools.

    The benchmark calls :meth:`prepare` once per target task, with the suite's other tasks
    as the only source data (leave one task out); its result is reused for every seed, so
    leave-one-out fitting happens once per target. :meth:`search` then runs one (task,
    seed) replay: it must spend the problem's whole budget through
    :meth:`PoolProblem.evaluate` and may read nothing of the target but what ``evaluate``
    returns (and the configurations in the pool, which are the candidates).
    Implementations must not mutate the suite.
    """

    name: ClassVar[str]
    note: ClassVar[str] = ""

    def applies_to(self, suite: Suite) -> bool:
        """Whether the method runs on ``suite`` (e.g. a family-specific method)."""
        return True

    def prepare(self, suite: Suite, target: TaskPool) -> Any:
        """Fit whatever the method learns from the source tasks (``suite.sources(target.name)``)."""
        return None

    @abstractmethod
    def search(self, problem: PoolProblem, state: Any, seed: int) -> None:
        """Spend ``problem``'s budget; ``seed`` seeds this (task, seed) pair's random stream."""


METHODS: dict[str, Method] = {}


def register_method(method: Method) -> Method:
    """Add ``method`` to :data:`METHODS` under its ``name`` (replacing any earlier one)."""
    METHODS[method.name] = method
    return method


def get_method(name: str) -> Method:
    """The registered method called ``name``.

    Raises:
        InvalidConfigError: No such method; the message lists the known ones.
    """
    try:
        return METHODS[name]
    except KeyError:
        raise InvalidConfigError(f"unknown benchmark method {name!r}; choose from {sorted(METHODS)}") from None
