"""Parquet bundles: round trips (property-tested) and every way a bundle can be bad."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from metahp import Categorical, Float, Int, KnowledgeBase, SearchSpace
from metahp.errors import CorruptBundleError, InvalidConfigError, SchemaVersionError

SPACE = SearchSpace([Float("x", -5.0, 5.0), Int("n", 1, 1000, log=True), Categorical("c", ["a", "b", True])])


def filled(n: int = 30) -> KnowledgeBase:
    kb = KnowledgeBase(":memory:")
    kb.add_task("t1", family="f", space=SPACE, meta_features={"m": 1.0})
    kb.add_task("t2", family="f", space=SPACE, meta_features={"m": 2.0}, direction="maximize")
    for i, task in enumerate(("t1", "t2")):
        kb.add_trials(task, [{**c, "objective": float(j)} for j, c in enumerate(SPACE.sample(n, seed=i))])
    return kb


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    return filled().export(tmp_path / "bundle")


def assert_rejected(path: Path, error: type[Exception], tmp_path: Path) -> None:
    target = KnowledgeBase(tmp_path / "target.duckdb")
    target.add_task("keep", family="f", space=SPACE)
    target.add_trials("keep", [{**SPACE.sample(1, 0)[0], "objective": 1.0}])
    before = (target.content_hash(), target.count_trials())
    with pytest.raises(error):
        target.import_(path)
    assert (target.content_hash(), target.count_trials()) == before


def test_manifest_describes_the_bundle(bundle: Path) -> None:
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["format"] == "metahp-bundle" and manifest["schema_version"] == 2
    assert manifest["tasks"] == 2 and manifest["trials"] == 60
    assert set(manifest["files"]) == {"tasks.parquet", "trials-00000.parquet"}


def test_foreign_parquet_is_refused(tmp_path: Path) -> None:
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    pd.DataFrame({"a": [1, 2]}).to_parquet(foreign / "data.parquet")
    assert_rejected(foreign, CorruptBundleError, tmp_path)
    assert_rejected(foreign / "data.parquet", CorruptBundleError, tmp_path)
    assert_rejected(tmp_path / "missing", CorruptBundleError, tmp_path)


def test_truncated_file_is_refused(bundle: Path, tmp_path: Path) -> None:
    shard = bundle / "trials-00000.parquet"
    shard.write_bytes(shard.read_bytes()[: shard.stat().st_size // 2])
    assert_rejected(bundle, CorruptBundleError, tmp_path)


def test_bit_flip_is_refused(bundle: Path, tmp_path: Path) -> None:
    shard = bundle / "tasks.parquet"
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0x10
    shard.write_bytes(bytes(data))
    assert_rejected(bundle, CorruptBundleError, tmp_path)


def test_newer_schema_is_refused(bundle: Path, tmp_path: Path) -> None:
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["schema_version"] = 99
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    assert_rejected(bundle, SchemaVersionError, tmp_path)


def test_manifest_cannot_point_outside(bundle: Path, tmp_path: Path) -> None:
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["files"]["../../etc/passwd"] = "0" * 64
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    assert_rejected(bundle, CorruptBundleError, tmp_path)
    (bundle / "manifest.json").write_text("{ not json")
    assert_rejected(bundle, CorruptBundleError, tmp_path)


def test_rehashed_but_invalid_rows_are_refused(bundle: Path, tmp_path: Path) -> None:
    # A bundle whose manifest was recomputed after editing: the rows themselves are validated.
    import hashlib

    shard = bundle / "trials-00000.parquet"
    frame = pd.read_parquet(shard)
    frame.loc[5, "config"] = json.dumps({"x": 50.0, "n": 3, "c": "a"})  # outside the task's space
    frame.to_parquet(shard, index=False)
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["files"][shard.name] = hashlib.sha256(shard.read_bytes()).hexdigest()
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    assert_rejected(bundle, InvalidConfigError, tmp_path)


def test_missing_shard_is_refused(bundle: Path, tmp_path: Path) -> None:
    (bundle / "trials-00000.parquet").unlink()
    assert_rejected(bundle, CorruptBundleError, tmp_path)


def test_export_refuses_to_overwrite(bundle: Path) -> None:
    from metahp.errors import MetaHPError

    with pytest.raises(MetaHPError, match="not an empty folder"):
        filled(2).export(bundle)


values = st.floats(min_value=-5.0, max_value=5.0, allow_nan=False)
rows = st.tuples(values, st.integers(1, 1000), st.sampled_from(["a", "b", True]),
                 st.one_of(st.floats(-1e6, 1e6, allow_nan=False), st.none()),
                 st.sampled_from(["ok", "failed", "diverged", "pruned"]), st.integers(0, 3))


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(rows, min_size=1, max_size=25))
def test_round_trip_of_random_frames(tmp_path_factory: pytest.TempPathFactory, data: list[tuple]) -> None:
    frame = pd.DataFrame(data, columns=["x", "n", "c", "objective", "status", "seed"])
    frame.loc[frame["objective"].isna(), "status"] = "failed"
    kb = KnowledgeBase(":memory:")
    kb.add_task("t", family="f", space=SPACE, direction="maximize")
    added = kb.add_trials("t", frame).added
    folder = tmp_path_factory.mktemp("rt")
    other = KnowledgeBase(":memory:")
    result = other.import_(kb.export(folder / "b"))
    assert result.added_trials == added == kb.count_trials()
    a, b = (s.trials().sort_values("content_hash").reset_index(drop=True) for s in (kb, other))
    pd.testing.assert_frame_equal(a.drop(columns=["trial_id"]), b.drop(columns=["trial_id"]))
    shutil.rmtree(folder)
