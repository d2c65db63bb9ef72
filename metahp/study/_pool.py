"""Pool mode: a finite set of candidate configurations, each evaluated at most once."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from metahp.errors import MetaHPError
from metahp.space import SearchSpace

__all__ = ["CandidatePool"]


class CandidatePool:
    """The candidates of a pool-mode study, encoded once, and which of them are taken.

    Contract: a candidate is taken (running or finished) at most once; :meth:`free` lists
    the others in row order; ``unit`` rows and ``frame`` rows correspond.

    Args:
        space: The study's space.
        candidates: A frame (one column per parameter) or a list of configurations.

    Attributes:
        frame: The candidates, one column per parameter of ``space``, rows 0..n-1.
        unit: Their ``n x d`` unit-cube encodings.
        used: ``n`` mask of taken candidates.

    Raises:
        MetaHPError: No candidate.
        InvalidConfigError: A candidate that does not fit the space.
    """

    def __init__(self, space: SearchSpace, candidates: pd.DataFrame | Sequence[Mapping[str, Any]]) -> None:
        frame = candidates if isinstance(candidates, pd.DataFrame) else pd.DataFrame([dict(c) for c in candidates])
        if len(frame) == 0:
            raise MetaHPError("candidates is empty; pass at least one configuration or leave it None")
        frame = frame.reset_index(drop=True)
        self.space = space
        self.unit = space.encode_frame(frame)
        self.frame = frame[space.names]
        self.used = np.zeros(len(frame), dtype=bool)

    def __len__(self) -> int:
        return len(self.used)

    @property
    def exhausted(self) -> bool:
        """Whether every candidate is taken."""
        return bool(self.used.all())

    def free(self) -> np.ndarray:
        """Rows of the candidates not taken yet, increasing."""
        return np.flatnonzero(~self.used)

    def take(self, row: int | None) -> None:
        """Mark ``row`` taken (None: nothing)."""
        if row is not None:
            self.used[row] = True

    def config(self, row: int) -> dict[str, Any]:
        """The configuration of one row, with plain Python values."""
        values = self.frame.iloc[row]
        return self.space.validate({n: _plain(values[n]) for n in self.space.names})

    def match(self, config: Mapping[str, Any]) -> int | None:
        """The first free row equal to ``config`` (in the unit cube), or None."""
        u = self.space.encode(config)
        hits = np.flatnonzero(np.all(np.abs(self.unit - u) < 1e-9, axis=1) & ~self.used)
        return int(hits[0]) if hits.size else None

    def nearest_free(self, u: np.ndarray) -> int:
        """The free row nearest (Euclidean, unit cube) to the point ``u``."""
        free = self.free()
        d = ((self.unit[free] - u.reshape(1, -1)) ** 2).sum(axis=1)
        return int(free[int(np.argmin(d))])


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value
