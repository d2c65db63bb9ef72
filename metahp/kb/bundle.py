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
import shutil
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from metahp.errors import CorruptBundleError, MetaHPError, SchemaVersionError
from metahp.kb.schema import SCHEMA_VERSION
from metahp.space import SearchSpace

if TYPE_CHECKING:  # pragma: no cover
    from metahp.kb.store import KnowledgeBase

__all__ = ["ImportResult", "write_bundle", "read_bundle", "BUNDLE_FORMAT", "SHARD_ROWS"]

BUNDLE_FORMAT = "metahp-bundle"
SHARD_ROWS = 250_000
MAX_FILE_BYTES = 2 * 1024**3
MAX_TEXT = 1_000_000

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


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_bundle(kb: KnowledgeBase, path: Path, *, tasks: Any = None, contributed_only: bool = False) -> Path:
    """Write ``kb``'s tasks and trials (or a subset) as a bundle folder at ``path``."""
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
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
    tmp = path.with_name(path.name + ".partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    files: dict[str, str] = {}
    pq.write_table(task_table, tmp / "tasks.parquet")
    files["tasks.parquet"] = _sha256(tmp / "tasks.parquet")
    for i, start in enumerate(range(0, max(trials.num_rows, 1), SHARD_ROWS)):
        name = f"trials-{i:05d}.parquet"
        pq.write_table(trials.slice(start, SHARD_ROWS), tmp / name)
        files[name] = _sha256(tmp / name)
    from metahp import __version__

    manifest = {
        "format": BUNDLE_FORMAT, "schema_version": SCHEMA_VERSION, "metahp_version": __version__,
        "created_at": datetime.now(UTC).isoformat(), "tasks": task_table.num_rows, "trials": trials.num_rows,
        "files": files,
    }
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True))
    if path.exists():
        path.rmdir()
    tmp.rename(path)
    return path


