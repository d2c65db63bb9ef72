"""GP features of unit-cube points for a :class:`~metahp.SearchSpace`.

The vectorised encoding, decoding and snapping of whole frames live in :mod:`metahp.space`
(:func:`~metahp.space.encode_frame`, :func:`~metahp.space.decode_frame`,
:func:`~metahp.space.snap`); they are re-exported here for the BO step's callers.

The GP does not see the unit cube directly: a categorical's bucket centre would impose an
order on its choices, so :class:`FeatureMap` one-hot encodes categoricals and passes
numeric dimensions through.
"""

from __future__ import annotations

import numpy as np

from metahp.space import Categorical, SearchSpace, decode_frame, encode_frame, snap

__all__ = ["encode_frame", "decode_frame", "snap", "FeatureMap"]


class FeatureMap:
    """Map unit-cube points to GP inputs: numeric dimensions as they are, categoricals one-hot.

    Args:
        space: The search space.

    Example:
        >>> from metahp import SearchSpace, Float, Categorical
        >>> fm = FeatureMap(SearchSpace([Float("x", 0, 1), Categorical("c", ["a", "b", "c"])]))
        >>> fm.dim
        4
        >>> fm(np.array([[0.25, 0.5]])).tolist()
        [[0.25, 0.0, 1.0, 0.0]]
    """

    def __init__(self, space: SearchSpace) -> None:
        self.space = space
        self._blocks: list[tuple[int, int]] = [
            (j, len(p.choices) if isinstance(p, Categorical) else 0) for j, p in enumerate(space.values())
        ]

    @property
    def dim(self) -> int:
        """Number of GP input features."""
        return sum(max(k, 1) for _, k in self._blocks)

    def __call__(self, unit: np.ndarray) -> np.ndarray:
        """Features of ``n x d`` unit-cube points, shape ``n x dim``."""
        u = np.asarray(unit, dtype=float).reshape(-1, self.space.dim)
        parts: list[np.ndarray] = []
        for j, k in self._blocks:
            if k == 0:
                parts.append(u[:, j : j + 1])
            else:
                idx = np.minimum((np.clip(u[:, j], 0.0, 1.0) * k).astype(int), k - 1)
                parts.append(np.eye(k)[idx])
        return np.concatenate(parts, axis=1) if parts else np.zeros((u.shape[0], 0))
