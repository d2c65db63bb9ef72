"""The knowledge base: past trials and their tasks' meta-features, in DuckDB.

An on-disk store opens a short-lived DuckDB connection for each operation, under an
inter-process file lock (``<path>.lock``). DuckDB allows one writing process per file;
the lock turns concurrent writers (several processes adding trials, importing bundles,
reporting from workers) into a queue instead of a crash, and readers in other processes
never see a half-written batch. ``":memory:"`` keeps one connection for the object's life.

Every write is one transaction: a batch is added whole or not at all.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import socket
import stat
import sys
import threading
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from metahp.errors import (
    InvalidConfigError,
    InvalidObjectiveError,
    InvalidTaskError,
    KnowledgeBaseError,
    MetaHPError,
    SchemaVersionError,
    UnknownTaskError,
)
from metahp.kb.schema import SCHEMA_VERSION, create_schema, migrate
from metahp.space import Categorical, Float, Int, SearchSpace
from metahp.types import DIRECTIONS, STATUSES

if TYPE_CHECKING:  # pragma: no cover
    from metahp.kb._features import Features
    from metahp.kb.bundle import ImportResult

__all__ = ["KnowledgeBase", "AddResult", "TaskInfo", "TaskRef", "STATUSES"]

_OPTIONAL_COLUMNS = ("status", "fidelity", "cost", "metrics", "curve", "seed", "device", "source", "study_id")
_RESERVED = {"config", "objective", "value", "created_at", "content_hash", "metahp_version", "trial_id",
             "task_id", "task", "family", "objective_name", "direction", "contributed", *_OPTIONAL_COLUMNS}
_MAX_NAME = 512

_TRANSACTIONS = threading.local()  # ids of the connections this thread has a transaction open on

TaskRef = Any  # a task name (str), id (int), or an object with a ``name`` attribute


def _version() -> str:
    from metahp import __version__

    return __version__


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _lock_advice() -> str:
    return ("wait for it to finish, or give a longer timeout (KnowledgeBase(..., lock_timeout=SECONDS); "
            "on the command line --lock-timeout SECONDS)")


def _read_head(path: Path) -> bytes:
    """The first 16 bytes of the store file (b"" when absent or empty), refusing anything but a regular file.

    Opened without blocking and checked on the open descriptor, so a FIFO or device put in
    the store's place can neither hang the open nor be read.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        return b""
    except OSError as exc:
        raise KnowledgeBaseError(f"cannot open knowledge base {path}: {exc.strerror or exc}; check the path and "
                                 "its permissions") from exc
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise KnowledgeBaseError(f"{path} is not a regular file (a FIFO, device or socket); give the path of a "
                                     "knowledge-base file")
        return os.read(fd, 16)
    finally:
        os.close(fd)


_SETTLED_NS = 2_000_000_000  # how old a store file's times must be before a memo of it is trusted


def _stat_signature(path: Path) -> tuple[Any, ...] | None:
    """Identity, size and times of a store file and its write-ahead log (None: cannot tell)."""
    sig: list[Any] = []
    for file in (path, path.with_name(path.name + ".wal")):
        try:
            st = os.stat(file)
        except FileNotFoundError:
            sig.append(None)
            continue
        except OSError:
            return None
        sig.append((st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns))
    return tuple(sig)


def _settled(sig: tuple[Any, ...]) -> bool:
    """Whether every time in ``sig`` is at least ``_SETTLED_NS`` old."""
    limit = time.time_ns() - _SETTLED_NS
    return all(entry is None or max(entry[3], entry[4]) <= limit for entry in sig)


def _check_store_path(path: Path, read_only: bool) -> None:
    """Refuse store paths that cannot work, with what to do instead, before any lock or connection."""
    try:
        if path.is_dir():
            raise KnowledgeBaseError(f"{path} is a folder; give the path of a knowledge-base file")
        if path.exists() and not path.is_file():
            raise KnowledgeBaseError(f"{path} is not a regular file (a FIFO, device or socket); give the path of a "
                                     "knowledge-base file")
        if read_only:
            if not path.exists():
                raise KnowledgeBaseError(f"there is no knowledge base at {path}; read_only=True opens an existing "
                                         "store only")
            return
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise KnowledgeBaseError(f"cannot use {str(path)[:300]!r} as a knowledge base: {exc.strerror or exc}; "
                                 "choose a shorter path or a folder you may write to") from exc


class _PathLock:
    """The one lock of a store file in this process, shared by every :class:`KnowledgeBase` on that path.

    A thread holds it for one outermost operation (or ``session()``): a thread lock keeps the
    other threads of this process out and a file lock (``<path>.lock``) the other processes.
    Inside, the same thread re-enters freely, through any object on the path, and gets the
    one open connection; no other thread ever sees that connection. The holder's identity is
    kept (``<path>.lock.owner`` for other processes) so that a timeout says who holds it.
    """

    _registry: dict[str, _PathLock] = {}
    _registry_lock = threading.Lock()

    def __init__(self, path: Path) -> None:
        self.path = path
        self._rlock = threading.RLock()
        self._file: Any = None
        self._owner: threading.Thread | None = None
        self._since = 0.0
        self._con: duckdb.DuckDBPyConnection | None = None
        self._con_read_only = False
        # Small answers (content hash, families) kept between connections while the file is
        # unchanged: (the files' stat signature when they were read, {key: value}).
        self._memo: tuple[tuple[Any, ...] | None, dict[str, Any]] = (None, {})
        self._pending: dict[str, Any] = {}

    def remember(self, key: str, value: Any) -> None:
        """Keep ``value`` for :meth:`recall` once the outermost hold of this thread ends."""
        if self._owner is threading.current_thread():
            self._pending[key] = value

    def recall(self, key: str) -> Any:
        """A value :meth:`remember` kept, if the store files are unchanged since (else None).

        Only outside a hold: inside one, this thread may have written what the files do not
        show yet. "Unchanged" is the files' identity, size and times (as git's index trusts a
        file's stat), and is trusted only where those times were at least
        ``_SETTLED_NS`` old when the value was kept, so that a write within the file system's
        timestamp granularity of the reading cannot go unseen.
        """
        if self._owner is threading.current_thread():
            return None
        sig, values = self._memo
        if sig is None or key not in values or _stat_signature(self.path) != sig:
            return None
        return values[key]

    def _settle(self) -> None:
        """At the end of an outermost hold, under the file lock: keep what was remembered, or forget."""
        pending, self._pending = self._pending, {}
        sig = _stat_signature(self.path)
        if sig is None or not _settled(sig):
            self._memo = (None, {})
            return
        old_sig, old = self._memo
        self._memo = (sig, {**old, **pending} if old_sig == sig else pending)

    @classmethod
    def for_path(cls, path: Path) -> _PathLock:
        with cls._registry_lock:
            lock = cls._registry.get(str(path))
            if lock is None:
                lock = cls._registry[str(path)] = cls(path)
            return lock

    @classmethod
    def _forget_all(cls) -> None:
        # A forked child must not inherit a parent's thread's hold (that thread does not exist there).
        cls._registry = {}
        cls._registry_lock = threading.Lock()

    @contextmanager
    def hold(self, kb: KnowledgeBase, write: bool) -> Iterator[duckdb.DuckDBPyConnection]:
        me = threading.current_thread()
        if self._owner is me and self._con is not None:  # re-entered by this thread, through any object
            if write and self._con_read_only:
                raise KnowledgeBaseError(
                    f"knowledge base {self.path} is open read-only in an enclosing session of this thread; "
                    "write after that session ends, or open the enclosing store without read_only"
                )
            yield self._con
            return
        timeout = kb.lock_timeout if kb.lock_timeout is not None and kb.lock_timeout >= 0 else -1.0
        deadline = time.monotonic() + max(timeout, 0.0)
        if not self._rlock.acquire(timeout=timeout):
            owner, since = self._owner, self._since
            who = f"thread {owner.name!r} of this process" if owner is not None else "another thread of this process"
            held = f" (it has held it for {time.monotonic() - since:.1f} s)" if owner is not None else ""
            raise KnowledgeBaseError(f"knowledge base {self.path} stayed locked by {who}{held} for {timeout:g} s; "
                                     f"{_lock_advice()}")
        try:
            self._owner, self._since = me, time.monotonic()
            self._pending = {}
            locked = self._acquire_file(kb, -1.0 if timeout < 0 else max(0.0, deadline - time.monotonic()))
            try:
                con = kb._open(write)
                self._con, self._con_read_only = con, kb.read_only
                try:
                    yield con
                finally:
                    self._con = None
                    con.close()
                    self._settle()
            finally:
                if locked:
                    self._file.release()
        finally:
            self._owner = None
            self._rlock.release()

    def _acquire_file(self, kb: KnowledgeBase, timeout: float) -> bool:
        from filelock import FileLock, Timeout

        if self._file is None:
            self._file = FileLock(str(self.path) + ".lock", thread_local=False)
        try:
            self._file.acquire(timeout=timeout)
        except Timeout as exc:
            raise KnowledgeBaseError(f"knowledge base {self.path} stayed locked by {self._holder()} for "
                                     f"{timeout:.1f} s; {_lock_advice()}") from exc
        except OSError as exc:
            if kb.read_only and not os.access(self.path.parent, os.W_OK):
                return False  # nothing can write in a read-only folder: reading needs no lock
            raise KnowledgeBaseError(
                f"cannot create the lock file {self.path}.lock: {exc.strerror or exc}; open the store with "
                "read_only=True to read it, or move it to a folder you may write to"
            ) from exc
        try:
            fd = os.open(str(self.path) + ".lock.owner", os.O_WRONLY | os.O_CREAT | os.O_TRUNC
                         | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0), 0o644)
            try:
                os.write(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                         "thread": threading.current_thread().name, "since": time.time(),
                                         "command": " ".join(sys.argv)[:200]}).encode())
            finally:
                os.close(fd)
        except OSError:
            pass  # the owner note only improves a waiter's message
        return True

    def _holder(self) -> str:
        """Who holds the file lock, as the holder noted it ("another process" when unknown)."""
        try:
            fd = os.open(str(self.path) + ".lock.owner", os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
            try:
                info = json.loads(os.read(fd, 4096)) if stat.S_ISREG(os.fstat(fd).st_mode) else None
            finally:
                os.close(fd)
            if not isinstance(info, dict) or not isinstance(info.get("pid"), int):
                return "another process"
            since = info.get("since")
            held = f", holding it for {time.time() - since:.0f} s" if isinstance(since, (int, float)) else ""
            return (f"another process (process {info['pid']} on {str(info.get('host'))[:100]}, "
                    f"{str(info.get('command'))[:100]!r}{held})")
        except (OSError, ValueError):
            return "another process"


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_PathLock._forget_all)