def _read_manifest(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise CorruptBundleError(f"no bundle at {path}")
    if not path.is_dir():
        raise CorruptBundleError(f"{path} is a file; a metahp bundle is a folder with manifest.json and Parquet files")
    manifest_path = path / "manifest.json"
    if not manifest_path.exists():
        raise CorruptBundleError(f"{path} has no manifest.json: it is not a metahp bundle (export one with "
                                 "`metahp kb export`)")
    if manifest_path.stat().st_size > MAX_TEXT:
        raise CorruptBundleError(f"{manifest_path} is implausibly large; refusing to read it")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise CorruptBundleError(f"{manifest_path} is not valid JSON: {exc}") from exc
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
    for name, digest in files.items():
        if not isinstance(name, str) or "/" in name or "\\" in name or name.startswith(".") \
                or not name.endswith(".parquet"):
            raise CorruptBundleError(f"{manifest_path} names an unexpected file {name!r}")
        file = path / name
        if not file.is_file():
            raise CorruptBundleError(f"bundle file {name} is missing from {path}")
        if file.stat().st_size > MAX_FILE_BYTES:
            raise CorruptBundleError(f"bundle file {name} is over {MAX_FILE_BYTES} bytes; refusing it")
        if _sha256(file) != digest:
            raise CorruptBundleError(f"bundle file {name} does not match its hash in the manifest: it is truncated or "
                                     "altered; export it again")
    return manifest


def _read_table(file: Path, columns: dict[str, pa.DataType], version: int = SCHEMA_VERSION) -> pa.Table:
    try:
        table = pq.read_table(file)
    except Exception as exc:  # pyarrow raises many types for broken files
        raise CorruptBundleError(f"cannot read {file.name}: {exc}") from exc
    for name, added in ADDED_IN.items():
        if name in columns and name not in table.column_names and version < added:
            table = table.append_column(pa.field(name, columns[name]), pa.nulls(table.num_rows, columns[name]))
    missing = [c for c in columns if c not in table.column_names]
    if missing:
        raise CorruptBundleError(f"{file.name} lacks columns {missing}; it was not written by this metahp")
    try:
        return table.select(list(columns)).cast(pa.schema(columns))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
        raise CorruptBundleError(f"{file.name} has columns of the wrong type: {exc}") from exc


def _text_ok(value: Any, name: str, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if not isinstance(value, str) or len(value) > MAX_TEXT:
        raise CorruptBundleError(f"bundle field {name} must be text of at most {MAX_TEXT} characters")


def read_bundle(kb: KnowledgeBase, path: Path) -> ImportResult:
    """Validate the bundle at ``path`` and add what ``kb`` lacks, in one transaction."""
    manifest = _read_manifest(path)
    tasks = _read_table(path / "tasks.parquet", TASK_COLUMNS).to_pylist()
    shards = sorted(n for n in manifest["files"] if n.startswith("trials-"))
    tables = [_read_table(path / n, TRIAL_COLUMNS, manifest["schema_version"]) for n in shards]
    trials = pa.concat_tables(tables).to_pandas() if tables else pd.DataFrame(columns=list(TRIAL_COLUMNS))
    if isinstance(manifest.get("trials"), int) and manifest["trials"] != len(trials):
        raise CorruptBundleError(f"bundle {path} should hold {manifest['trials']} trials but has {len(trials)}")
    parsed: list[dict[str, Any]] = []
    for row in tasks:
        for key in ("name", "family", "kind", "meta_features", "objective_name", "direction", "provenance"):
            _text_ok(row[key], f"tasks.{key}")
        _text_ok(row["space"], "tasks.space", optional=True)
        try:
            meta = json.loads(row["meta_features"])
            provenance = json.loads(row["provenance"])
            space = SearchSpace.from_json(row["space"]) if row["space"] else None
        except (ValueError, MetaHPError) as exc:
            raise CorruptBundleError(f"task {row['name']!r} in the bundle has a malformed field: {exc}") from exc
        if not isinstance(meta, dict) or not isinstance(provenance, dict):
            raise CorruptBundleError(f"task {row['name']!r}: meta_features and provenance must be JSON objects")
        parsed.append({**row, "meta_features": meta, "provenance": provenance, "space": space})
    names = {t["name"] for t in parsed}
    unknown = set(trials["task"].dropna()) - names if len(trials) else set()
    if unknown or (len(trials) and trials["task"].isna().any()):
        raise CorruptBundleError(f"bundle trials name tasks the bundle does not describe: {sorted(unknown)[:5]}")
    for column in ("config", "metrics", "curve", "source", "device", "study_id", "metahp_version"):
        lengths = trials[column].dropna().map(len) if len(trials) else pd.Series(dtype=int)
        if len(lengths) and lengths.max() > MAX_TEXT:
            raise CorruptBundleError(f"bundle field trials.{column} holds text over {MAX_TEXT} characters")
    result = ImportResult()
    with kb._transaction() as con:
        for task in parsed:
            exists = con.execute("SELECT count(*) FROM tasks WHERE name = ?", [task["name"]]).fetchall()[0][0]  # type: ignore[index]
            kb._add_task(con, task["name"], family=task["family"], kind=task["kind"],
                         meta_features=task["meta_features"], space=task["space"],
                         objective_name=task["objective_name"], direction=task["direction"],
                         provenance=task["provenance"])
            result.added_tasks += 1 - int(exists)
            rows = trials[trials["task"] == task["name"]]
            if not len(rows):
                continue
            objective = rows["objective"].to_numpy(dtype=float)
            if task["direction"] == "maximize":
                objective = -objective  # bundles store minimised values, add_trials takes the task's own sign
            frame = pd.DataFrame({
                "config": list(rows["config"]), "objective": objective, "status": list(rows["status"]),
                "fidelity": rows["fidelity"].to_numpy(), "cost": rows["cost"].to_numpy(),
                "metrics": list(rows["metrics"]), "curve": list(rows["curve"]), "seed": rows["seed"].to_numpy(),
                "device": list(rows["device"]), "source": list(rows["source"]), "study_id": list(rows["study_id"]),
            })
            try:
                added = kb._add_trials(con, task["name"], frame, created_at=rows["created_at"],
                                       metahp_version=list(rows["metahp_version"].fillna("unknown")))
            except MetaHPError as exc:
                raise type(exc)(f"bundle {path}, task {task['name']!r}: {exc}") from exc
            except (ValueError, TypeError) as exc:
                raise CorruptBundleError(f"bundle {path}, task {task['name']!r}: malformed trials: {exc}") from exc
            result.added_trials += added.added
            result.duplicate_trials += added.duplicates
    return result

