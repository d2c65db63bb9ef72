"""Opening stores: migrations, newer schemas, foreign and damaged files, the default store."""

from __future__ import annotations

import hashlib
import multiprocessing as mp
from pathlib import Path

import duckdb
import pytest

from metahp import Float, KnowledgeBase, SearchSpace
from metahp.errors import KnowledgeBaseError, SchemaVersionError
from metahp.kb.schema import SCHEMA_VERSION, create_schema

SPACE = SearchSpace([Float("learning_rate", 1e-5, 1e-1, log=True)])


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_older_schema_is_migrated_keeping_trials(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    create_schema(con, version=1)
    con.execute("""INSERT INTO tasks VALUES (1, 'old-task', 'f', '', '{"m": 1.0}', ?, ?, 'loss', 'minimize', '{}',
                   now())""", [SPACE.to_json(), SPACE.signature])
    con.execute("""INSERT INTO trials VALUES (1, 1, '{"learning_rate":0.001}', 2.0, 'loss', 'minimize', 'ok', 1.0,
                   NULL, NULL, NULL, 0, 'cpu', 'user', '0.0.1', now(), 'abc')""")
    con.close()
    kb = KnowledgeBase(path)
    assert kb.schema_version == SCHEMA_VERSION == 2
    frame = kb.trials("old-task")
    assert frame["learning_rate"].tolist() == [0.001] and frame["contributed"].tolist() == [False]
    assert kb.add_trials("old-task", [{"learning_rate": 0.01, "objective": 1.5, "study_id": "s1"}]).added == 1
    assert kb.contribute("old-task") == 2


def test_newer_schema_is_refused_and_untouched(tmp_path: Path) -> None:
    path = tmp_path / "new.duckdb"
    KnowledgeBase(path).add_task("t", family="f")
    con = duckdb.connect(str(path))
    con.execute("UPDATE metahp_meta SET value = '99' WHERE key = 'schema_version'")
    con.close()
    before = digest(path)
    with pytest.raises(SchemaVersionError, match="newer metahp"):
        KnowledgeBase(path)
    assert digest(path) == before


def test_foreign_duckdb_file_is_refused_and_untouched(tmp_path: Path) -> None:
    path = tmp_path / "other.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE sales (id INTEGER)")
    con.close()
    before = digest(path)
    with pytest.raises(KnowledgeBaseError, match="not a metahp knowledge base"):
        KnowledgeBase(path)
    assert digest(path) == before


@pytest.mark.parametrize("content", [b"hello, I am a CSV\n1,2,3\n", b"PAR1" + bytes(200)])
def test_non_duckdb_file_is_refused_and_untouched(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "kb.duckdb"
    path.write_bytes(content)
    with pytest.raises(KnowledgeBaseError, match="not a DuckDB file"):
        KnowledgeBase(path)
    assert path.read_bytes() == content


def test_truncated_store_gives_a_typed_error(tmp_path: Path) -> None:
    path = tmp_path / "kb.duckdb"
    kb = KnowledgeBase(path)
    kb.add_task("t", family="f", space=SPACE)
    kb.add_trials("t", [{"learning_rate": 10 ** -(1 + i / 100), "objective": float(i)} for i in range(300)])
    path.write_bytes(path.read_bytes()[:20000])
    with pytest.raises(KnowledgeBaseError):
        KnowledgeBase(path).trials("t")


def test_default_store_is_seeded_from_the_bundled_shards(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = KnowledgeBase(":memory:")
    source.add_task("seed-task", family="seed", space=SPACE, meta_features={"model_params": 1e6})
    source.add_trials("seed-task", [{"learning_rate": 1e-3, "objective": 2.0}])
    shards = source.export(tmp_path / "shards")
    monkeypatch.setenv("METAHP_BUNDLED_KB", str(shards))
    monkeypatch.setenv("METAHP_KB", str(tmp_path / "user" / "kb.duckdb"))
    kb = KnowledgeBase()
    assert kb.path == (tmp_path / "user" / "kb.duckdb").resolve()
    assert kb.stats()["trials"] == 1
    kb.add_trials("seed-task", [{"learning_rate": 1e-2, "objective": 2.5}])
    assert KnowledgeBase().stats()["trials"] == 2  # seeding happens once, on creation


def _writer(path: str, worker: int, batches: int) -> None:
    kb = KnowledgeBase(path, lock_timeout=300)
    for b in range(batches):
        kb.add_trials("shared", [{"learning_rate": 1e-4 * (1 + worker), "objective": float(b * 100 + i),
                                  "seed": worker} for i in range(25)])


def test_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "shared.duckdb"
    KnowledgeBase(path).add_task("shared", family="f", space=SPACE)
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(path), w, 5)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=240)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    frame = KnowledgeBase(path).trials("shared")
    assert len(frame) == 4 * 5 * 25 and frame["content_hash"].is_unique
    assert frame.groupby("seed").size().tolist() == [125] * 4
