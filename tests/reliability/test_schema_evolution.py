"""Stores and bundles written by an older schema are read and migrated without loss; newer ones are refused.

``tests/kb/test_schema.py`` covers the basic store migration and a newer store; here: a
larger schema-1 store read-only (unchanged on disk, read as the current schema) and then
migrated, and bundles at schema 1, at a newer and at an impossible version.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from metahp import Float, Int, KnowledgeBase, SearchSpace
from metahp.errors import CorruptBundleError, SchemaVersionError
from metahp.kb.schema import SCHEMA_VERSION, create_schema

SPACE = SearchSpace([Float("learning_rate", 1e-5, 1e-1, log=True), Int("batch_size", 1, 512, log=True)])
N = 3000


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def schema_1_store(path: Path) -> None:
    """A store as schema 1 held it: two tasks, ``N`` trials each, no study_id/contributed columns.

    Written by today's code, then taken back to schema 1's table layout, so that the trials
    carry real content hashes.
    """
    kb = KnowledgeBase(path)
    rng = np.random.default_rng(0)
    for name, direction in (("old/min", "minimize"), ("old/max", "maximize")):
        kb.add_task(name, family="old", kind="lm", space=SPACE, meta_features={"m": 1.0}, direction=direction,
                    objective_name="loss", provenance={"by": "v1"})
        status = np.where(np.arange(N) % 10 == 0, "failed", "ok")
        kb.add_trials(name, pd.DataFrame({
            "learning_rate": 10 ** rng.uniform(-5, -1, N), "batch_size": rng.integers(1, 513, N),
            "objective": np.where(status == "ok", np.arange(N) * 0.5, np.nan), "status": status,
            "cost": np.arange(N) * 0.1, "seed": np.arange(N), "metrics": [{"acc": 0.5}] * N,
            "curve": [[[1, 2.0]]] * N, "device": "cpu"}))
    con = duckdb.connect(str(path))
    con.execute("ALTER TABLE trials DROP COLUMN study_id")
    con.execute("ALTER TABLE trials DROP COLUMN contributed")
    con.execute("CREATE UNIQUE INDEX trials_hash_idx ON trials (content_hash)")
    con.execute("UPDATE metahp_meta SET value = '1' WHERE key = 'schema_version'")
    layout = con.execute("SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'trials' "
                         "ORDER BY ordinal_position").fetchall()
    con.close()
    fresh = duckdb.connect(":memory:")
    create_schema(fresh, version=1)
    assert layout == fresh.execute("SELECT column_name, data_type FROM information_schema.columns "
                                   "WHERE table_name = 'trials' ORDER BY ordinal_position").fetchall()


def test_schema_1_store_reads_unchanged_then_migrates_keeping_everything(tmp_path: Path) -> None:
    path = tmp_path / "v1.duckdb"
    schema_1_store(path)
    before = digest(path)

    old = KnowledgeBase(path, read_only=True)
    assert old.schema_version == 1
    seen = old.trials()
    assert len(seen) == 2 * N and seen["study_id"].isna().all() and not seen["contributed"].any()
    fingerprint = old.content_hash()
    old.export(tmp_path / "from-v1")  # a read-only old store can still be exported
    assert digest(path) == before, "reading an old store read-only changed the file"

    kb = KnowledgeBase(path)
    assert kb.schema_version == SCHEMA_VERSION
    after = kb.trials()
    assert kb.content_hash() == fingerprint
    columns = ["trial_id", "task", "learning_rate", "batch_size", "objective", "value", "status", "cost", "seed",
               "content_hash", "metrics", "curve"]
    assert after[columns].equals(seen[columns])
    maximised = after[(after["task"] == "old/max") & (after["status"] == "ok")]
    assert len(maximised) == N - N // 10 and (maximised["value"] == -maximised["objective"]).all()
    assert kb.task_info("old/max").provenance == {"by": "v1"}
    # The migrated store takes new writes, and a re-import of its own v1 export adds nothing.
    assert kb.add_trials("old/min", [{"learning_rate": 1e-3, "batch_size": 8, "objective": 1.0,
                                      "study_id": "new"}]).added == 1
    assert kb.import_(tmp_path / "from-v1").added_trials == 0
    assert kb.count_trials() == 2 * N + 1


def _as_schema_1_bundle(folder: Path) -> None:
    """Rewrite an exported bundle as schema 1 wrote it: no study_id column, schema_version 1."""
    shard = folder / "trials-00000.parquet"
    pq.write_table(pq.read_table(shard).drop_columns(["study_id"]), shard)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["schema_version"] = 1
    manifest["files"][shard.name] = digest(shard)
    (folder / "manifest.json").write_text(json.dumps(manifest))


def _source() -> KnowledgeBase:
    kb = KnowledgeBase(":memory:")
    kb.add_task("t", family="f", space=SPACE, direction="maximize")
    kb.add_trials("t", [{**c, "objective": float(i)} for i, c in enumerate(SPACE.sample(50, seed=1))])
    return kb


def test_schema_1_bundle_imports_with_its_missing_columns_as_nulls(tmp_path: Path) -> None:
    source = _source()
    folder = source.export(tmp_path / "b")
    _as_schema_1_bundle(folder)
    kb = KnowledgeBase(tmp_path / "kb.duckdb")
    assert kb.import_(folder).added_trials == 50
    got = kb.trials()
    assert got["study_id"].isna().all()
    assert sorted(got["content_hash"]) == sorted(source.trials()["content_hash"])
    assert got.sort_values("content_hash")["value"].tolist() == \
        source.trials().sort_values("content_hash")["value"].tolist()


def test_current_bundle_lacking_a_column_is_still_refused(tmp_path: Path) -> None:
    folder = _source().export(tmp_path / "b")
    _as_schema_1_bundle(folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["schema_version"] = SCHEMA_VERSION  # claims the current schema, yet lacks study_id
    (folder / "manifest.json").write_text(json.dumps(manifest))
    kb = KnowledgeBase(":memory:")
    with pytest.raises(CorruptBundleError, match="study_id"):
        kb.import_(folder)
    assert kb.count_trials() == 0


@pytest.mark.parametrize("version, error", [(SCHEMA_VERSION + 1, SchemaVersionError), (0, CorruptBundleError),
                                            (-3, CorruptBundleError)])
def test_bundles_of_other_versions_are_refused_untouched(tmp_path: Path, version: int, error: type) -> None:
    folder = _source().export(tmp_path / "b")
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["schema_version"] = version
    (folder / "manifest.json").write_text(json.dumps(manifest))
    files = {p.name: digest(p) for p in folder.iterdir()}
    kb = KnowledgeBase(tmp_path / "kb.duckdb")
    kb.add_task("keep", family="f", space=SPACE)
    before = kb.content_hash()
    with pytest.raises(error):
        kb.import_(folder)
    assert kb.content_hash() == before
    assert {p.name: digest(p) for p in folder.iterdir()} == files, "a refused bundle was modified"
