"""Search spaces: typed hyperparameters, validation and unit-cube encoding.

Each hyperparameter maps a value to a point of the unit interval and back
(as in ConfigSpace): surrogate models work on vectors, users see values.
:meth:`SearchSpace.encode` / :meth:`SearchSpace.decode` work on one configuration;
:func:`encode_frame`, :func:`decode_frame` and :func:`snap` (also methods of the space) are
the same maps written column by column with numpy, for whole frames of configurations
(pools of ~60k candidates, thousands of random candidates per suggestion). This module is
their one home: the knowledge base, the meta-models, the search and the benchmark use them.

Example:
    >>> from metahp import SearchSpace, Float, Int, Categorical
    >>> space = SearchSpace([
    ...     Float("learning_rate", 1e-5, 1e-1, log=True),
    ...     Int("batch_size", 8, 256, log=True),
    ...     Categorical("optimizer", ["adamw", "sgd"]),
    ... ])
    >>> config = space.decode([0.5, 0.0, 0.9])
    >>> config["batch_size"], config["optimizer"]
    (8, 'sgd')
    >>> round(config["learning_rate"], 6)
    0.001
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Union

import numpy as np

from metahp.errors import InvalidConfigError, InvalidSpaceError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["Float", "Int", "Categorical", "Param", "SearchSpace", "FORMAT_VERSION", "encode_frame", "decode_frame",
           "snap", "encode_column", "encode_loose"]

FORMAT_VERSION = 1

Choice = Union[str, int, float, bool]


def _check_name(name: object) -> str:
    if not isinstance(name, str) or not name:
        raise InvalidSpaceError(f"a parameter name must be a non-empty string, got {name!r}")
    return name


def _check_default(param: Float | Int | Categorical) -> None:
    if param.default is None:
        return
    try:
        param.validate(param.default)
    except InvalidConfigError as exc:
        raise InvalidSpaceError(f"{param.name}: the default is not allowed: {exc}") from exc


def _as_number(param: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InvalidConfigError(
            f"parameter {param!r} must be a number, got {value!r} ({type(value).__name__})",
            parameter=param,
        )
    number = float(value)
    if not math.isfinite(number):
        raise InvalidConfigError(f"parameter {param!r} must be finite, got {value!r}", parameter=param)
    return number


@dataclass(frozen=True)
class Float:
    """A real-valued hyperparameter in ``[low, high]``.

    Args:
        name: Parameter name (use the canonical names, e.g. ``learning_rate``).
        low: Lower bound (inclusive).
        high: Upper bound (inclusive).
        log: Encode on a log scale (requires ``low > 0``).
        default: Value used when a configuration leaves the parameter out.
    """

    name: str
    low: float
    high: float
    log: bool = False
    default: float | None = None

    def __post_init__(self) -> None:
        _check_name(self.name)
        for bound in (self.low, self.high):
            if isinstance(bound, bool) or not isinstance(bound, (int, float)) or not math.isfinite(bound):
                raise InvalidSpaceError(f"{self.name}: bounds must be finite numbers, got {bound!r}")
        if not self.low < self.high:
            raise InvalidSpaceError(f"{self.name}: need low < high, got [{self.low}, {self.high}]")
        if self.log and self.low <= 0:
            raise InvalidSpaceError(f"{self.name}: a log-scaled parameter needs low > 0, got {self.low}")
        _check_default(self)

    @property
    def kind(self) -> str:
        """The parameter's type name."""
        return "float"

    def describe(self) -> str:
        """The allowed range, in words."""
        return f"[{self.low:g}, {self.high:g}]{' (log scale)' if self.log else ''}"

    def validate(self, value: object) -> float:
        """Return ``value`` as a float, or raise :class:`InvalidConfigError`."""
        number = _as_number(self.name, value)
        tol = 1e-9 * max(1.0, abs(self.high - self.low))
        if number < self.low - tol or number > self.high + tol:
            raise InvalidConfigError(
                f"parameter {self.name!r} = {number:g} is outside the allowed range {self.describe()}",
                parameter=self.name,
            )
        return min(max(number, float(self.low)), float(self.high))

    def to_unit(self, value: Any) -> float:
        """Map a valid value to ``[0, 1]``."""
        v = float(value)
        if self.log:
            lo, hi = math.log(self.low), math.log(self.high)
            return (math.log(max(v, self.low)) - lo) / (hi - lo)
        return (v - self.low) / (self.high - self.low)

    def from_unit(self, u: float) -> float:
        """Map a point of ``[0, 1]`` (clipped) back to a value."""
        u = min(max(float(u), 0.0), 1.0)
        if self.log:
            lo, hi = math.log(self.low), math.log(self.high)
            return float(min(max(math.exp(lo + u * (hi - lo)), self.low), self.high))
        return float(self.low + u * (self.high - self.low))

    def default_value(self) -> float:
        """The default, or the centre of the (log) range."""
        return float(self.default) if self.default is not None else self.from_unit(0.5)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description."""
        return {"type": "float", "name": self.name, "low": self.low, "high": self.high,
                "log": self.log, "default": self.default}


@dataclass(frozen=True)
class Int:
    """An integer hyperparameter in ``[low, high]`` on a grid of ``step``.

    Args:
        name: Parameter name.
        low: Lower bound (inclusive).
        high: Upper bound (inclusive).
        log: Encode on a log scale (requires ``low > 0``; ``step`` must be 1).
        step: Grid step; values are ``low + k * step``.
        default: Value used when a configuration leaves the parameter out.
    """

    name: str
    low: int
    high: int
    log: bool = False
    step: int = 1
    default: int | None = None

    def __post_init__(self) -> None:
        _check_name(self.name)
        for bound in (self.low, self.high, self.step):
            if isinstance(bound, bool) or not isinstance(bound, (int, np.integer)):
                raise InvalidSpaceError(f"{self.name}: bounds and step must be integers, got {bound!r}")
        if not self.low < self.high:
            raise InvalidSpaceError(f"{self.name}: need low < high, got [{self.low}, {self.high}]")
        if self.step < 1:
            raise InvalidSpaceError(f"{self.name}: step must be >= 1, got {self.step}")
        if self.log and (self.low <= 0 or self.step != 1):
            raise InvalidSpaceError(f"{self.name}: a log-scaled integer needs low > 0 and step 1")
        _check_default(self)

    @property
    def kind(self) -> str:
        """The parameter's type name."""
        return "int"

    def describe(self) -> str:
        """The allowed range, in words."""
        extra = f" step {self.step}" if self.step != 1 else ""
        return f"integers [{self.low}, {self.high}]{extra}{' (log scale)' if self.log else ''}"

    def validate(self, value: object) -> int:
        """Return ``value`` as an int on the grid, or raise :class:`InvalidConfigError`."""
        number = _as_number(self.name, value)
        if abs(number - round(number)) > 1e-9:
            raise InvalidConfigError(
                f"parameter {self.name!r} must be an integer in {self.describe()}, got {value!r}",
                parameter=self.name,
            )
        integer = int(round(number))
        if integer < self.low or integer > self.high or (integer - self.low) % self.step:
            raise InvalidConfigError(
                f"parameter {self.name!r} = {integer} is outside the allowed range {self.describe()}",
                parameter=self.name,
            )
        return integer

    def to_unit(self, value: Any) -> float:
        """Map a valid value to ``[0, 1]``."""
        v = float(value)
        if self.log:
            lo, hi = math.log(self.low), math.log(self.high)
            return (math.log(max(v, self.low)) - lo) / (hi - lo)
        return (v - self.low) / (self.high - self.low)

    def from_unit(self, u: float) -> int:
        """Map a point of ``[0, 1]`` (clipped) to the nearest grid value."""
        u = min(max(float(u), 0.0), 1.0)
        if self.log:
            lo, hi = math.log(self.low), math.log(self.high)
            raw = math.exp(lo + u * (hi - lo))
        else:
            raw = self.low + u * (self.high - self.low)
        k = round((raw - self.low) / self.step)
        return int(min(max(self.low + k * self.step, self.low), self.high - (self.high - self.low) % self.step))

    def default_value(self) -> int:
        """The default, or the grid value nearest the centre of the (log) range."""
        return int(self.default) if self.default is not None else self.from_unit(0.5)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description."""
        return {"type": "int", "name": self.name, "low": int(self.low), "high": int(self.high),
                "log": self.log, "step": int(self.step), "default": self.default}


@dataclass(frozen=True)
class Categorical:
    """A hyperparameter taking one of a finite list of choices.

    Args:
        name: Parameter name.
        choices: The allowed values (strings, numbers or booleans), at least one.
        default: Value used when a configuration leaves the parameter out.
    """

    name: str
    choices: tuple[Choice, ...] = field(default_factory=tuple)
    default: Choice | None = None

    def __post_init__(self) -> None:
        _check_name(self.name)
        choices = tuple(self.choices)
        if not choices:
            raise InvalidSpaceError(f"{self.name}: a categorical parameter needs at least one choice")
        for c in choices:
            if not isinstance(c, (str, int, float, bool)):
                raise InvalidSpaceError(f"{self.name}: choices must be str, int, float or bool, got {c!r}")
        if len(set(map(repr, choices))) != len(choices):
            raise InvalidSpaceError(f"{self.name}: duplicate choices in {list(choices)!r}")
        object.__setattr__(self, "choices", choices)
        _check_default(self)

    @property
    def kind(self) -> str:
        """The parameter's type name."""
        return "categorical"

    def describe(self) -> str:
        """The allowed choices, in words."""
        return "one of " + ", ".join(map(repr, self.choices))

    def index(self, value: object) -> int:
        """Position of ``value`` among the choices, or raise :class:`InvalidConfigError`."""
        for i, c in enumerate(self.choices):
            if type(c) is type(value) and c == value:
                return i
        for i, c in enumerate(self.choices):
            # Tolerate numpy scalars and int/float equivalence, never bool/int confusion.
            if not isinstance(value, bool) and not isinstance(c, bool) and not isinstance(c, str) \
                    and isinstance(value, (int, float, np.integer, np.floating)) and float(c) == float(value):
                return i
        raise InvalidConfigError(
            f"parameter {self.name!r} = {value!r} is not allowed; choose {self.describe()}",
            parameter=self.name,
        )

    def validate(self, value: object) -> Choice:
        """Return the matching choice, or raise :class:`InvalidConfigError`."""
        return self.choices[self.index(value)]

    def to_unit(self, value: Any) -> float:
        """Map a choice to the centre of its bucket in ``[0, 1]``."""
        return (self.index(value) + 0.5) / len(self.choices)

    def from_unit(self, u: float) -> Choice:
        """Map a point of ``[0, 1]`` to the choice whose bucket holds it."""
        u = min(max(float(u), 0.0), 1.0)
        return self.choices[min(int(u * len(self.choices)), len(self.choices) - 1)]

    def default_value(self) -> Choice:
        """The default, or the first choice."""
        return self.default if self.default is not None else self.choices[0]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description."""
        return {"type": "categorical", "name": self.name, "choices": list(self.choices),
                "default": self.default}


Param = Union[Float, Int, Categorical]

_PARAM_TYPES: dict[str, type] = {"float": Float, "int": Int, "categorical": Categorical}


class SearchSpace(Mapping[str, Param]):
    """An ordered set of hyperparameters; behaves as a mapping from name to parameter.

    Args:
        params: The parameters, in order (the order of the encoded vector).

    Raises:
        InvalidSpaceError: On duplicate names or a non-parameter entry.
    """

    def __init__(self, params: Iterable[Param]) -> None:
        items: dict[str, Param] = {}
        for p in params:
            if not isinstance(p, (Float, Int, Categorical)):
                raise InvalidSpaceError(f"expected Float, Int or Categorical, got {p!r}")
            if p.name in items:
                raise InvalidSpaceError(f"duplicate parameter name {p.name!r}")
            twin = next((n for n in items if n.lower() == p.name.lower()), None)
            if twin is not None:  # the knowledge base's columns ignore case: these could never be stored
                raise InvalidSpaceError(f"parameter names {twin!r} and {p.name!r} differ only by case; rename one")
            items[p.name] = p
        self._params = items

    # Mapping protocol -------------------------------------------------------------------
    def __getitem__(self, name: str) -> Param:
        return self._params[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._params)

    def __len__(self) -> int:
        return len(self._params)

    def __repr__(self) -> str:
        inner = ", ".join(f"{n}: {p.describe()}" for n, p in self._params.items())
        return f"SearchSpace({inner})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SearchSpace) and self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash(self.signature)

    @property
    def names(self) -> list[str]:
        """Parameter names in vector order."""
        return list(self._params)

    @property
    def params(self) -> list[Param]:
        """Parameters in vector order."""
        return list(self._params.values())

    @property
    def dim(self) -> int:
        """Length of an encoded vector."""
        return len(self._params)

    # Configurations ---------------------------------------------------------------------
    def validate(self, config: Mapping[str, Any], *, fill_defaults: bool = False) -> dict[str, Any]:
        """Check a configuration and return it with values in canonical types.

        Args:
            config: Parameter name to value.
            fill_defaults: Fill missing parameters with their defaults instead of raising.

        Raises:
            InvalidConfigError: A value is out of range, of the wrong type, missing,
                or the configuration names a parameter the space does not have.
        """
        if not isinstance(config, Mapping):
            raise InvalidConfigError(f"a configuration must be a mapping of name to value, got {type(config).__name__}")
        unknown = [k for k in config if k not in self._params]
        if unknown:
            raise InvalidConfigError(
                f"unknown parameter(s) {unknown}; this space has {self.names}", parameter=str(unknown[0])
            )
        out: dict[str, Any] = {}
        for name, p in self._params.items():
            if name not in config or config[name] is None:
                if not fill_defaults:
                    raise InvalidConfigError(f"parameter {name!r} is missing; allowed: {p.describe()}", parameter=name)
                out[name] = p.default_value()
            else:
                out[name] = p.validate(config[name])
        return out

    def default(self) -> dict[str, Any]:
        """The configuration made of every parameter's default."""
        return {n: p.default_value() for n, p in self._params.items()}

    def sample(self, n: int, seed: int | None = None) -> list[dict[str, Any]]:
        """Draw ``n`` configurations uniformly in the encoded cube.

        Args:
            n: How many configurations.
            seed: Seed of the random stream; the same seed gives the same list.
        """
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise InvalidConfigError(f"n must be a non-negative integer, got {n!r}")
        rng = np.random.default_rng(seed)
        return [self.decode(u) for u in rng.random((n, self.dim))]

    def encode(self, config: Mapping[str, Any]) -> np.ndarray:
        """Map a configuration to a vector of ``[0, 1]^d`` (shape ``d``)."""
        valid = self.validate(config)
        return np.array([p.to_unit(valid[n]) for n, p in self._params.items()], dtype=float)

    def encode_many(self, configs: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Encode configurations into an ``n x d`` array."""
        if not configs:
            return np.zeros((0, self.dim))
        return np.stack([self.encode(c) for c in configs])

    def encode_frame(self, configs: pd.DataFrame | Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Encode many configurations at once, ``n x d`` (:func:`encode_frame`)."""
        return encode_frame(self, configs)

    def decode_frame(self, unit: np.ndarray) -> pd.DataFrame:
        """Decode ``n x d`` unit-cube points into a frame of configurations (:func:`decode_frame`)."""
        return decode_frame(self, unit)

    def snap(self, unit: np.ndarray) -> np.ndarray:
        """Move unit-cube points onto representable configurations (:func:`snap`)."""
        return snap(self, unit)

    def decode(self, vector: Sequence[float] | np.ndarray) -> dict[str, Any]:
        """Map a vector of ``[0, 1]^d`` (clipped) to a configuration."""
        vec = np.asarray(vector, dtype=float).reshape(-1)
        if vec.shape[0] != self.dim:
            raise InvalidConfigError(f"expected a vector of length {self.dim}, got {vec.shape[0]}")
        if not np.all(np.isfinite(vec)):
            raise InvalidConfigError("cannot decode a vector with NaN or infinite entries")
        return {n: p.from_unit(u) for (n, p), u in zip(self._params.items(), vec)}

    def contains(self, config: Mapping[str, Any]) -> bool:
        """Whether ``config`` is a valid configuration of this space."""
        try:
            self.validate(config)
        except InvalidConfigError:
            return False
        return True

    # Serialisation ----------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description with a ``format_version``."""
        return {"format_version": FORMAT_VERSION, "params": [p.to_dict() for p in self._params.values()]}

    def to_json(self) -> str:
        """Canonical JSON text of :meth:`to_dict`."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @property
    def signature(self) -> str:
        """A short hash identifying the space (same parameters, bounds and choices)."""
        return hashlib.sha256(self.to_json().encode()).hexdigest()[:16]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SearchSpace:
        """Rebuild a space written by :meth:`to_dict`.

        Raises:
            InvalidSpaceError: Malformed data or a newer ``format_version``.
        """
        if not isinstance(data, Mapping) or "params" not in data:
            raise InvalidSpaceError("a serialised search space needs a 'params' list")
        version = data.get("format_version", FORMAT_VERSION)
        if not isinstance(version, int) or version > FORMAT_VERSION:
            raise InvalidSpaceError(
                f"search space format_version {version!r} is newer than this metahp supports "
                f"({FORMAT_VERSION}); upgrade metahp"
            )
        params: list[Param] = []
        for raw in data["params"]:
            if not isinstance(raw, Mapping) or raw.get("type") not in _PARAM_TYPES:
                raise InvalidSpaceError(f"unknown parameter description {raw!r}")
            kwargs = {k: v for k, v in raw.items() if k != "type"}
            if raw["type"] == "categorical":
                kwargs["choices"] = tuple(kwargs.get("choices", ()))
            try:
                params.append(_PARAM_TYPES[raw["type"]](**kwargs))
            except TypeError as exc:
                raise InvalidSpaceError(f"bad parameter description {raw!r}: {exc}") from exc
        return cls(params)

    @classmethod
    def from_json(cls, text: str) -> SearchSpace:
        """Rebuild a space from :meth:`to_json` text."""
        try:
            data = json.loads(text)
        except (TypeError, ValueError) as exc:
            raise InvalidSpaceError(f"not a JSON search space: {exc}") from exc
        return cls.from_dict(data)


# -- vectorised maps of whole frames (agree with Param.to_unit / Param.from_unit exactly, tested) --

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
    import pandas as pd

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
    import pandas as pd

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


# -- lenient encodings: other libraries' and other spaces' values (no validation) --

def encode_column(param: Param, values: Iterable[Any]) -> np.ndarray:
    """Encode raw values of one parameter to its unit scale, without validation.

    Numbers outside the bounds keep their position outside ``[0, 1]``; missing values,
    non-positive values on a log scale and unknown choices become NaN.

    Args:
        param: The target parameter.
        values: Raw values (any iterable, e.g. a Series column).

    Returns:
        An array of shape ``n``.
    """
    import pandas as pd

    if isinstance(param, Categorical):
        lookup: dict[Any, float] = {}
        for i, choice in enumerate(param.choices):
            lookup[(type(choice).__name__, choice)] = (i + 0.5) / len(param.choices)
        out = []
        for v in values:
            if isinstance(v, (np.generic,)):
                v = v.item()
            key = (type(v).__name__, v)
            if key in lookup:
                out.append(lookup[key])
                continue
            try:
                out.append((param.index(v) + 0.5) / len(param.choices))
            except Exception:  # an unknown choice, or a missing value
                out.append(math.nan)
        return np.asarray(out, dtype=float)
    x = pd.to_numeric(pd.Series(list(values) if not isinstance(values, pd.Series) else values),
                      errors="coerce").to_numpy(dtype=float)
    if param.log:
        with np.errstate(divide="ignore", invalid="ignore"):
            lx = np.where(x > 0, np.log(np.where(x > 0, x, 1.0)), np.nan)
        lo, hi = math.log(param.low), math.log(param.high)
        return (lx - lo) / (hi - lo)
    return (x - float(param.low)) / (float(param.high) - float(param.low))


def encode_loose(space: SearchSpace, config: Mapping[str, Any]) -> np.ndarray:
    """Encode a configuration proposed by another library (numpy scalars, values clipped)."""
    out = np.empty(space.dim)
    for j, p in enumerate(space.params):
        value = config[p.name]
        if isinstance(value, np.generic):
            value = value.item()
        if isinstance(p, Categorical):
            out[j] = p.to_unit(value)
        else:
            out[j] = min(max(p.to_unit(min(max(float(value), p.low), p.high)), 0.0), 1.0)
    return out
