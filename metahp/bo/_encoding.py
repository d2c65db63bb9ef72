"""Vectorised unit-cube encoding, snapping and GP features for a :class:`~metahp.SearchSpace`.

:meth:`SearchSpace.encode` works one configuration at a time; the search needs whole
frames (pools of ~60k candidates) and thousands of random candidates per suggestion, so
the same maps are written here column by column with numpy. The maps agree with
``Param.to_unit`` / ``Param.from_unit`` exactly (tested).

The GP does not see the unit cube directly: a categorical's bucket centre would impose an
order on its choices, so :class:`FeatureMap` one-hot encodes categoricals and passes
numeric dimensions through.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from metahp.errors import InvalidConfigError
from metahp.space import Categorical, Float, Int, SearchSpace

__all__ = ["encode_frame", "decode_frame", "snap", "FeatureMap"]


def _unit_numeric(p: Float | Int, values: np.ndarray) -> np.ndarray:
    if p.log:
        lo, hi = np.log(p.low), np.log(p.high)
        return (np.log(np.maximum(values, p.low)) - lo) / (hi - lo)
    return (values - p.low) / (p.high - p.low)


def _from_unit_numeric(p: Float | Int, u: np.ndarray) -> np.ndarray:
    u = np.clip(u, 0.0, 1.0)
    if p.log:
        lo, hi = np.log(p.low), np.log(p.high)
        raw = np.exp(lo + u * (hi - lo))
    else:
        raw = p.low + u * (p.high - p.low)
    if isinstance(p, Int):
        top = p.high - (p.high - p.low) % p.step
        # Python's round() is half-to-even like np.round, so this matches Int.from_unit.
        k = np.round((raw - p.low) / p.step)
        return np.clip(p.low + k * p.step, p.low, top)
    return np.clip(raw, p.low, p.high)


def encode_frame(space: SearchSpace, configs: pd.DataFrame | Sequence[Mapping[str, Any]]) -> np.ndarray:
    """Encode many configurations into the unit cube, one column at a time.

    Args:
        space: The search space.
        configs: A frame with one column per parameter, or a list of configuration dicts.

    Returns:
        An ``n x d`` float array in ``[0, 1]``.

    Raises:
        InvalidConfigError: A parameter is missing, a value is out of range or not a choice.
    """
    frame = configs if isinstance(configs, pd.DataFrame) else pd.DataFrame(list(configs))
    n = len(frame)
    out = np.zeros((n, space.dim))
    for j, (name, p) in enumerate(space.items()):
        if name not in frame.columns:
            raise InvalidConfigError(
                f"parameter {name!r} is missing from the candidates; columns: {list(frame.columns)}", parameter=name)
        col = frame[name]
        if isinstance(p, Categorical):
            lookup = {repr(c): i for i, c in enumerate(p.choices)}
            idx = np.empty(n, dtype=float)
            for i, v in enumerate(col.tolist()):
                k = lookup.get(repr(v))
                idx[i] = k if k is not None else p.index(v)
            out[:, j] = (idx + 0.5) / len(p.choices)
        else:
            values = pd.to_numeric(col, errors="coerce").to_numpy(dtype=float)
            tol = 1e-9 * max(1.0, abs(p.high - p.low))
            bad = ~np.isfinite(values) | (values < p.low - tol) | (values > p.high + tol)
            if bad.any():
                raise InvalidConfigError(
                    f"parameter {name!r} = {col.iloc[int(np.flatnonzero(bad)[0])]!r} is outside the allowed range "
                    f"{p.describe()}", parameter=name)
            out[:, j] = np.clip(_unit_numeric(p, values), 0.0, 1.0)
    return out


def decode_frame(space: SearchSpace, unit: np.ndarray) -> pd.DataFrame:
    """Decode an ``n x d`` unit-cube array into a frame of configurations (one column per parameter)."""
    u = np.asarray(unit, dtype=float).reshape(-1, space.dim)
    columns: dict[str, Any] = {}
    for j, (name, p) in enumerate(space.items()):
        if isinstance(p, Categorical):
            idx = np.minimum((np.clip(u[:, j], 0.0, 1.0) * len(p.choices)).astype(int), len(p.choices) - 1)
            columns[name] = pd.Series([p.choices[i] for i in idx], dtype=object)
        else:
            values = _from_unit_numeric(p, u[:, j])
            columns[name] = values.astype(int) if isinstance(p, Int) else values
    return pd.DataFrame(columns)


def snap(space: SearchSpace, unit: np.ndarray) -> np.ndarray:
    """Move unit-cube points onto representable configurations (integer grid, bucket centres).

    Args:
        space: The search space.
        unit: ``n x d`` points of the unit cube (clipped).

    Returns:
        ``n x d``: the encodings of the decoded configurations.
    """
    u = np.clip(np.asarray(unit, dtype=float).reshape(-1, space.dim), 0.0, 1.0).copy()
    for j, p in enumerate(space.values()):
        if isinstance(p, Categorical):
            k = len(p.choices)
            u[:, j] = (np.minimum((u[:, j] * k).astype(int), k - 1) + 0.5) / k
        elif isinstance(p, Int):
            u[:, j] = _unit_numeric(p, _from_unit_numeric(p, u[:, j]))
    return u


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
