"""Typed errors raised by metahp.

Every error a user can cause derives from :class:`MetaHPError`, so ``except
metahp.errors.MetaHPError`` catches all of them. Each message says what was
wrong and how to fix it.
"""

from __future__ import annotations

__all__ = [
    "MetaHPError",
    "InvalidConfigError",
    "InvalidSpaceError",
    "InvalidObjectiveError",
    "UnknownTaskError",
    "InvalidTaskError",
    "UnknownNameError",
    "SchemaVersionError",
    "CorruptBundleError",
    "ImportSourceError",
    "KnowledgeBaseError",
    "TrainingError",
    "MissingDependencyError",
    "FetchError",
]


class MetaHPError(Exception):
    """Base class of every error metahp raises on bad input."""


class InvalidSpaceError(MetaHPError, ValueError):
    """A search-space definition is malformed (bad bounds, empty choices, ...)."""


class InvalidConfigError(MetaHPError, ValueError):
    """A configuration does not fit its search space.

    The message names the offending parameter and the allowed range or choices.
    """

    def __init__(self, message: str, parameter: str | None = None) -> None:
        super().__init__(message)
        self.parameter = parameter


class InvalidObjectiveError(MetaHPError, ValueError):
    """An objective value is missing, not a number, NaN or infinite."""


class UnknownTaskError(MetaHPError, KeyError):
    """A task name or id is not in the knowledge base."""

    def __str__(self) -> str:  # KeyError would quote the message.
        return str(self.args[0]) if self.args else ""


class InvalidTaskError(MetaHPError, ValueError):
    """A task definition is malformed (empty name, non-numeric meta-features, conflicting family or space)."""


class UnknownNameError(MetaHPError, ValueError):
    """A meta-feature, family or regime name metahp does not know.

    Attributes:
        name: The name given.
        valid: The names metahp knows.
        suggestions: The closest valid names, closest first.
    """

    def __init__(self, message: str, *, name: str = "", valid: list[str] | None = None,
                 suggestions: list[str] | None = None) -> None:
        super().__init__(message)
        self.name = name
        self.valid = list(valid or [])
        self.suggestions = list(suggestions or [])


class SchemaVersionError(MetaHPError):
    """A store or bundle was written by an incompatible schema version."""


class CorruptBundleError(MetaHPError):
    """A file is truncated, damaged, or was not written by metahp."""


class ImportSourceError(MetaHPError, ValueError):
    """An importer cannot read its source (missing file, wrong columns, ...)."""


class KnowledgeBaseError(MetaHPError):
    """The knowledge base cannot complete an operation (locked, read-only, ...)."""


class TrainingError(MetaHPError):
    """A training task or configuration cannot be set up (not raised for runs that diverge)."""


class MissingDependencyError(MetaHPError, ImportError):
    """An optional dependency is not installed; the message names the extra to install."""


class FetchError(ImportSourceError):
    """``metahp kb fetch`` cannot download a source, or a downloaded file does not match its pinned SHA-256."""
