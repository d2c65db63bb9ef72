"""Parquet bundles: how knowledge bases exchange results.

A bundle is a folder::

    manifest.json        format, schema version, metahp version, counts, SHA-256 of each file
    tasks.parquet        one row per task (meta-features and space as JSON text)
    trials-00000.parquet trials, in shards of at most ``SHARD_ROWS`` rows

Bundles are data only (Parquet and JSON, never pickle). Reading one checks the manifest,
every file's hash, every column's type, and then validates each row as
:meth:`KnowledgeBase.add_trials` does, inside one transaction: a bad bundle raises a
typed error and adds nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute
import pyarrow.parquet as pq

from metahp import __version__
from metahp.errors import CorruptBundleError, KnowledgeBaseError, MetaHPError, SchemaVersionError
from metahp.kb.importers import parquet_footer_size
from metahp.kb.schema import SCHEMA_VERSION
from metahp.kb.store import MAX_JSON_DEPTH, _too_deep
from metahp.space import SearchSpace

if TYPE_CHECKING:  # pragma: no cover
    from metahp.kb.store import KnowledgeBase

__all__ = ["ImportResult", "write_bundle", "read_bundle", "BUNDLE_FORMAT", "SHARD_ROWS"]

BUNDLE_FORMAT = "metahp-bundle"
SHARD_ROWS = 250_000
MAX_FILE_BYTES = 2 * 1024**3
MAX_BUNDLE_BYTES = 8 * 1024**3
MAX_TEXT = 1_000_000
#: Bounds checked on a bundle's metadata before any row is read (see :func:`read_bundle`).
MAX_TRIALS = 5_000_000
MAX_TASKS = 100_000
MAX_FILES = 1_000
MAX_ROW_GROUPS = 1_000
MAX_COLUMNS = 64
MAX_FOOTER_BYTES = 16 * 1024**2
MAX_ROW_GROUP_BYTES = 2 * 1024**3
#: Rows converted at a time: the memory an import needs beyond DuckDB's is about this many rows.
BATCH_ROWS = 65_536
_FILE_NAME = re.compile(r"tasks\.parquet|trials-[0-9]{5,9}\.parquet")

TASK_COLUMNS: dict[str, pa.DataType] = {
    "name": pa.string(), "family": pa.string(), "kind": pa.string(), "meta_features": pa.string(),
    "space": pa.string(), "objective_name": pa.string(), "direction": pa.string(), "provenance": pa.string(),
}
TRIAL_COLUMNS: dict[str, pa.DataType] = {
    "task": pa.string(), "config": pa.string(), "objective": pa.float64(), "status": pa.string(),
    "fidelity": pa.float64(), "cost": pa.float64(), "metrics": pa.string(), "curve": pa.string(),
    "seed": pa.int64(), "device": pa.string(), "source": pa.string(), "study_id": pa.string(),
    "metahp_version": pa.string(), "created_at": pa.timestamp("us"), "content_hash": pa.string(),
}
#: Columns later schema versions added to bundles: name -> the version that added it. Older bundles
#: lack them; they are read as nulls, as the store's migrations fill them.
ADDED_IN: dict[str, int] = {"study_id": 2}


@dataclass
class ImportResult:
    """Counts of what an import added and what was already there."""

    added_tasks: int = 0
    added_trials: int = 0
    duplicate_trials: int = 0

    def as_dict(self) -> dict[str, int]:
        """The counts as a dict."""
        return asdict(self)


def _open_regular(file: Path, what: str) -> BinaryIO:
    """Open ``file`` for reading if it is a regular file (checked on the open descriptor, never blocking).

    A FIFO, device or socket in a bundle would hang a plain ``open`` or feed it without end;
    a folder, a missing file or a name the system refuses (too long) is a typed error too.
    """
    try:
        fd = os.open(file, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError as exc:
        raise CorruptBundleError(f"{what} {file.name} is missing from {file.parent}") from exc
    except IsADirectoryError as exc:
        raise CorruptBundleError(f"{what} {file} is a folder, not a file") from exc
    except OSError as exc:
        raise CorruptBundleError(f"cannot open {what} {str(file)[:300]}: {exc.strerror or exc}") from exc
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = "a folder" if stat.S_ISDIR(info.st_mode) else "not a regular file (a FIFO, device or socket)"
            raise CorruptBundleError(f"{what} {file} is {kind}; a bundle holds regular files only")
        if info.st_size > MAX_FILE_BYTES:
            raise CorruptBundleError(f"{what} {file.name} is over {MAX_FILE_BYTES} bytes; refusing it")
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _sha256(handle: BinaryIO) -> str:
    digest = hashlib.sha256()
    for block in iter(lambda: handle.read(1 << 20), b""):
        digest.update(block)
    return digest.hexdigest()


def write_bundle(kb: KnowledgeBase, path: Path, *, tasks: Any = None, contributed_only: bool = False) -> Path:
    """Write ``kb``'s tasks and trials (or a subset) as a bundle folder at ``path``.

    The files are written into a scratch folder this call creates beside ``path`` (a unique
    name), then renamed into place; nothing that was there before is ever deleted.
    """
    if path.is_symlink() or (path.exists() and (not path.is_dir() or any(path.iterdir()))):
        raise MetaHPError(f"{path} exists and is not an empty folder; choose a new path for the bundle")
    with kb._connection() as con:
        ids: list[int] | None = None
        if tasks is not None:
            ids = [kb._resolve(con, t).task_id for t in ([tasks] if isinstance(tasks, (str, int)) else tasks)]
        task_sql = ("SELECT task_id, name, family, kind, meta_features, space, objective_name, direction, provenance "
                    "FROM tasks")
        trial_sql = ("SELECT k.name AS task, r.config, r.objective, r.status, r.fidelity, r.cost, r.metrics, "
                     "r.curve, r.seed, r.device, r.source, r.study_id, r.metahp_version, r.created_at, "
                     "r.content_hash FROM trials r JOIN tasks k USING (task_id)")
        where: list[str] = []
        if ids is not None:
            where.append(f"r.task_id IN ({', '.join(map(str, ids))})")
        if contributed_only:
            where.append("r.contributed")
        if where:
            trial_sql += " WHERE " + " AND ".join(where)
        trials = con.sql(trial_sql + " ORDER BY r.trial_id").to_arrow_table()
        used = set(trials.column("task").to_pylist()) if contributed_only else None
        task_frame = con.execute(task_sql + " ORDER BY task_id").df()
    if ids is not None:
        task_frame = task_frame[task_frame["task_id"].isin(ids)]
    if used is not None:
        task_frame = task_frame[task_frame["name"].isin(used)]
    task_table = pa.Table.from_pandas(task_frame.drop(columns=["task_id"]).reset_index(drop=True),
                                      schema=pa.schema(TASK_COLUMNS), preserve_index=False)
    trials = trials.cast(pa.schema(TRIAL_COLUMNS))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name[:100]}.", suffix=".partial", dir=path.parent))
    except OSError as exc:
        raise KnowledgeBaseError(f"cannot write a bundle at {str(path)[:300]}: {exc.strerror or exc}; choose a "
                                 "folder you may write to") from exc
    try:
        files: dict[str, str] = {}
        pq.write_table(task_table, tmp / "tasks.parquet")
        for i, start in enumerate(range(0, max(trials.num_rows, 1), SHARD_ROWS)):
            pq.write_table(trials.slice(start, SHARD_ROWS), tmp / f"trials-{i:05d}.parquet")
        for file in sorted(tmp.iterdir()):
            with open(file, "rb") as fh:
                files[file.name] = _sha256(fh)
        manifest = {
            "format": BUNDLE_FORMAT, "schema_version": SCHEMA_VERSION, "metahp_version": __version__,
            "created_at": datetime.now(UTC).isoformat(), "tasks": task_table.num_rows, "trials": trials.num_rows,
            "files": files,
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True))
        os.rename(tmp, path)  # replaces an empty folder; refuses one that filled up meanwhile
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)  # only the scratch folder this call made
        if isinstance(exc, OSError):
            raise KnowledgeBaseError(f"cannot write a bundle at {path}: {exc.strerror or exc}; choose a new, "
                                     "empty path") from exc
        raise
    return path


def _read_manifest(path: Path) -> dict[str, Any]:
    try:
        if not path.exists():
            raise CorruptBundleError(f"no bundle at {path}")
        if not path.is_dir():
            raise CorruptBundleError(f"{path} is a file; a metahp bundle is a folder with manifest.json and Parquet "
                                     "files")
    except OSError as exc:
        raise CorruptBundleError(f"cannot open the bundle {str(path)[:300]}: {exc.strerror or exc}") from exc
    manifest_path = path / "manifest.json"
    if not manifest_path.exists() and not manifest_path.is_symlink():
        raise CorruptBundleError(f"{path} has no manifest.json: it is not a metahp bundle (export one with "
                                 "`metahp kb export`)")
    with _open_regular(manifest_path, "bundle manifest") as fh:
        raw = fh.read(MAX_TEXT + 1)
    if len(raw) > MAX_TEXT:
        raise CorruptBundleError(f"{manifest_path} is implausibly large; refusing to read it")
    try:
        manifest = json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise CorruptBundleError(f"{manifest_path} is not valid JSON: {type(exc).__name__}: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != BUNDLE_FORMAT:
        raise CorruptBundleError(f"{path} was not written by metahp (manifest format is not {BUNDLE_FORMAT!r})")
    version = manifest.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise CorruptBundleError(f"{manifest_path} has no valid schema_version (a positive integer)")
    if version > SCHEMA_VERSION:
        raise SchemaVersionError(f"bundle {path} has schema version {version}, newer than this metahp reads "
                                 f"({SCHEMA_VERSION}); upgrade metahp to import it")
    files = manifest.get("files")
    if not isinstance(files, dict) or "tasks.parquet" not in files:
        raise CorruptBundleError(f"{manifest_path} lists no files")
    if len(files) > MAX_FILES:
        raise CorruptBundleError(f"{manifest_path} lists {len(files)} files; metahp writes at most {MAX_FILES}")
    total = 0
    for name in files:
        if not isinstance(name, str) or not _FILE_NAME.fullmatch(name):
            raise CorruptBundleError(f"{manifest_path} names an unexpected file {str(name)[:100]!r} (a bundle holds "
                                     "tasks.parquet and trials-NNNNN.parquet)")
        with _open_regular(path / name, "bundle file") as fh:
            total += os.fstat(fh.fileno()).st_size
    if total > MAX_BUNDLE_BYTES:  # checked before hashing: hashing alone would take time in proportion
        raise CorruptBundleError(f"bundle {path} holds {total} bytes of files; the bound is {MAX_BUNDLE_BYTES}")
    for name, digest in files.items():
        with _open_regular(path / name, "bundle file") as fh:
            actual = _sha256(fh)
        if actual != digest:
            raise CorruptBundleError(f"bundle file {name} does not match its hash in the manifest: it is truncated or "
                                     "altered; export it again")
    return manifest


def _parquet(file: Path, rows_per_byte_bound: bool) -> pq.ParquetFile:
    """Open a bundle's Parquet file after checking, on its metadata alone, that reading it is bounded.

    The footer's size is read from the file's last 8 bytes before it is parsed; then the row
    groups, columns (flat, no nesting) and, for trial shards, rows per byte: each trial carries
    its own 32-hex-digit content hash, which no encoding stores in fewer than 16 bytes, so a
    shard claiming more rows than that is a decompression bomb, not a bundle.
    """
    handle = _open_regular(file, "bundle file")
    try:
        size = os.fstat(handle.fileno()).st_size
        if size < 12:
            raise CorruptBundleError(f"{file.name} is too short to be a Parquet file")
        footer = parquet_footer_size(handle, size)
        if footer is None:
            raise CorruptBundleError(f"{file.name} is not a Parquet file")
        if footer > min(MAX_FOOTER_BYTES, size - 12):
            raise CorruptBundleError(f"{file.name} has a Parquet footer of {footer} bytes (metahp writes at most "
                                     f"{MAX_FOOTER_BYTES}); refusing it")
        try:
            parquet = pq.ParquetFile(handle)
            meta = parquet.metadata
            schema = meta.schema
            flat = all(schema.column(i).max_repetition_level == 0 and schema.column(i).max_definition_level <= 1
                       for i in range(meta.num_columns))
        except Exception as exc:  # pyarrow raises many types for broken files
            raise CorruptBundleError(f"cannot read {file.name}: {exc}") from exc
        if meta.num_columns > MAX_COLUMNS or not flat:
            raise CorruptBundleError(f"{file.name} has {meta.num_columns} columns or nested ones; a bundle has at most "
                                     f"{MAX_COLUMNS} flat columns")
        if meta.num_row_groups > MAX_ROW_GROUPS:
            raise CorruptBundleError(f"{file.name} has {meta.num_row_groups} row groups; metahp writes at most "
                                     f"{MAX_ROW_GROUPS} a file (a bundle split this finely costs time and memory "
                                     "out of proportion)")
        for i in range(meta.num_row_groups):
            if meta.row_group(i).total_byte_size > MAX_ROW_GROUP_BYTES:
                raise CorruptBundleError(f"{file.name} has a row group of {meta.row_group(i).total_byte_size} bytes "
                                         f"unpacked; the bound is {MAX_ROW_GROUP_BYTES}")
        if rows_per_byte_bound and meta.num_rows * 16 > size:
            raise CorruptBundleError(
                f"{file.name} claims {meta.num_rows} rows in {size} bytes, fewer than their content hashes alone "
                "take (16 bytes a row): it was not written by metahp (a decompression bomb?)"
            )
        return parquet
    except BaseException:
        handle.close()
        raise


def _batches(parquet: pq.ParquetFile, file: Path, columns: dict[str, pa.DataType],
             version: int = SCHEMA_VERSION) -> Iterator[pa.Table]:
    """The file's rows in batches of at most ``BATCH_ROWS``, with exactly ``columns`` and types (no metadata).

    The file's own schema metadata (pandas' and Arrow's) is never interpreted.
    """
    present = set(parquet.schema_arrow.names)
    missing = [c for c in columns if c not in present
               and not (c in ADDED_IN and version < ADDED_IN[c])]
    if missing:
        raise CorruptBundleError(f"{file.name} lacks columns {missing}; it was not written by this metahp")
    wanted = [c for c in columns if c in present]
    target = pa.schema(columns)
    try:
        for batch in parquet.iter_batches(batch_size=BATCH_ROWS, columns=wanted, use_pandas_metadata=False):
            table = pa.Table.from_batches([batch]).replace_schema_metadata(None)
            for name in columns:
                if name not in present:
                    table = table.append_column(pa.field(name, columns[name]), pa.nulls(table.num_rows, columns[name]))
            try:
                table = table.select(list(columns)).cast(target)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
                raise CorruptBundleError(f"{file.name} has columns of the wrong type: {exc}") from exc
            for name, kind in columns.items():
                if kind == pa.string() and table.num_rows:
                    longest = pa.compute.max(pa.compute.binary_length(table.column(name))).as_py()
                    if longest is not None and longest > MAX_TEXT:
                        raise CorruptBundleError(f"bundle field {file.stem.split('-')[0]}.{name} holds text over "
                                                 f"{MAX_TEXT} bytes")
            yield table
    except MetaHPError:
        raise
    except Exception as exc:  # pyarrow raises many types for broken files
        raise CorruptBundleError(f"cannot read {file.name}: {exc}") from exc


def _text_ok(value: Any, name: str, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if not isinstance(value, str) or len(value) > MAX_TEXT:
        raise CorruptBundleError(f"bundle field {name} must be text of at most {MAX_TEXT} characters")


def _read_tasks(path: Path) -> list[dict[str, Any]]:
    parquet = _parquet(path / "tasks.parquet", rows_per_byte_bound=False)
    try:
        if parquet.metadata.num_rows > MAX_TASKS:
            raise CorruptBundleError(f"tasks.parquet holds {parquet.metadata.num_rows} tasks; the bound is "
                                     f"{MAX_TASKS}")
        rows: list[dict[str, Any]] = []
        for table in _batches(parquet, path / "tasks.parquet", TASK_COLUMNS):
            for column in ("meta_features", "provenance", "space"):
                deep = _too_deep(table.column(column).combine_chunks())
                if deep is not None:
                    raise CorruptBundleError(f"bundle field tasks.{column} of task {len(rows) + deep} is nested "
                                             f"deeper than {MAX_JSON_DEPTH} levels")
            rows.extend(table.to_pylist())
    finally:
        parquet.close()
    parsed: list[dict[str, Any]] = []
    for row in rows:
        for key in ("name", "family", "kind", "meta_features", "objective_name", "direction", "provenance"):
            _text_ok(row[key], f"tasks.{key}")
        _text_ok(row["space"], "tasks.space", optional=True)
        try:
            meta = json.loads(row["meta_features"])
            provenance = json.loads(row["provenance"])
            space = SearchSpace.from_json(row["space"]) if row["space"] else None
        except (ValueError, RecursionError, MetaHPError) as exc:
            raise CorruptBundleError(f"task {row['name'][:200]!r} in the bundle has a malformed field: {exc}") from exc
        if not isinstance(meta, dict) or not isinstance(provenance, dict):
            raise CorruptBundleError(f"task {row['name'][:200]!r}: meta_features and provenance must be JSON objects")
        parsed.append({**row, "meta_features": meta, "provenance": provenance, "space": space})
    names = [t["name"] for t in parsed]
    if len(set(names)) != len(names):
        raise CorruptBundleError("tasks.parquet describes a task twice; a bundle names each task once")
    return parsed


def read_bundle(kb: KnowledgeBase, path: Path, *, max_trials: int | None = None) -> ImportResult:
    """Validate the bundle at ``path`` and add what ``kb`` lacks, in one transaction.

    Work is bounded before it starts: regular files only, the trial count against
    ``max_trials`` (default :data:`MAX_TRIALS`), row groups, flat columns and rows per byte
    checked on each file's metadata; then rows are read in batches of :data:`BATCH_ROWS`, each
    checked (text length, JSON nesting) before it is converted.
    """
    limit = MAX_TRIALS if max_trials is None else int(max_trials)
    manifest = _read_manifest(path)
    version = manifest["schema_version"]
    parsed = _read_tasks(path)
    shards = sorted(n for n in manifest["files"] if n.startswith("trials-"))
    files = [_parquet(path / n, rows_per_byte_bound=True) for n in shards] if len(shards) <= MAX_FILES else []
    try:
        total = sum(f.metadata.num_rows for f in files)
        if total > limit:
            raise CorruptBundleError(
                f"bundle {path} holds {total} trials, over the bound of {limit} (metahp.kb.bundle.MAX_TRIALS) that "
                f"keeps an import's time and memory in proportion; if you trust it, import it with "
                f"kb.import_(path, max_trials={total})"
            )
        if isinstance(manifest.get("trials"), int) and manifest["trials"] != total:
            raise CorruptBundleError(f"bundle {path} should hold {manifest['trials']} trials but has {total}")
        by_name = {t["name"]: t for t in parsed}
        result = ImportResult()
        with kb._transaction() as con:
            result.added_tasks = kb._add_tasks(con, [  # one statement for all new tasks: seeding takes seconds
                {"name": task["name"], "family": task["family"], "kind": task["kind"],
                 "meta_features": task["meta_features"], "space": task["space"],
                 "objective_name": task["objective_name"], "direction": task["direction"],
                 "provenance": task["provenance"]} for task in parsed])
            for name, parquet in zip(shards, files):
                for table in _batches(parquet, path / name, TRIAL_COLUMNS, version):
                    _add_batch(kb, con, path, table, by_name, result)
    finally:
        for parquet in files:
            parquet.close()
    return result


def _add_batch(kb: KnowledgeBase, con: Any, path: Path, table: pa.Table, tasks: dict[str, dict[str, Any]],
               result: ImportResult) -> None:
    names = table.column("task")
    if names.null_count:
        raise CorruptBundleError("bundle trials name tasks the bundle does not describe: [None]")
    unknown = set(pa.compute.unique(names).to_pylist()) - set(tasks)
    if unknown:
        raise CorruptBundleError(f"bundle trials name tasks the bundle does not describe: "
                                 f"{[str(u)[:100] for u in sorted(unknown)[:5]]}")
    for column in ("metrics", "curve"):
        deep = _too_deep(table.column(column).combine_chunks())
        if deep is not None:
            raise CorruptBundleError(f"bundle field trials.{column} is nested deeper than {MAX_JSON_DEPTH} levels "
                                     "(or its brackets do not balance)")
    # Text columns as Python objects: pandas' Arrow-backed strings would be iterated one by one below.
    trials = pd.DataFrame({name: table.column(name).to_pylist() if pa.types.is_string(table.column(name).type)
                           else table.column(name).to_pandas() for name in table.column_names})
    maximize = trials["task"].map({name: task["direction"] == "maximize" for name, task in tasks.items()})
    objective = trials["objective"].to_numpy(dtype=float)
    frame = pd.DataFrame({  # bundles store minimised values, add_trials takes each task's own sign
        "_task": trials["task"], "config": trials["config"],
        "objective": np.where(maximize.to_numpy(dtype=bool), -objective, objective), "status": trials["status"],
        "fidelity": trials["fidelity"], "cost": trials["cost"], "metrics": trials["metrics"],
        "curve": trials["curve"], "seed": trials["seed"], "device": trials["device"], "source": trials["source"],
        "study_id": trials["study_id"], "created_at": trials["created_at"],
        "metahp_version": trials["metahp_version"].fillna("unknown"),
    })
    try:  # one statement per search space, not per task
        added = kb._add_trials_many(con, frame)
    except MetaHPError as exc:
        raise type(exc)(f"bundle {path}: {exc}") from exc
    except (ValueError, TypeError, OverflowError) as exc:
        raise CorruptBundleError(f"bundle {path}: malformed trials: {exc}") from exc
    result.added_trials += added.added
    result.duplicate_trials += added.duplicates
