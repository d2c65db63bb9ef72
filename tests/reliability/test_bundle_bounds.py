"""Bundles: filesystem objects, bounded work, deep JSON and numeric extremes (issue 20, items 2, 5, 6, 8).

Each case is imported with ``_fuzz.check_import``: a clean import or a typed error with the
store unchanged. Time and memory bounds are asserted where the old code spent tens of
seconds and gigabytes before any limit applied.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from _fuzz import SPACE, base_bundle, check_import, copy_table, write_bundle

from metahp import KnowledgeBase
from metahp.errors import CorruptBundleError, MetaHPError

BASE = base_bundle()


@pytest.fixture
def target() -> KnowledgeBase:
    kb = KnowledgeBase(":memory:")
    kb.add_task("keep", family="f", space=SPACE)
    kb.add_trials("keep", [{**c, "objective": float(i)} for i, c in enumerate(SPACE.sample(5, seed=3))])
    return kb


def _rehash(folder: Path, **manifest: Any) -> None:
    data = json.loads((folder / "manifest.json").read_text())
    for name in list(data["files"]):
        if (folder / name).is_file():
            data["files"][name] = hashlib.sha256((folder / name).read_bytes()).hexdigest()
    data.update(manifest)
    (folder / "manifest.json").write_text(json.dumps(data))


def _import_in_thread(kb: KnowledgeBase, folder: Path, seconds: float = 20.0) -> str:
    """The outcome of importing ``folder``, or ``"hung"`` if it has not returned within ``seconds``."""
    outcome: list[str] = []

    def run() -> None:
        try:
            outcome.append(check_import(kb, lambda: kb.import_(folder)))
        except AssertionError as exc:
            outcome.append(f"untyped: {exc}")

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    return outcome[0] if outcome else "hung"


# ------------------------------------------------------------------------------- export (item 2)
def test_export_never_deletes_a_folder_it_did_not_make(tmp_path: Path) -> None:
    kb = KnowledgeBase(":memory:")
    kb.add_task("t", family="f", space=SPACE)
    kb.add_trials("t", [{**SPACE.sample(1, seed=0)[0], "objective": 1.0}])
    mine = tmp_path / "results.partial"
    mine.mkdir()
    (mine / "thesis.tex").write_text("years of work")
    kb.export(tmp_path / "results")
    assert (mine / "thesis.tex").read_text() == "years of work"
    assert KnowledgeBase(":memory:").import_(tmp_path / "results").added_trials == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results", "results.partial"]  # no scratch left behind


def test_export_beside_a_symlinked_scratch_name_or_onto_a_symlink_is_clean(tmp_path: Path) -> None:
    kb = KnowledgeBase(":memory:")
    kb.add_task("t", family="f", space=SPACE)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep.txt").write_text("x")
    (tmp_path / "out.partial").symlink_to(elsewhere)
    kb.export(tmp_path / "out")
    assert (elsewhere / "keep.txt").exists() and (tmp_path / "out" / "manifest.json").is_file()
    (tmp_path / "link").symlink_to(elsewhere)
    with pytest.raises(MetaHPError, match="not an empty folder"):
        kb.export(tmp_path / "link")
    assert sorted(p.name for p in elsewhere.iterdir()) == ["keep.txt"]


# ----------------------------------------------------------------------- filesystem objects (5)
def test_a_fifo_manifest_is_refused_without_hanging(target: KnowledgeBase, tmp_path: Path) -> None:
    folder = write_bundle(tmp_path / "b", *BASE)
    (folder / "manifest.json").unlink()
    os.mkfifo(folder / "manifest.json")
    assert _import_in_thread(target, folder) == "CorruptBundleError"


def test_a_folder_or_a_fifo_where_a_file_should_be_is_a_typed_error(target: KnowledgeBase, tmp_path: Path) -> None:
    one = write_bundle(tmp_path / "one", *BASE)
    (one / "manifest.json").unlink()
    (one / "manifest.json").mkdir()
    two = write_bundle(tmp_path / "two", *BASE)
    (two / "trials-00000.parquet").unlink()
    os.mkfifo(two / "trials-00000.parquet")
    three = write_bundle(tmp_path / "three", *BASE)
    (three / "manifest.json").unlink()
    (three / "manifest.json").symlink_to("/dev/zero")
    for folder in (one, two, three):
        assert _import_in_thread(target, folder) == "CorruptBundleError", folder.name


def test_a_file_name_too_long_for_the_system_is_a_typed_error(target: KnowledgeBase, tmp_path: Path) -> None:
    folder = write_bundle(tmp_path / "b", *BASE)
    data = json.loads((folder / "manifest.json").read_text())
    data["files"]["trials-" + "0" * 400 + ".parquet"] = "0" * 64
    (folder / "manifest.json").write_text(json.dumps(data))
    assert check_import(target, lambda: target.import_(folder)) == "CorruptBundleError"


# --------------------------------------------------------------------------- bounded work (6)
def _bomb(folder: Path, rows: int, **write: Any) -> Path:
    """A bundle of ``rows`` identical, valid trials, dictionary-encoded into a few kilobytes."""
    tasks, trials = (copy_table(t) for t in BASE)
    folder = write_bundle(folder, tasks, trials)
    one = pq.read_table(folder / "trials-00000.parquet").slice(0, 1)
    index = pa.array(np.zeros(rows, dtype=np.int32))
    columns = {name: pa.nulls(rows, one.column(name).type) if one.column(name).null_count
               else pa.DictionaryArray.from_arrays(index, one.column(name).combine_chunks())
               for name in one.column_names}
    pq.write_table(pa.table(columns), folder / "trials-00000.parquet", **write)
    _rehash(folder, trials=rows)
    return folder


def test_a_dictionary_bomb_is_refused_on_its_metadata(target: KnowledgeBase, tmp_path: Path) -> None:
    folder = _bomb(tmp_path / "bomb", 2_000_000)
    assert (folder / "trials-00000.parquet").stat().st_size < 200_000
    tracemalloc.start()
    began = time.perf_counter()
    try:
        with pytest.raises(CorruptBundleError, match="decompression bomb"):
            target.import_(folder)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - began < 5.0
    assert peak < 50 * 2**20, f"peak {peak / 2**20:.0f} MiB before the refusal"
    assert target.count_trials() == 5


def test_many_tiny_row_groups_are_refused_before_reading(target: KnowledgeBase, tmp_path: Path) -> None:
    folder = write_bundle(tmp_path / "b", *BASE)
    table = pq.read_table(folder / "trials-00000.parquet")
    pq.write_table(pa.concat_tables([table] * 100), folder / "trials-00000.parquet", row_group_size=1)
    _rehash(folder, trials=100 * table.num_rows)
    began = time.perf_counter()
    with pytest.raises(CorruptBundleError, match="row groups"):
        target.import_(folder)
    assert time.perf_counter() - began < 5.0 and target.count_trials() == 5


def test_the_trial_bound_names_itself_and_how_to_raise_it(target: KnowledgeBase, tmp_path: Path) -> None:
    folder = write_bundle(tmp_path / "b", *BASE)
    n = len(BASE[1]["task"])
    with pytest.raises(CorruptBundleError, match=f"max_trials={n}"):
        target.import_(folder, max_trials=n - 1)
    assert target.count_trials() == 5
    assert target.import_(folder, max_trials=n).added_trials == n


@pytest.mark.parametrize("depth", [3, 200])
def test_a_nested_parquet_column_is_refused(depth: int, target: KnowledgeBase, tmp_path: Path) -> None:
    folder = write_bundle(tmp_path / "b", *BASE)
    table = pq.read_table(folder / "trials-00000.parquet")
    kind: pa.DataType = pa.int32()
    for _ in range(depth):
        kind = pa.list_(kind)
    nested = pa.nulls(table.num_rows, kind)
    pq.write_table(table.append_column("extra", nested), folder / "trials-00000.parquet")
    _rehash(folder)
    assert check_import(target, lambda: target.import_(folder)) == "CorruptBundleError"


@pytest.mark.slow
def test_a_big_valid_bundle_reads_in_batches(tmp_path: Path) -> None:
    source = KnowledgeBase(":memory:")
    source.add_task("big", family="f", space=SPACE)
    configs = SPACE.sample(150_000, seed=1)
    source.add_trials("big", [{**c, "objective": float(i)} for i, c in enumerate(configs)])
    folder = source.export(tmp_path / "big")
    kb = KnowledgeBase(":memory:")
    assert kb.import_(folder).added_trials == 150_000
    assert sorted(kb.trials("big")["content_hash"]) == sorted(source.trials("big")["content_hash"])


# --------------------------------------------------------------------------- deep JSON (8)
DEEP = "[" * 100_000 + "]" * 100_000


@pytest.mark.parametrize("table, column", [("tasks", "meta_features"), ("tasks", "provenance"), ("tasks", "space"),
                                           ("trials", "metrics"), ("trials", "curve"), ("trials", "config")])
def test_deeply_nested_json_in_a_bundle_is_a_typed_error(table: str, column: str, target: KnowledgeBase,
                                                         tmp_path: Path) -> None:
    tasks, trials = (copy_table(t) for t in BASE)
    (tasks if table == "tasks" else trials)[column][0] = DEEP
    folder = write_bundle(tmp_path / "b", tasks, trials)
    assert check_import(target, lambda: target.import_(folder)) != "ok"


def test_deep_pandas_metadata_in_a_shard_is_never_interpreted(target: KnowledgeBase, tmp_path: Path) -> None:
    folder = write_bundle(tmp_path / "b", *BASE)
    table = pq.read_table(folder / "trials-00000.parquet")
    pq.write_table(table.replace_schema_metadata({b"pandas": DEEP.encode()}), folder / "trials-00000.parquet")
    _rehash(folder)
    assert check_import(target, lambda: target.import_(folder)) == "ok"
    assert target.count_trials() == 5 + len(BASE[1]["task"])


def test_a_400_digit_config_value_is_a_typed_error(target: KnowledgeBase, tmp_path: Path) -> None:
    tasks, trials = (copy_table(t) for t in BASE)
    trials["config"][0] = '{"x": 1' + "0" * 400 + ', "n": 3, "c": "a"}'
    folder = write_bundle(tmp_path / "b", tasks, trials)
    assert check_import(target, lambda: target.import_(folder)) not in ("ok",)