@dataclass(frozen=True)
class AddResult:
    """What :meth:`KnowledgeBase.add_trials` did."""

    added: int
    duplicates: int


@dataclass
class TaskInfo:
    """One task of the knowledge base."""

    task_id: int
    name: str
    family: str
    kind: str
    meta_features: dict[str, float]
    space: SearchSpace | None
    objective_name: str
    direction: str
    provenance: dict[str, Any] = field(default_factory=dict)


def _clean_meta(meta: Mapping[str, Any] | None) -> dict[str, float]:
    if meta is None:
        return {}
    if not isinstance(meta, Mapping):
        raise InvalidTaskError(f"meta_features must be a dict of name to number, got {type(meta).__name__}")
    out: dict[str, float] = {}
    for key, value in meta.items():
        if not isinstance(key, str) or not key:
            raise InvalidTaskError(f"meta-feature names must be non-empty strings, got {key!r}")
        if value is None:
            continue
        if isinstance(value, bool):
            value = float(value)
        if not isinstance(value, (int, float, np.integer, np.floating)):
            raise InvalidTaskError(f"meta-feature {key!r} must be a number, got {value!r}")
        number = float(value)
        if math.isnan(number):
            continue  # missing stays missing, never 0
        if not math.isfinite(number):
            raise InvalidTaskError(f"meta-feature {key!r} must be finite, got {value!r}")
        out[key] = number
    return dict(sorted(out.items()))


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        number = float(value)
        return number if math.isfinite(number) else None
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def _dumps(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, str):
        json.loads(value)  # already JSON text: must parse
        return value
    return json.dumps(_jsonable(value), sort_keys=True, separators=(",", ":"))


#: Deepest nesting of JSON text (metrics, curves, provenance) the store keeps: every reader parses
#: it again, so a deeper value would fail there (RecursionError) instead of here.
MAX_JSON_DEPTH = 32


def _too_deep(texts: pa.Array, limit: int = MAX_JSON_DEPTH) -> int | None:
    """The index of the first JSON text nested deeper than ``limit`` (or unbalanced), else None.

    Vectorised: only texts with more than ``limit`` brackets are looked at; string literals
    are removed, then the innermost empty bracket pairs, one nesting level per pass.
    """
    import pyarrow.compute as pc

    if len(texts) == 0:
        return None
    texts = texts.cast(pa.string()) if texts.type != pa.string() else texts
    brackets = pc.add(pc.count_substring(texts, "["), pc.count_substring(texts, "{"))
    rows = np.flatnonzero(pc.fill_null(pc.greater(brackets, limit), False).to_numpy(zero_copy_only=False))
    if not len(rows):
        return None
    shape = pc.replace_substring_regex(texts.take(pa.array(rows)), r'"(?:[^"\\]|\\.)*"', "")
    shape = pc.replace_substring_regex(shape, r"[^\[\]{}]+", "")
    for _ in range(limit):
        shape = pc.replace_substring_regex(shape, r"\[\]|\{\}", "")
        left = pc.fill_null(pc.binary_length(shape), 0).to_numpy(zero_copy_only=False)
        if not left.any():
            return None
    return int(rows[int(np.argmax(left > 0))])


class KnowledgeBase:
    """A store of past trials with their tasks' meta-features.

    Args:
        path: A DuckDB file (created if missing), ``":memory:"``, or ``None`` for the
            user's default store (``$METAHP_KB`` or the user data directory), which is
            seeded from the Parquet shards bundled with metahp the first time it is opened
            for writing (also when the file already exists but never received them, and
            again, adding only what is new, when an upgrade ships a different bundle).
        read_only: Refuse writes (and leave an older schema unmigrated).
        lock_timeout: Seconds to wait for another process's write before giving up.

    Example:
        >>> from metahp import KnowledgeBase, SearchSpace, Float
        >>> kb = KnowledgeBase(":memory:")
        >>> space = SearchSpace([Float("learning_rate", 1e-5, 1e-1, log=True)])
        >>> _ = kb.add_task("demo", family="toy", space=space, meta_features={"model_params": 1e6})
        >>> kb.add_trials("demo", [{"learning_rate": 1e-3, "objective": 2.5}]).added
        1
        >>> kb.trials("demo")[["learning_rate", "objective"]].to_dict("records")
        [{'learning_rate': 0.001, 'objective': 2.5}]
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, *, read_only: bool = False,
                 lock_timeout: float = 120.0) -> None:
        from metahp._paths import bundled_kb_dir, default_kb_path

        seed_from_bundle = False
        if path is None:
            path = default_kb_path()
            seed_from_bundle = not read_only
        self.read_only = read_only
        self.lock_timeout = lock_timeout
        self._memory = str(path) == ":memory:"
        self.path: Path | None = None if self._memory else Path(path).expanduser().resolve()
        self._con: duckdb.DuckDBPyConnection | None = None
        self._thread_lock = threading.RLock()
        if self._memory:
            self._con = duckdb.connect(":memory:")
            create_schema(self._con)
            if seed_from_bundle:
                self._seed_from(bundled_kb_dir())
        else:
            assert self.path is not None
            _check_store_path(self.path, read_only)
            with self._connection(write=not read_only):  # create, check the version, migrate
                if seed_from_bundle:  # on this same connection: one open and one lock for the check
                    self._seed_from(bundled_kb_dir())

    # Connections ------------------------------------------------------------------------
    @contextmanager
    def _connection(self, write: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        if write and self.read_only:
            raise KnowledgeBaseError(
                f"knowledge base {self.path} is open read-only; open it without read_only to write"
            )
        if self._con is not None:
            with self._thread_lock:
                yield self._con
            return
        assert self.path is not None
        with _PathLock.for_path(self.path).hold(self, write) as con:
            try:
                yield con
            except duckdb.Error as exc:  # a store damaged outside metahp (a column or table dropped, ...)
                raise KnowledgeBaseError(f"knowledge base {self.path} failed: {type(exc).__name__}: {exc}; if the "
                                         "file was changed outside metahp, restore it from a backup") from exc

    def _open(self, write: bool) -> duckdb.DuckDBPyConnection:
        assert self.path is not None
        head = _read_head(self.path)
        exists = bool(head)
        if exists and head[8:12] != b"DUCK":
            raise KnowledgeBaseError(
                f"{self.path} is not a DuckDB file (maybe a bundle or another tool's file); "
                "give the path of a metahp knowledge base, or a new path to create one"
            )
        if not exists and self.read_only:
            raise KnowledgeBaseError(f"{self.path} is empty and the store is read-only")
        try:
            con = duckdb.connect(str(self.path), read_only=bool(exists and self.read_only))
        except duckdb.Error as exc:
            raise KnowledgeBaseError(f"cannot open knowledge base {self.path}: {exc}; check that the file and its "
                                     "folder are readable (and writable, unless you open it read_only=True)") from exc
        try:
            tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
            if not tables:
                if self.read_only:
                    raise KnowledgeBaseError(f"{self.path} is empty and the store is read-only")
                con.execute("BEGIN")
                create_schema(con)
                con.execute("COMMIT")
                return con
            if "metahp_meta" not in tables:
                raise KnowledgeBaseError(
                    f"{self.path} is a DuckDB file but not a metahp knowledge base (no metahp_meta table); "
                    "it was left untouched"
                )
            if not {"tasks", "trials"} <= tables:
                raise KnowledgeBaseError(f"{self.path} is a damaged metahp knowledge base (its tasks or trials table "
                                         "is gone); it was left untouched: restore it from a backup")
            rows = con.execute("SELECT value FROM metahp_meta WHERE key = 'schema_version'").fetchall()
            text = str(rows[0][0]) if rows else ""
            if not text.isdigit() or not 1 <= int(text) < 10_000:
                raise KnowledgeBaseError(
                    f"{self.path} has a damaged metahp_meta table (schema_version {text[:40]!r}); it was left "
                    "untouched: restore it from a backup, or export what it holds with another metahp"
                )
            version = int(text)
            if version > SCHEMA_VERSION:
                raise SchemaVersionError(
                    f"{self.path} was written by a newer metahp (schema {version}; this one reads up to "
                    f"{SCHEMA_VERSION}); upgrade metahp. The file was left untouched."
                )
            if version < SCHEMA_VERSION:
                if not write:
                    if self.read_only:
                        _read_only_views(con, version)
                        return con
                con.execute("BEGIN")
                try:
                    migrate(con, version)
                    con.execute("COMMIT")
                except Exception:
                    con.execute("ROLLBACK")
                    raise
            return con
        except MetaHPError:
            con.close()
            raise
        except (duckdb.Error, ValueError, KeyError, TypeError, IndexError) as exc:
            con.close()
            raise KnowledgeBaseError(f"{self.path} is a damaged metahp knowledge base ({type(exc).__name__}: {exc}); "
                                     "it was left untouched: restore it from a backup") from exc
        except BaseException:
            con.close()
            raise

    def _recall(self, key: str) -> Any:
        """A small answer kept from an earlier connection while the store files are unchanged (None: ask)."""
        if self.path is None or self._con is not None:
            return None
        return _PathLock.for_path(self.path).recall(key)

    def _remember(self, key: str, value: Any) -> None:
        if self.path is not None and self._con is None:
            _PathLock.for_path(self.path).remember(key, value)

    @contextmanager
    def session(self) -> Iterator[KnowledgeBase]:
        """Hold one connection (and the lock) across several operations.

        Example: ``with kb.session(): kb.add_trials(...); kb.add_trials(...)``.
        """
        with self._connection(write=not self.read_only):
            yield self

    @contextmanager
    def _transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with self._connection(write=True) as con:
            active: set[int] = _TRANSACTIONS.__dict__.setdefault("active", set())
            if id(con) in active:  # an enclosing transaction of this thread (another object, same file) commits
                yield con
                return
            con.execute("BEGIN TRANSACTION")
            active.add(id(con))
            try:
                con.execute("DELETE FROM metahp_meta WHERE key = 'content_hash'")  # the cached fingerprint
                yield con
            except BaseException:
                con.execute("ROLLBACK")
                raise
            finally:
                active.discard(id(con))
            con.execute("COMMIT")

    def close(self) -> None:
        """Release the in-memory connection (on-disk stores hold none between calls)."""
        if self._con is not None:
            self._con.close()
            self._con = None

    def __enter__(self) -> KnowledgeBase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"KnowledgeBase({str(self.path) if self.path else ':memory:'!r})"

    @property
    def schema_version(self) -> int:
        """The schema version of the store."""
        with self._connection() as con:
            rows = con.execute("SELECT value FROM metahp_meta WHERE key = 'schema_version'").fetchall()
        return int(rows[0][0]) if rows else 0

    # Tasks ------------------------------------------------------------------------------
    def add_task(self, name: str, *, family: str, kind: str = "", meta_features: Mapping[str, Any] | None = None,
                 space: SearchSpace | None = None, objective_name: str = "objective", direction: str = "minimize",
                 provenance: Mapping[str, Any] | str | None = None) -> int:
        """Add a task, or return the id of the task already stored under ``name``.

        Args:
            name: Unique task name.
            family: Group of tasks sharing a search space (what transfer happens within).
            kind: Free-form kind (``causal-lm``, ``tabular-classification``, ...).
            meta_features: Named floats describing the task; NaN or None means missing.
            space: The task's search space; trials are validated against it.
            objective_name: What the objective measures (``val_loss``, ``bleu``, ...).
            direction: ``minimize`` or ``maximize`` (stored values are minimised).
            provenance: Where the task comes from (a dict or a string).

        Raises:
            InvalidTaskError: Bad name, meta-features, direction, or a stored task of the
                same name with another family, space or objective.
        """
        with self._transaction() as con:
            return self._add_task(con, name, family=family, kind=kind, meta_features=meta_features, space=space,
                                  objective_name=objective_name, direction=direction, provenance=provenance)

    def _add_task(self, con: duckdb.DuckDBPyConnection, name: str, *, family: str, kind: str = "",
                  meta_features: Mapping[str, Any] | None = None, space: SearchSpace | None = None,
                  objective_name: str = "objective", direction: str = "minimize",
                  provenance: Mapping[str, Any] | str | None = None, created_at: datetime | None = None) -> int:
        meta, prov_text = _task_record(name, family=family, kind=kind, meta_features=meta_features, space=space,
                                       objective_name=objective_name, direction=direction, provenance=provenance)
        rows_ = con.execute(
            "SELECT task_id, family, space_signature, objective_name, direction FROM tasks WHERE name = ?", [name]
        ).fetchall()
        row = rows_[0] if rows_ else None
        signature = space.signature if space is not None else None
        if row is not None:
            task_id, old_family, old_sig, old_obj, old_dir = row
            if old_family != family or (signature is not None and old_sig is not None and old_sig != signature) \
                    or old_obj != objective_name or old_dir != direction:
                raise InvalidTaskError(
                    f"task {name!r} is already stored with family {old_family!r}, objective {old_obj!r} "
                    f"({old_dir}) and space {old_sig}; the new definition differs (family {family!r}, objective "
                    f"{objective_name!r} ({direction}), space {signature}). Use another task name."
                )
            return int(task_id)
        new_id = con.execute("SELECT coalesce(max(task_id), 0) + 1 FROM tasks").fetchall()[0][0]  # type: ignore[index]
        con.execute(
            "INSERT INTO tasks VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [new_id, name, family, kind, json.dumps(meta), space.to_json() if space is not None else None,
             signature, objective_name, direction, prov_text, created_at or _now()],
        )
        return int(new_id)

    def _add_tasks(self, con: duckdb.DuckDBPyConnection, items: Sequence[Mapping[str, Any]]) -> int:
        """Add many tasks (``add_task`` keyword dicts with ``name``) in one statement; return how many were new.

        Tasks already stored go through :meth:`_add_task`, which refuses a differing definition.
        """
        names = [item["name"] for item in items]
        if len(set(names)) != len(names):  # a name twice: the one-by-one path decides
            before = int(con.execute("SELECT count(*) FROM tasks").fetchall()[0][0])  # type: ignore[index]
            for item in items:
                self._add_task(con, **item)
            return int(con.execute("SELECT count(*) FROM tasks").fetchall()[0][0]) - before  # type: ignore[index]
        stored = {r[0]: r[1:] for r in con.execute(
            "SELECT name, family, space_signature, objective_name, direction FROM tasks WHERE list_contains(?, name)",
            [names]).fetchall()}
        rows: list[tuple[Any, ...]] = []
        for item in items:
            if item["name"] in stored:
                family, signature, objective_name, direction = stored[item["name"]]
                space = item.get("space")
                if (family, objective_name, direction) != (item["family"], item.get("objective_name", "objective"),
                                                           item.get("direction", "minimize")) \
                        or (space is not None and signature is not None and signature != space.signature):
                    self._add_task(con, **item)  # raises, saying what differs
                continue
            fields = {k: v for k, v in item.items() if k not in ("name", "created_at")}
            meta, prov_text = _task_record(item["name"], **{"kind": "", "meta_features": None, "space": None,
                                                            "objective_name": "objective", "direction": "minimize",
                                                            "provenance": None, **fields})
            space = item.get("space")
            rows.append((item["name"], item["family"], item.get("kind", ""), json.dumps(meta),
                         space.to_json() if space is not None else None, space.signature if space is not None else None,
                         item.get("objective_name", "objective"), item.get("direction", "minimize"), prov_text,
                         item.get("created_at") or _now()))
        if not rows:
            return 0
        first = int(con.execute("SELECT coalesce(max(task_id), 0) + 1 FROM tasks").fetchall()[0][0])  # type: ignore[index]
        columns = list(zip(*rows))
        table = pa.table({
            "task_id": pa.array(range(first, first + len(rows)), pa.int32()),
            **{key: pa.array(values, pa.string()) for key, values in zip(
                ("name", "family", "kind", "meta_features", "space", "space_signature", "objective_name", "direction",
                 "provenance"), columns[:9])},
            "created_at": pa.array(columns[9], pa.timestamp("us")),
        })
        con.register("_new_tasks", table)
        try:
            con.execute("INSERT INTO tasks SELECT * FROM _new_tasks")
        finally:
            con.unregister("_new_tasks")
        return len(rows)

    def _infos(self, con: duckdb.DuckDBPyConnection, names: Sequence[str]) -> dict[str, TaskInfo]:
        """The stored tasks among ``names``, by name, read in one query."""
        found = con.execute(
            "SELECT task_id, name, family, kind, meta_features, space, objective_name, direction, provenance "
            "FROM tasks WHERE list_contains(?, name)", [list(names)]).fetchall()
        spaces: dict[str, SearchSpace] = {}
        out: dict[str, TaskInfo] = {}
        for row in found:
            space = None
            if row[5]:
                space = spaces.get(row[5]) or spaces.setdefault(row[5], SearchSpace.from_json(row[5]))
            out[row[1]] = TaskInfo(task_id=int(row[0]), name=row[1], family=row[2], kind=row[3],
                                   meta_features=json.loads(row[4]), space=space, objective_name=row[6],
                                   direction=row[7], provenance=json.loads(row[8]))
        return out

    def _add_trials_many(self, con: duckdb.DuckDBPyConnection, trials: pd.DataFrame, *, task_column: str = "_task",
                         source: str = "user") -> AddResult:
        """Add the trials of many stored tasks at once: one statement per search space, not per task.

        Args:
            con: The open connection (inside a transaction).
            trials: Rows as :meth:`add_trials` takes them, with the task's name in ``task_column``;
                ``created_at`` and ``metahp_version`` columns (a bundle's) are used as given.
            task_column: The column naming each row's task.
            source: Provenance of rows that carry no ``source`` of their own.
        """
        if not len(trials):
            return AddResult(0, 0)
        names = pd.Categorical(trials[task_column].astype(str))
        infos = self._infos(con, list(names.categories))
        missing = [name for name in names.categories if name not in infos]
        if missing:
            raise UnknownTaskError(f"no task {missing[0]!r} in the knowledge base; add it first")
        frame = trials.drop(columns=[task_column]).reset_index(drop=True)
        codes = np.asarray(names.codes)
        signatures = [space.signature if (space := infos[n].space) is not None else "" for n in names.categories]
        signature = np.asarray(signatures, dtype=str)[codes]
        added = duplicates = 0
        for sig in pd.unique(signature):
            rows = np.flatnonzero(signature == sig)
            part = frame.iloc[rows].reset_index(drop=True)
            used, index = np.unique(codes[rows], return_inverse=True)
            extra: dict[str, Any] = {}
            if "created_at" in part:
                extra["created_at"] = part.pop("created_at")
            if "metahp_version" in part:
                extra["metahp_version"] = list(part.pop("metahp_version"))
            group = [infos[names.categories[c]] for c in used]
            space = group[0].space
            # Parameters of other spaces in the batch are all missing here: not this group's columns.
            foreign = [c for c in part.columns if c not in _RESERVED and (space is None or c not in space)
                       and part[c].isna().all()]
            result = self._add_trials_of(con, group, part.drop(columns=foreign), task_index=index,
                                         source=source, **extra)
            added += result.added
            duplicates += result.duplicates
        return AddResult(added=added, duplicates=duplicates)

    def _resolve(self, con: duckdb.DuckDBPyConnection, task: TaskRef) -> TaskInfo:
        if hasattr(task, "name") and not isinstance(task, (str, int)):
            task = task.name
        if isinstance(task, bool) or not isinstance(task, (str, int, np.integer)):
            raise UnknownTaskError(f"a task is given by its name or id, got {task!r}")
        column = "name" if isinstance(task, str) else "task_id"
        found = con.execute(
            "SELECT task_id, name, family, kind, meta_features, space, objective_name, direction, provenance "
            f"FROM tasks WHERE {column} = ?", [task if isinstance(task, str) else int(task)]
        ).fetchall()
        row = found[0] if found else None
        if row is None:
            names = [r[0] for r in con.execute("SELECT name FROM tasks ORDER BY name LIMIT 8").fetchall()]
            hint = f" Known tasks include: {', '.join(names)}." if names else " The knowledge base has no tasks."
            raise UnknownTaskError(f"no task {task!r} in the knowledge base.{hint} See `metahp kb tasks`.")
        return TaskInfo(
            task_id=int(row[0]), name=row[1], family=row[2], kind=row[3], meta_features=json.loads(row[4]),
            space=SearchSpace.from_json(row[5]) if row[5] else None, objective_name=row[6], direction=row[7],
            provenance=json.loads(row[8]),
        )

    def task_info(self, task: TaskRef) -> TaskInfo:
        """The stored description of one task (by name or id)."""
        with self._connection() as con:
            return self._resolve(con, task)

    def has_task(self, task: TaskRef) -> bool:
        """Whether the task (by name or id) is stored."""
        try:
            self.task_info(task)
        except UnknownTaskError:
            return False
        return True

    def tasks(self, family: str | None = None) -> pd.DataFrame:
        """Tasks with their meta-features, one row each.

        Columns: ``task_id, name, family, kind, objective_name, direction, space_signature,
        n_trials, meta_features`` (a dict) and one column per meta-feature (NaN where missing).
        """
        sql = ("SELECT t.task_id, t.name, t.family, t.kind, t.objective_name, t.direction, t.space_signature, "
               "coalesce(c.n, 0) AS n_trials, t.meta_features FROM tasks t "
               "LEFT JOIN (SELECT task_id, count(*) AS n FROM trials GROUP BY task_id) c USING (task_id)")
        params: list[Any] = []
        if family is not None:
            sql += " WHERE t.family = ?"
            params.append(family)
        with self._connection() as con:
            frame = con.execute(sql + " ORDER BY t.task_id", params).df()
        frame["meta_features"] = [json.loads(m) for m in frame["meta_features"]]
        frame["n_trials"] = frame["n_trials"].astype("int64")
        meta = pd.DataFrame(list(frame["meta_features"]), index=frame.index)
        extra = [c for c in meta.columns if c not in frame.columns]
        return pd.concat([frame, meta[extra].astype(float)], axis=1)

    def features(self) -> Features:
        """Every meta-feature (range, how many tasks carry it) and every family (regime, objective, space).

        See :class:`metahp.kb._features.Features`; ``metahp kb features`` prints it.
        """
        from metahp.kb._features import features

        return features(self)

    def families(self) -> list[str]:
        """Names of the task families, sorted."""
        known = self._recall("families")
        if known is not None:
            return list(known)
        with self._connection() as con:
            names = [r[0] for r in con.execute("SELECT DISTINCT family FROM tasks ORDER BY family").fetchall()]
            self._remember("families", tuple(names))
        return names

    def parameter_names(self) -> set[str]:
        """Names of every parameter that some task's stored space holds."""
        with self._connection() as con:
            rows = con.execute("SELECT DISTINCT space FROM tasks WHERE space IS NOT NULL").fetchall()
        names: set[str] = set()
        for (text,) in rows:
            names.update(SearchSpace.from_json(text).names)
        return names

    def space(self, task_or_family: TaskRef) -> SearchSpace:
        """The search space of a task, or the most common space among a family's tasks.

        Raises:
            UnknownTaskError: Neither a task nor a family of that name, or no space stored.
        """
        with self._connection() as con:
            if isinstance(task_or_family, str):
                rows = con.execute(
                    "SELECT space, count(*) AS n FROM tasks WHERE family = ? AND space IS NOT NULL "
                    "GROUP BY space ORDER BY n DESC, space LIMIT 1", [task_or_family]
                ).fetchall()
                if rows:
                    return SearchSpace.from_json(rows[0][0])
            info = self._resolve(con, task_or_family)
        if info.space is None:
            raise UnknownTaskError(f"task {info.name!r} has no stored search space")
        return info.space

    # Trials -----------------------------------------------------------------------------
    def add_trials(self, task: TaskRef, trials: pd.DataFrame | Sequence[Mapping[str, Any]], *,
                   source: str = "user") -> AddResult:
        """Add trials of one task in bulk, in one transaction.

        Args:
            task: The task's name or id.
            trials: A DataFrame or records, each with either a ``config`` dict or one
                column per parameter, plus ``objective`` in the task's own direction
                (missing only for ``failed`` or ``diverged`` trials) and optionally
                ``status``, ``fidelity`` (0-1], ``cost`` (seconds), ``metrics`` (dict),
                ``curve`` (list of ``[step, value]``), ``seed``, ``device``, ``source``,
                ``study_id``.
            source: Provenance of rows that carry no ``source`` of their own.

        Returns:
            How many trials were added and how many were already stored.

        Raises:
            UnknownTaskError: The task is not stored.
            InvalidConfigError: A configuration is outside the task's space.
            InvalidObjectiveError: A missing, NaN or infinite objective on an ok trial.
        """
        with self._transaction() as con:
            return self._add_trials(con, task, trials, source=source)

    def _add_trials(self, con: duckdb.DuckDBPyConnection, task: TaskRef,
                    trials: pd.DataFrame | Sequence[Mapping[str, Any]], *, source: str = "user",
                    created_at: Any = None, metahp_version: Any = None) -> AddResult:
        info = self._resolve(con, task)
        return self._add_trials_of(con, [info], trials, source=source, created_at=created_at,
                                   metahp_version=metahp_version)

    def _add_trials_of(self, con: duckdb.DuckDBPyConnection, infos: Sequence[TaskInfo],
                       trials: pd.DataFrame | Sequence[Mapping[str, Any]], *, task_index: Any = None,
                       source: str = "user", created_at: Any = None, metahp_version: Any = None) -> AddResult:
        """Add the trials of several tasks that share one space, in one statement (bulk imports).

        ``task_index[i]`` is the position in ``infos`` of row ``i``'s task (all rows: the first task
        when None). One statement for many tasks is what makes seeding a thousand tasks take seconds.
        """
        frame = _as_frame(trials)
        if len(frame) == 0:
            return AddResult(0, 0)
        signatures = {i.space.signature if i.space is not None else None for i in infos}
        if len(signatures) != 1:
            raise InvalidTaskError(f"trials of tasks with different spaces cannot be added together: {signatures}")
        params = _param_frame(frame, infos[0].space)
        n = len(frame)
        index = np.zeros(n, dtype=np.int64) if task_index is None else np.asarray(task_index, dtype=np.int64)
        if index.shape != (n,) or (n and (index.min() < 0 or index.max() >= len(infos))):
            raise InvalidTaskError("task_index must give each row's position among the tasks")
        columns: dict[str, Any] = {}
        status = frame["status"].astype(object) if "status" in frame else pd.Series(["ok"] * n, index=frame.index)
        status = status.where(status.notna(), "ok")
        bad = ~status.isin(STATUSES)
        if bad.any():
            raise InvalidObjectiveError(
                f"status must be one of {STATUSES}; row {int(np.argmax(bad.to_numpy()))} has {status[bad].iloc[0]!r}"
            )
        if "objective" not in frame:
            raise InvalidObjectiveError("trials need an 'objective' column (the measured value)")
        objective = _numeric(frame["objective"], "objective")
        finite = np.isfinite(objective)
        # A pruned run may have stopped before any finite report (a NaN at its first step).
        may_miss = status.isin(("failed", "diverged", "pruned")).to_numpy()
        broken = ~finite & ~(may_miss & np.isnan(objective))
        if broken.any():
            row = int(np.argmax(broken))
            raise InvalidObjectiveError(
                f"trial {row} of task {infos[int(index[row])].name!r} has objective {frame['objective'].iloc[row]!r} "
                f"with status "
                f"{status.iloc[row]!r}; objectives must be finite numbers (use status 'failed' or 'diverged' "
                "for runs that produced none)"
            )
        objective = np.where(finite, objective, np.nan)
        # + 0.0 turns -0.0 into 0.0: the store keeps no sign on zero, and the content hash must not either.
        maximize = np.array([i.direction == "maximize" for i in infos])[index]
        columns["objective"] = np.where(maximize, -objective, objective) + 0.0
        columns["status"] = status.astype(str).to_numpy()
        fidelity = _numeric(frame["fidelity"], "fidelity") if "fidelity" in frame else np.ones(n)
        fidelity = np.where(np.isnan(fidelity), 1.0, fidelity)
        if ((fidelity <= 0) | (fidelity > 1)).any():
            raise InvalidObjectiveError("fidelity must lie in (0, 1] (the fraction of the full budget trained)")
        columns["fidelity"] = fidelity
        cost = _numeric(frame["cost"], "cost") if "cost" in frame else np.full(n, np.nan)
        if (cost[~np.isnan(cost)] < 0).any() or np.isinf(cost).any():
            raise InvalidObjectiveError("cost must be a finite, non-negative number of seconds")
        columns["cost"] = cost
        for name in ("metrics", "curve"):
            if name not in frame:
                columns[name] = pa.nulls(n, pa.string())
                continue
            try:
                columns[name] = pa.array([_dumps(v) for v in frame[name]], pa.string())
            except (TypeError, ValueError, RecursionError, OverflowError) as exc:
                raise InvalidObjectiveError(f"column {name!r} must hold JSON-serialisable values: "
                                            f"{type(exc).__name__}: {exc}") from exc
            deep = _too_deep(columns[name])
            if deep is not None:
                raise InvalidObjectiveError(f"column {name!r} of row {deep} is nested deeper than {MAX_JSON_DEPTH} "
                                            "levels (or its brackets do not balance); flatten it")
        if "seed" in frame:
            try:
                seed = pd.to_numeric(frame["seed"], errors="coerce")
            except (OverflowError, TypeError) as exc:
                raise InvalidObjectiveError(f"seed must be an integer below 2**63: {exc}") from exc
            if (seed.isna() & frame["seed"].notna()).any() or (seed.dropna() % 1 != 0).any():
                raise InvalidObjectiveError("seed must be an integer")
            if (seed.dropna().abs() >= 2.0**63).any():
                raise InvalidObjectiveError("seed must be an integer of magnitude below 2**63")
            columns["seed"] = pa.array(seed.astype("Int64"), pa.int64())
        else:
            columns["seed"] = pa.nulls(n, pa.int64())
        for name, default in (("device", None), ("source", source), ("study_id", None)):
            if name not in frame:
                columns[name] = pa.nulls(n, pa.string()) if default is None else pa.repeat(default, n)
                continue
            values = frame[name].astype(object)
            values = values.where(values.notna(), default)
            columns[name] = pa.array([None if v is None else str(v)[:_MAX_NAME] for v in values], pa.string())
        columns["created_at"] = (pa.array(pd.to_datetime(created_at).to_numpy().astype("datetime64[us]"))
                                 if created_at is not None else pa.repeat(pa.scalar(_now(), pa.timestamp("us")), n))
        columns["metahp_version"] = (pa.array(list(metahp_version), pa.string()) if metahp_version is not None
                                     else pa.repeat(_version(), n))
        arrays: dict[str, Any] = {}
        for i, c in enumerate(params.columns):
            arrays[f"p_{i}"] = pa.array(params[c].to_numpy() if params[c].dtype != object else list(params[c]))
        per_task = {"_task_id": [i.task_id for i in infos], "_task_name": [i.name for i in infos],
                    "_objective_name": [i.objective_name for i in infos], "_direction": [i.direction for i in infos]}
        for key, values in per_task.items():
            columns[key] = pa.array(values).take(pa.array(index))
        table = pa.table({**arrays, **columns, "_row": np.arange(n)})
        as_json = set(params.attrs.get("json_columns", ()))
        struct = ", ".join(f"{_sql_str(c)} := " + (f"CAST(p_{i} AS JSON)" if c in as_json else f"p_{i}")
                           for i, c in enumerate(params.columns))
        config_expr = f"to_json(struct_pack({struct}))" if len(params.columns) else "'{}'"
        con.register("_incoming", table)
        try:
            # One statement: hash, drop duplicates inside the batch (first occurrence wins) and
            # those already stored; the content hash covers the task name, so only rows of the
            # same task can collide.
            added = con.execute(f"""
                INSERT INTO trials (trial_id, task_id, config, objective, objective_name, direction, status,
                                    fidelity, cost, metrics, curve, seed, device, source, metahp_version,
                                    created_at, content_hash, study_id, contributed)
                WITH hashed AS (
                    SELECT *, md5(concat_ws('|', _task_name, config, coalesce(CAST(objective AS VARCHAR), 'null'),
                                            status,
                                            CAST(fidelity AS VARCHAR), coalesce(CAST(seed AS VARCHAR), ''),
                                            coalesce(study_id, ''))) AS content_hash
                    FROM (SELECT _row, _task_id, _task_name, _objective_name, _direction, {config_expr} AS config,
                                 objective, status, fidelity, cost, metrics, curve, seed, device, source, study_id,
                                 created_at, metahp_version FROM _incoming)),
                firsts AS (
                    SELECT * FROM hashed
                    QUALIFY row_number() OVER (PARTITION BY _task_id, content_hash ORDER BY _row) = 1)
                SELECT (SELECT coalesce(max(trial_id), 0) FROM trials) + row_number() OVER (ORDER BY _row),
                       _task_id, config, objective, _objective_name, _direction, status, fidelity, cost,
                       metrics, curve, seed, device, source, metahp_version, created_at, content_hash, study_id, false
                FROM firsts h
                WHERE NOT EXISTS (SELECT 1 FROM trials t WHERE t.task_id = h._task_id
                                  AND t.content_hash = h.content_hash)
                ORDER BY _row
            """).fetchall()[0][0]
        finally:
            con.unregister("_incoming")
        added = int(added)
        return AddResult(added=added, duplicates=n - added)

    def trials(self, task: TaskRef | None = None, *, family: str | None = None,
               exclude_task: TaskRef | Sequence[TaskRef] | None = None, status: str | Sequence[str] | None = None,
               study_id: str | None = None) -> pd.DataFrame:
        """Trials as a frame, one column per parameter and the minimised objective in ``objective``.

        Args:
            task: Only this task (name or id).
            family: Only tasks of this family.
            exclude_task: Leave out these tasks (name, id, or a list of them).
            status: Only trials with this status (or these statuses).
            study_id: Only trials written by this study.

        Returns:
            Columns ``trial_id, task_id, task, family``, the parameters, ``objective``
            (minimised), ``value`` (in the task's own direction), ``objective_name,
            direction, status, fidelity, cost, metrics, curve, seed, device, source,
            study_id, contributed, metahp_version, created_at, content_hash, config``.
        """
        where: list[str] = []
        args: list[Any] = []
        with self._connection() as con:
            if task is not None:
                where.append("r.task_id = ?")
                args.append(self._resolve(con, task).task_id)
            if family is not None:
                where.append("k.family = ?")
                args.append(family)
            if exclude_task is not None:
                items = [exclude_task] if isinstance(exclude_task, (str, int)) or hasattr(exclude_task, "name") \
                    else list(exclude_task)
                ids = [self._resolve(con, t).task_id for t in items] if items else []
                if ids:
                    where.append(f"r.task_id NOT IN ({', '.join('?' * len(ids))})")
                    args.extend(ids)
            if status is not None:
                statuses = [status] if isinstance(status, str) else list(status)
                where.append(f"r.status IN ({', '.join('?' * len(statuses))})")
                args.extend(statuses)
            if study_id is not None:
                where.append("r.study_id = ?")
                args.append(study_id)
            sql = ("SELECT r.trial_id, r.task_id, k.name AS task, k.family, r.config, r.objective, "
                   "r.objective_name, r.direction, r.status, r.fidelity, r.cost, r.metrics, r.curve, r.seed, "
                   "r.device, r.source, r.study_id, r.contributed, r.metahp_version, r.created_at, r.content_hash "
                   "FROM trials r JOIN tasks k USING (task_id)")
            if where:
                sql += " WHERE " + " AND ".join(where)
            frame = con.execute(sql + " ORDER BY r.trial_id", args).df()
        return _expand(frame)

    def count_trials(self, task: TaskRef | None = None) -> int:
        """Number of trials stored (of one task, or in all)."""
        with self._connection() as con:
            if task is None:
                return int(con.execute("SELECT count(*) FROM trials").fetchall()[0][0])  # type: ignore[index]
            task_id = self._resolve(con, task).task_id
            return int(con.execute("SELECT count(*) FROM trials WHERE task_id = ?",  # type: ignore[index]
                                   [task_id]).fetchall()[0][0])

    def content_hash(self) -> str:
        """A fingerprint of everything stored; it changes whenever a task or trial is added.

        It covers every task's name, family, kind, objective name, direction, meta-features
        and space, and every trial's content hash (task, configuration, objective, status,
        fidelity, seed, study): two stores that would teach a meta-model different things
        never share it, so caches keyed by it (``metahp.meta.fit_meta``) cannot mix them up.

        It is computed from the rows' content hashes (so equal contents give equal
        fingerprints across stores) and kept in the store until the next write, so asking
        again is one small query, and asking again while the file is unchanged (no write from any
        process since) opens nothing.
        """
        known = self._recall("content_hash")
        if known is not None:
            return str(known)
        with self._connection(write=not self.read_only) as con:
            cached = con.execute("SELECT value FROM metahp_meta WHERE key = 'content_hash'").fetchall()
            if cached:
                self._remember("content_hash", str(cached[0][0]))
                return str(cached[0][0])
            # Everything that changes what a meta-model learns: each task's name, family, kind,
            # objective, direction, meta-features and space, and each trial's own content hash.
            row = con.execute(
                "SELECT (SELECT count(*) FROM trials), (SELECT coalesce(bit_xor(hash(content_hash)), 0) FROM trials), "
                "(SELECT count(*) FROM tasks), (SELECT coalesce(bit_xor(hash(concat_ws(chr(31), name, family, kind, "
                "objective_name, direction, meta_features, coalesce(space, '')))), 0) FROM tasks)"
            ).fetchall()[0]
            value = "v2-" + "-".join(str(v) for v in row)
            if not self.read_only:
                con.execute("INSERT INTO metahp_meta VALUES ('content_hash', ?) "
                            "ON CONFLICT (key) DO UPDATE SET value = excluded.value", [value])
            self._remember("content_hash", value)
        return value

    def stats(self) -> dict[str, Any]:
        """Counts of tasks and trials, by family and by status, and where the store lives."""
        with self._connection() as con:
            fams = con.execute(
                "SELECT k.family, count(DISTINCT k.task_id), count(r.trial_id) FROM tasks k "
                "LEFT JOIN trials r USING (task_id) GROUP BY k.family ORDER BY k.family"
            ).fetchall()
            statuses = dict(con.execute("SELECT status, count(*) FROM trials GROUP BY status ORDER BY status")
                            .fetchall())
            n_tasks = con.execute("SELECT count(*) FROM tasks").fetchall()[0][0]  # type: ignore[index]
            n_trials = con.execute("SELECT count(*) FROM trials").fetchall()[0][0]  # type: ignore[index]
            sources = dict(con.execute(
                "SELECT split_part(source, ':', 1), count(*) FROM trials GROUP BY 1 ORDER BY 2 DESC").fetchall())
            version = con.execute("SELECT value FROM metahp_meta WHERE key = 'schema_version'").fetchall()[0][0]  # type: ignore[index]
        return {
            "path": str(self.path) if self.path else ":memory:",
            "schema_version": int(version),
            "tasks": int(n_tasks),
            "trials": int(n_trials),
            "families": {f: {"tasks": int(t), "trials": int(n)} for f, t, n in fams},
            "status": {k: int(v) for k, v in statuses.items()},
            "sources": {k: int(v) for k, v in sources.items()},
            "size_bytes": self.path.stat().st_size if self.path and self.path.exists() else None,
        }

    # Exchange ---------------------------------------------------------------------------
    def export(self, path: str | os.PathLike[str], tasks: Sequence[TaskRef] | None = None, *,
               contributed_only: bool = False) -> Path:
        """Write a Parquet bundle (tasks, trials, manifest with schema version and hashes).

        Args:
            path: The bundle folder to write (created; must be empty or absent).
            tasks: Only these tasks (names or ids); all by default.
            contributed_only: Only trials marked by :meth:`contribute`.
        """
        from metahp.kb.bundle import write_bundle

        return write_bundle(self, Path(path), tasks=tasks, contributed_only=contributed_only)

    def import_(self, path: str | os.PathLike[str], *, max_trials: int | None = None) -> ImportResult:
        """Add a bundle written by :meth:`export`; only what is new is added.

        Args:
            path: The bundle folder.
            max_trials: Refuse bundles of more trials (default ``metahp.kb.bundle.MAX_TRIALS``,
                five million); checked on the files' metadata before any row is read.

        Raises:
            CorruptBundleError: Missing, truncated, altered, foreign or oversized files.
            SchemaVersionError: A bundle from a newer schema.
        """
        from metahp.kb.bundle import read_bundle

        return read_bundle(self, Path(path), max_trials=max_trials)

    def import_source(self, source: str, path: str | os.PathLike[str], **options: Any) -> ImportResult:
        """Import a public meta-dataset or a results table (see ``metahp kb import --help``).

        Args:
            source: One of ``metahp.kb.importers.IMPORTERS`` (``steplaw``, ``nmt``,
                ``hpobench-mlp``, ``fcnet``, ``svm``, ``table``).
            path: The file or folder to read.
            **options: The importer's options (for ``table``: ``family``, ``task_cols``,
                ``param_cols``, ``objective``, ``direction``, ``meta_cols``, ``rename``, ``aliases``).
        """
        from metahp.errors import ImportSourceError, MetaHPError
        from metahp.kb.bundle import ImportResult
        from metahp.kb.importers import IMPORTERS

        if source not in IMPORTERS:
            raise ImportSourceError(f"unknown source {source!r}; choose one of {sorted(IMPORTERS)}")
        try:
            imported = IMPORTERS[source](Path(path), **options)
        except MetaHPError:
            raise
        except (ValueError, TypeError, KeyError, IndexError, EOFError, OSError) as exc:
            # The source is untrusted input: whatever it trips in a reader is a typed error, not a crash.
            raise ImportSourceError(f"{source} importer cannot read {str(path)!r}: {type(exc).__name__}: {exc}; "
                                    "check the file and the importer's options") from exc
        result = ImportResult()
        with self._transaction() as con:
            result.added_tasks = self._add_tasks(con, [
                {"name": item.name, "family": item.family, "kind": item.kind, "meta_features": item.meta_features,
                 "space": item.space, "objective_name": item.objective_name, "direction": item.direction,
                 "provenance": item.provenance} for item in imported])
            frames = [item.trials.assign(_task=item.name) for item in imported if len(item.trials)]
            trials = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
            added = self._add_trials_many(con, trials, source=f"import:{source}")
            result.added_trials += added.added
            result.duplicate_trials += added.duplicates
        return result

    def contribute(self, study_or_task: Any) -> int:
        """Mark a study's (or a task's) trials for export with ``export(..., contributed_only=True)``.

        Returns:
            How many trials were marked.
        """
        with self._transaction() as con:
            study_id = getattr(study_or_task, "study_id", None)
            where: str
            args: list[Any]
            if study_id is not None:
                where, args = "study_id = ?", [str(study_id)]
            else:
                target = getattr(study_or_task, "task_name", study_or_task)
                where, args = "task_id = ?", [self._resolve(con, target).task_id]
            con.execute(f"UPDATE trials SET contributed = true WHERE {where}", args)
            return int(con.execute(f"SELECT count(*) FROM trials WHERE {where}", args).fetchall()[0][0])

    def _seed_from(self, folder: Path) -> None:
        """Import the bundle in ``folder`` unless this store already holds this very bundle.

        The manifest's digest is kept under ``seeded_bundle`` in ``metahp_meta``, so the
        default store is seeded once per shipped bundle, whether its file is new or was
        made earlier by something that never seeded it (an empty store recommends
        literature defaults only).
        """
        from metahp.kb.bundle import _open_regular

        manifest = folder / "manifest.json"
        if not folder.is_dir() or not manifest.exists():
            return
        try:
            with _open_regular(manifest, "bundle manifest") as fh:  # never blocks on a FIFO
                digest = hashlib.sha256(fh.read(1 << 20)).hexdigest()
        except MetaHPError as exc:
            warnings.warn(f"could not load the bundled knowledge base from {folder}: {exc}", stacklevel=3)
            return
        with self._connection() as con:
            done = con.execute("SELECT value FROM metahp_meta WHERE key = 'seeded_bundle'").fetchall()
        if done and done[0][0] == digest:
            return
        try:
            self.import_(folder)
        except Exception as exc:  # the user's store must open even if the shipped seed is damaged
            warnings.warn(f"could not load the bundled knowledge base from {folder}: {exc}", stacklevel=3)
            return
        with self._connection(write=True) as con:
            con.execute("INSERT INTO metahp_meta VALUES ('seeded_bundle', ?) "
                        "ON CONFLICT (key) DO UPDATE SET value = excluded.value", [digest])


def _task_record(name: Any, *, family: Any, kind: Any, meta_features: Mapping[str, Any] | None, space: Any,
                 objective_name: Any, direction: Any, provenance: Mapping[str, Any] | str | None
                 ) -> tuple[dict[str, float], str]:
    """Check a task's fields; return its cleaned meta-features and its provenance as JSON text."""
    for label, text in (("name", name), ("family", family), ("objective_name", objective_name)):
        if not isinstance(text, str) or not text.strip() or len(text) > _MAX_NAME:
            raise InvalidTaskError(f"task {label} must be a non-empty string of at most {_MAX_NAME} characters, "
                                   f"got {text!r}")
    if not isinstance(kind, str) or len(kind) > _MAX_NAME:
        raise InvalidTaskError(f"task kind must be a string, got {kind!r}")
    if direction not in DIRECTIONS:
        raise InvalidTaskError(f"direction must be 'minimize' or 'maximize', got {direction!r}")
    if space is not None and not isinstance(space, SearchSpace):
        raise InvalidTaskError(f"space must be a metahp.SearchSpace, got {type(space).__name__}")
    meta = _clean_meta(meta_features)
    prov = {"note": provenance} if isinstance(provenance, str) else dict(provenance or {})
    try:
        prov_text = _dumps(prov) or "{}"
    except (TypeError, ValueError, RecursionError) as exc:
        raise InvalidTaskError(f"provenance must be JSON-serialisable: {type(exc).__name__}: {exc}") from exc
    if _too_deep(pa.array([prov_text])) is not None:
        raise InvalidTaskError(f"provenance is nested deeper than {MAX_JSON_DEPTH} levels; flatten it")
    return meta, prov_text


def _read_only_views(con: duckdb.DuckDBPyConnection, version: int) -> None:
    """Let a read-only connection to an older, unmigrated store read it as the current schema.

    The file is not changed: temporary views shadow the old tables with the columns later
    versions added, at the values their migrations give old rows.
    """
    database = _sql_str(con.execute("SELECT current_database()").fetchall()[0][0])  # type: ignore[index]
    if version < 2:
        con.execute("CREATE TEMP VIEW trials AS SELECT *, CAST(NULL AS VARCHAR) AS study_id, false AS contributed "
                    f"FROM {database}.main.trials")


# Frame helpers ------------------------------------------------------------------------------

def _sql_str(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _as_frame(trials: pd.DataFrame | Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    if isinstance(trials, pd.DataFrame):
        frame = trials.reset_index(drop=True)
    elif isinstance(trials, Sequence) and not isinstance(trials, (str, bytes)):
        if not all(isinstance(r, Mapping) for r in trials):
            raise InvalidConfigError("trials must be a DataFrame or a list of dicts")
        frame = pd.DataFrame(list(trials))
    else:
        raise InvalidConfigError(f"trials must be a DataFrame or a list of dicts, got {type(trials).__name__}")
    if "config" in frame:
        try:
            configs = [json.loads(c) if isinstance(c, str) else ({} if _is_missing(c) else c)
                       for c in frame["config"]]
        except (ValueError, RecursionError) as exc:
            raise InvalidConfigError(f"the 'config' column must hold JSON objects of parameter name to value: "
                                     f"{type(exc).__name__}: {exc}") from exc
        if not all(isinstance(c, Mapping) for c in configs):
            raise InvalidConfigError("the 'config' column must hold dicts of parameter name to value")
        expanded = pd.DataFrame(configs, index=frame.index)
        frame = frame.drop(columns=["config"])
        for column in expanded.columns:
            if column in frame:
                both = expanded[column].notna() & frame[column].notna()
                if both.any():
                    raise InvalidConfigError(f"parameter {column!r} appears both in 'config' and as a column "
                                             f"(row {int(np.argmax(both.to_numpy()))})", parameter=column)
                frame[column] = expanded[column].combine_first(frame[column])
            else:
                frame[column] = expanded[column]
    return frame


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _numeric(series: pd.Series, name: str) -> np.ndarray:
    try:
        values = pd.to_numeric(series, errors="coerce")
    except (OverflowError, TypeError) as exc:  # an int of hundreds of digits is no float
        raise InvalidObjectiveError(f"{name} must be a finite number: {exc}") from exc
    bad = values.isna() & series.notna()
    if bad.any():
        row = int(np.argmax(bad.to_numpy()))
        raise InvalidObjectiveError(f"{name} must be numeric; row {row} has {series.iloc[row]!r}")
    return values.to_numpy(dtype=float, na_value=np.nan)


def _param_frame(frame: pd.DataFrame, space: SearchSpace | None) -> pd.DataFrame:
    """Validate parameter columns (vectorised) and return them in canonical types, sorted by name."""
    names = [c for c in frame.columns if c not in _RESERVED]
    folded: dict[str, str] = {}
    for c in names:
        if not isinstance(c, str):
            raise InvalidConfigError(f"parameter names must be strings, got {c!r}", parameter=str(c))
        if c.lower() in folded:  # DuckDB's struct keys ignore case: such a pair could never be stored
            raise InvalidConfigError(f"parameters {folded[c.lower()]!r} and {c!r} differ only by case; rename one",
                                     parameter=c)
        folded[c.lower()] = c
    if space is None:
        out = frame[sorted(names)].copy()
        for c in out.columns:
            if out[c].dtype == object:
                if not all(isinstance(v, (str, bool, int, float, type(None))) for v in out[c]):
                    raise InvalidConfigError(f"parameter {c!r} must hold numbers, strings or booleans", parameter=c)
                if any(isinstance(v, int) and not isinstance(v, bool) and abs(v) >= 2**63 for v in out[c]):
                    raise InvalidConfigError(f"parameter {c!r} holds an integer too large to store (|v| >= 2**63)",
                                             parameter=c)
                out[c] = [v + 0.0 if isinstance(v, float) else v for v in out[c]]  # -0.0 is 0.0
            elif out[c].dtype.kind == "f":
                if not np.isfinite(out[c].to_numpy(dtype=float, na_value=0.0)).all():
                    raise InvalidConfigError(f"parameter {c!r} must be finite", parameter=c)
                out[c] = out[c] + 0.0
        return out
    unknown = [c for c in names if c not in space]
    if unknown:
        raise InvalidConfigError(
            f"parameter(s) {unknown} are not in the task's space {space.names}", parameter=str(unknown[0])
        )
    out = pd.DataFrame(index=frame.index)
    json_columns: list[str] = []
    for name in sorted(space.names):
        param = space[name]
        if name not in frame:
            if param.default is None:
                raise InvalidConfigError(f"parameter {name!r} is missing; allowed: {param.describe()}", parameter=name)
            out[name] = [param.default] * len(frame)
            continue
        column = frame[name]
        if column.isna().any():
            raise InvalidConfigError(f"parameter {name!r} is missing in row {int(np.argmax(column.isna()))}",
                                     parameter=name)
        if isinstance(param, Categorical):
            out[name] = _check_categorical(param, column)
            if not _homogeneous(param.choices):
                out[name] = [json.dumps(v) for v in out[name]]
                json_columns.append(name)
            continue
        if column.dtype == bool or (column.dtype == object
                                    and column.map(lambda v: isinstance(v, (bool, np.bool_))).any()):
            raise InvalidConfigError(f"parameter {name!r} must be a number, got booleans", parameter=name)
        try:
            values = pd.to_numeric(column, errors="coerce")
        except (OverflowError, TypeError) as exc:  # an int of hundreds of digits is no float
            raise InvalidConfigError(f"parameter {name!r} holds a number too large for a float: {exc}; allowed: "
                                     f"{param.describe()}", parameter=name) from exc
        if values.isna().any():
            row = int(np.argmax(values.isna()))
            raise InvalidConfigError(f"parameter {name!r} must be a number, got {column.iloc[row]!r}", parameter=name)
        arr = values.to_numpy(dtype=float)
        tol = 1e-9 * max(1.0, abs(float(param.high) - float(param.low)))
        outside = ~np.isfinite(arr) | (arr < param.low - tol) | (arr > param.high + tol)
        if isinstance(param, Int):
            outside |= np.abs(arr - np.round(arr)) > 1e-9
            outside |= (np.round(arr).astype(np.int64) - param.low) % param.step != 0
        if outside.any():
            row = int(np.argmax(outside))
            raise InvalidConfigError(
                f"parameter {name!r} = {column.iloc[row]!r} (row {row}) is outside the allowed range "
                f"{param.describe()}", parameter=name)
        if isinstance(param, Int):
            out[name] = np.round(arr).astype(np.int64)
        else:
            assert isinstance(param, Float)
            out[name] = np.clip(arr, param.low, param.high) + 0.0  # + 0.0: -0.0 and 0.0 are one configuration
    out.attrs["json_columns"] = json_columns
    return out


def _check_categorical(param: Categorical, column: pd.Series) -> pd.Series:
    lookup = {(type(c).__name__ if isinstance(c, (bool, str)) else "num", c): c for c in param.choices}

    def canon(value: Any) -> Any:
        if isinstance(value, (bool, np.bool_)):
            key: tuple[str, Any] = ("bool", bool(value))
        elif isinstance(value, str):
            key = ("str", value)
        elif isinstance(value, (int, float, np.integer, np.floating)):
            key = ("num", float(value))
        else:
            key = ("?", repr(value))
        for (kind, choice), original in lookup.items():
            if kind == key[0] and (choice == key[1] if kind != "num" else float(choice) == key[1]):
                return original
        raise InvalidConfigError(f"parameter {param.name!r} = {value!r} is not allowed; choose {param.describe()}",
                                 parameter=param.name)

    uniques = {(type(v), v): canon(v) for v in pd.unique(column.astype(object))}
    values = [uniques[(type(v), v)] for v in column.astype(object)]
    return pd.Series(values, index=column.index, dtype=object)


def _homogeneous(choices: Sequence[Any]) -> bool:
    """Whether one Arrow type holds every choice (else values travel as JSON literals)."""
    kinds = {str if isinstance(c, str) else bool if isinstance(c, bool) else type(c) for c in choices}
    return len(kinds) == 1


def _expand(frame: pd.DataFrame) -> pd.DataFrame:
    configs = [json.loads(c) for c in frame["config"]]
    params = pd.DataFrame(configs, index=frame.index) if configs else pd.DataFrame(index=frame.index)
    params.columns = [f"param_{c}" if c in _RESERVED or c in frame.columns else c for c in params.columns]
    frame["config"] = configs
    frame["value"] = np.where(frame["direction"] == "maximize", -frame["objective"], frame["objective"])
    for name in ("metrics", "curve"):
        frame[name] = [json.loads(v) if isinstance(v, str) else None for v in frame[name]]
    frame["seed"] = frame["seed"].astype("Int64")
    head = ["trial_id", "task_id", "task", "family"]
    tail = ["objective", "value", "objective_name", "direction", "status", "fidelity", "cost", "metrics", "curve",
            "seed", "device", "source", "study_id", "contributed", "metahp_version", "created_at", "content_hash",
            "config"]
    return pd.concat([frame[head], params, frame[tail]], axis=1)
