"""Hostile bundles, damaged public source files, pickles and SQL: typed errors and an untouched store.

``_fuzz.check_import`` is the rule: an import either succeeds or raises a typed
``metahp.errors`` error with the store unchanged (content hash and count).
"""

from __future__ import annotations

import ast
import functools
import json
import math
import os
import pickle
import random
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from _fuzz import (
    HOSTILE_TEXT,
    HUGE,
    MUTATIONS,
    SOURCES,
    SPACE,
    Table,
    base_bundle,
    bundle_cases,
    check_import,
    copy_sources,
    copy_table,
    run_bundle_case,
    run_source_case,
    snapshot,
    write_bundle,
)
from hypothesis import HealthCheck, given, settings

import metahp.kb
from metahp import Categorical, Float, KnowledgeBase, SearchSpace
from metahp.errors import ImportSourceError

BASE = base_bundle()


@pytest.fixture
def target() -> KnowledgeBase:
    # In memory for speed: the on-disk path differs only by the file lock, exercised in test_crash_recovery.
    kb = KnowledgeBase(":memory:")
    kb.add_task("keep", family="f", space=SPACE)
    kb.add_trials("keep", [{**c, "objective": float(i)} for i, c in enumerate(SPACE.sample(5, seed=3))])
    return kb


Edit = Callable[[Table, Table], None]


def _set(table: str, column: str, value: Any, row: int = 0) -> Edit:
    def edit(tasks: Table, trials: Table) -> None:
        (tasks if table == "tasks" else trials)[column][row] = value
    return edit


def _whole(table: str, column: str, value: Any) -> Edit:
    def edit(tasks: Table, trials: Table) -> None:
        frame = tasks if table == "tasks" else trials
        frame[column] = [value] * len(frame[column])
    return edit


def _drop(table: str, column: str) -> Edit:
    def edit(tasks: Table, trials: Table) -> None:
        del (tasks if table == "tasks" else trials)[column]
    return edit


def _conflicting_duplicate(tasks: Table, trials: Table) -> None:
    for column, values in tasks.items():
        values.append("other" if column == "family" else values[0])


# Each must be refused with a typed error, whatever the manifest says (it is rehashed).
DEFECTS: dict[str, Edit] = {
    "unknown status": _set("trials", "status", "exploded"),
    "negative fidelity": _set("trials", "fidelity", -0.5),
    "zero fidelity": _set("trials", "fidelity", 0.0),
    "fidelity above one": _set("trials", "fidelity", 1.5),
    "NaN objective on an ok trial": _set("trials", "objective", math.nan),
    "infinite objective": _set("trials", "objective", math.inf),
    "negative cost": _set("trials", "cost", -3.0),
    "objective as text": _whole("trials", "objective", "low"),
    "seed as text": _whole("trials", "seed", "seven"),
    "created_at as text": _whole("trials", "created_at", "yesterday"),
    "config not JSON": _set("trials", "config", "{not json"),
    "config a JSON list": _set("trials", "config", "[1, 2]"),
    "config outside the space": _set("trials", "config", json.dumps({"x": 99.0, "n": 3, "c": "a"})),
    "config with a foreign parameter": _set("trials", "config", json.dumps({"x": 1.0, "n": 3, "c": "a", "z": 1})),
    "huge device string": _set("trials", "device", HUGE),
    "huge config string": _set("trials", "config", json.dumps({"x": 1.0, "n": 3, "c": HUGE})),
    "metrics not JSON": _set("trials", "metrics", "{"),
    "curve not JSON": _set("trials", "curve", "nope"),
    "trial of an unknown task": _set("trials", "task", "ghost"),
    "trial of no task": _set("trials", "task", None),
    "missing status column": _drop("trials", "status"),
    "missing space column": _drop("tasks", "space"),
    "unknown direction": _set("tasks", "direction", "sideways"),
    "space not JSON": _set("tasks", "space", "{"),
    "space with bad bounds": _set("tasks", "space", '{"format_version":1,"params":[{"default":null,"high":-1.0,'
                                                     '"log":false,"low":0.0,"name":"x","type":"float"}]}'),
    "text meta-feature": _set("tasks", "meta_features", '{"m": "high"}'),
    "infinite meta-feature": _set("tasks", "meta_features", '{"m": Infinity}'),
    "provenance a list": _set("tasks", "provenance", "[]"),
    "empty task name": _set("tasks", "name", ""),
    "task name too long": _set("tasks", "name", "n" * 600),
    "task name missing": _set("tasks", "name", None),
    "huge family": _set("tasks", "family", HUGE),
    "conflicting duplicate task": _conflicting_duplicate,
}


def test_the_unaltered_base_bundle_imports(target: KnowledgeBase, tmp_path: Path) -> None:
    # The defect tests below change one thing each in this bundle; unaltered it must import.
    folder = write_bundle(tmp_path / "b", *BASE)
    assert check_import(target, lambda: target.import_(folder)) == "ok"
    assert target.count_trials() == 5 + len(BASE[1]["task"])


@pytest.mark.parametrize("defect", sorted(DEFECTS))
def test_defective_bundles_are_refused_untouched(defect: str, target: KnowledgeBase, tmp_path: Path) -> None:
    tasks, trials = (copy_table(table) for table in BASE)
    DEFECTS[defect](tasks, trials)
    folder = write_bundle(tmp_path / "b", tasks, trials)
    outcome = check_import(target, lambda: target.import_(folder))
    assert outcome != "ok", f"a bundle with {defect} was accepted"


MANIFESTS: dict[str, Any] = {
    "schema_version as text": {"schema_version": "2"},
    "schema_version as bool": {"schema_version": True},
    "schema_version missing": {"schema_version": None},
    "files a list": {"files": ["tasks.parquet"]},
    "a file with a NUL in its name": {"files": {"tasks.parquet": "0" * 64, "trials\x00.parquet": "0" * 64}},
    "a hash that is a number": {"files": {"tasks.parquet": 5}},
    "a foreign format": {"format": "other"},
    "more trials than stored": {"trials": 10_000},
}


@pytest.mark.parametrize("case", sorted(MANIFESTS))
def test_malformed_manifests_are_refused_untouched(case: str, target: KnowledgeBase, tmp_path: Path) -> None:
    folder = write_bundle(tmp_path / "b", *BASE, MANIFESTS[case])
    assert check_import(target, lambda: target.import_(folder)) != "ok"


@pytest.mark.parametrize("manifest", ["[]", "null", '"metahp-bundle"', "{" * 10_000, " " * 2_000_000])
def test_manifests_that_are_not_objects_are_refused(manifest: str, target: KnowledgeBase, tmp_path: Path) -> None:
    folder = write_bundle(tmp_path / "b", *BASE)
    (folder / "manifest.json").write_text(manifest)
    assert check_import(target, lambda: target.import_(folder)) == "CorruptBundleError"


@settings(max_examples=int(os.environ.get("METAHP_FUZZ_EXAMPLES", "60")), deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@pytest.mark.slow
@given(bundle_cases(BASE))
def test_fuzzed_bundles_import_or_raise_typed_errors(case: dict[str, Any]) -> None:
    import tempfile

    kb = KnowledgeBase(":memory:")
    kb.add_task("keep", family="f", space=SPACE)
    kb.add_trials("keep", [{**SPACE.sample(1, seed=0)[0], "objective": 1.0}])
    folder = Path(tempfile.mkdtemp())
    try:
        run_bundle_case(kb, folder / "b", case)
    finally:
        shutil.rmtree(folder)


def test_hostile_names_are_stored_as_data(target: KnowledgeBase, tmp_path: Path) -> None:
    source = KnowledgeBase(":memory:")
    names = [t for t in HOSTILE_TEXT if t.strip() and len(t) <= 512]
    space = SearchSpace([Float("x'); DROP TABLE tasks; --", 0.0, 1.0), Categorical('c"\x00ü', tuple(names))])
    for i, name in enumerate(names):
        source.add_task(name, family=names[-1 - i], kind=name, space=space, meta_features={name: float(i)},
                        provenance={name: name})
        source.add_trials(name, [{"x'); DROP TABLE tasks; --": 0.5, 'c"\x00ü': name, "objective": float(i),
                                  "device": name, "source": name, "study_id": name, "metrics": {name: 1.0}}])
    folder = source.export(tmp_path / "hostile")
    result = target.import_(folder)
    assert (result.added_tasks, result.added_trials) == (len(names), len(names))
    got = target.trials().set_index("task")
    for i, name in enumerate(names):
        assert got.loc[name, 'c"\x00ü'] == name and got.loc[name, "device"] == name
        assert got.loc[name, "metrics"] == {name: 1.0} and got.loc[name, "objective"] == float(i)
        assert target.task_info(name).meta_features == {name: float(i)}
    assert target.count_trials("keep") == 5 and target.import_(folder).added_trials == 0


# ------------------------------------------------------------------------------------- pickles
class _Trap:
    """Unpickling this creates the sentinel folder: proof that a pickle was loaded."""

    def __init__(self, sentinel: Path) -> None:
        self.sentinel = str(sentinel)

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.mkdir, (self.sentinel,))


def test_no_pickle_is_ever_loaded_from_a_bundle(target: KnowledgeBase, tmp_path: Path) -> None:
    sentinel = tmp_path / "pickle-was-loaded"
    payload = pickle.dumps(_Trap(sentinel))
    import hashlib

    def digest(path: Path) -> str:
        return hashlib.sha256(path.read_bytes()).hexdigest()

    # 1. A .pkl named in the manifest, with its right hash.
    one = write_bundle(tmp_path / "one", *BASE)
    (one / "trials-00001.pkl").write_bytes(payload)
    manifest = json.loads((one / "manifest.json").read_text())
    manifest["files"]["trials-00001.pkl"] = digest(one / "trials-00001.pkl")
    (one / "manifest.json").write_text(json.dumps(manifest))
    # 2. A pickle disguised as a Parquet shard, rehashed.
    two = write_bundle(tmp_path / "two", *BASE)
    (two / "trials-00000.parquet").write_bytes(payload)
    manifest = json.loads((two / "manifest.json").read_text())
    manifest["files"]["trials-00000.parquet"] = digest(two / "trials-00000.parquet")
    (two / "manifest.json").write_text(json.dumps(manifest))
    # 3. A Parquet column claiming Arrow's pickled Python extension type (CVE-2023-47248).
    three = write_bundle(tmp_path / "three", *BASE)
    table = pq.read_table(three / "trials-00000.parquet")
    evil = pa.field("curve", pa.binary(), metadata={b"ARROW:extension:name": b"arrow.py_extension_type",
                                                     b"ARROW:extension:metadata": payload})
    index = table.schema.get_field_index("curve")
    table = table.set_column(index, evil, pa.array([b"[]"] * table.num_rows, pa.binary()))
    pq.write_table(table, three / "trials-00000.parquet")
    manifest = json.loads((three / "manifest.json").read_text())
    manifest["files"]["trials-00000.parquet"] = digest(three / "trials-00000.parquet")
    (three / "manifest.json").write_text(json.dumps(manifest))
    # 4. A stray pickle beside a valid bundle, not named in the manifest: ignored, never opened.
    four = write_bundle(tmp_path / "four", *BASE)
    (four / "extra.pkl").write_bytes(payload)

    outcomes = [check_import(target, functools.partial(target.import_, b)) for b in (one, two, three)]
    assert outcomes[:2] == ["CorruptBundleError", "CorruptBundleError"]
    assert outcomes[2] == "ok"  # the extension type is ignored: the column is read as the plain bytes it holds
    assert target.trials("t1")["curve"].tolist() == [[]] * len([t for t in BASE[1]["task"] if t == "t1"])
    assert KnowledgeBase(":memory:").import_(four).added_trials == len(BASE[1]["task"])
    assert not sentinel.exists(), "a pickle from a bundle was loaded"


# ---------------------------------------------------------------------------- damaged sources
@pytest.fixture(scope="module")
def sources(external: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_sources(external, tmp_path_factory.mktemp("sources") / "copy")


@pytest.mark.parametrize("kind", MUTATIONS)
@pytest.mark.parametrize("source", sorted(SOURCES))
def test_damaged_source_files_raise_typed_errors(source: str, kind: str, sources: Path) -> None:
    kb = KnowledgeBase(":memory:")
    kb.add_task("keep", family="f", space=SPACE)
    outcome = run_source_case(kb, sources, source, kind, random.Random(f"{source}/{kind}"))
    if kind == "truncate" and SOURCES[source][1].endswith(".gz"):
        assert outcome == "ImportSourceError", "a truncated gzip file was imported"
    if kind == "oversize" and source != "nmt-sizes":
        assert outcome != "ok", "an oversized, damaged file was imported"


def test_importer_option_mistakes_are_typed(sources: Path) -> None:
    kb = KnowledgeBase(":memory:")
    for call in (lambda: kb.import_source("steplaw", sources / "steplaw", famliy="x"),
                 lambda: kb.import_source("table", sources / "table" / "runs.csv", family="f", task_cols=None,
                                          param_cols=["lr"], objective="smooth loss", metric_cols=["h", "numh "]),
                 lambda: kb.import_source("svm", sources / "steplaw"),
                 lambda: kb.import_source("nmt", sources / "steplaw" / "dense_lr_bs_loss.csv")):
        assert check_import(kb, call) != "ok"
    assert snapshot(kb) == snapshot(KnowledgeBase(":memory:"))


# ------------------------------------------------------------------------------------------ SQL
#: Expressions allowed inside SQL f-strings in metahp/kb: identifiers built by the code itself,
#: integer ids, and ``?`` placeholder lists. Any other interpolation must be reviewed (and added).
SAFE_SQL_INTERPOLATIONS = {
    "column", "where", "config_expr", "rows", "info.task_id", "struct",
    "', '.join('?' * len(ids))", "', '.join('?' * len(statuses))", "', '.join(map(str, ids))",
    "_sql_str(c)", "i", "c", "database",
}
_SQL_WORDS = ("SELECT ", "INSERT ", "UPDATE ", "DELETE ", " WHERE ", " FROM ", "CREATE ", "DROP ", " := ", "CAST(")


def test_sql_interpolates_only_reviewed_expressions() -> None:
    found: dict[str, set[str]] = {}
    for file in sorted(Path(metahp.kb.__file__).parent.glob("*.py")):
        for node in ast.walk(ast.parse(file.read_text())):
            if not isinstance(node, ast.JoinedStr):
                continue
            literal = "".join(v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str))
            if not any(word in literal for word in _SQL_WORDS):
                continue
            for value in node.values:
                if isinstance(value, ast.FormattedValue):
                    found.setdefault(ast.unparse(value.value), set()).add(f"{file.name}:{node.lineno}")
    unsafe = {expr: sorted(where) for expr, where in found.items() if expr not in SAFE_SQL_INTERPOLATIONS}
    assert not unsafe, f"SQL f-strings interpolate unreviewed values (use ? parameters): {unsafe}"
    assert "config_expr" in found  # the scan does see the SQL of add_trials


@pytest.mark.parametrize("source, damage", [
    ("steplaw", lambda text: text.replace("\n960,", "\n96#0,", 1)),  # a digit turned into '#'
    ("nmt", lambda text: text.replace("\t", "\t3#", 1)),
    ("svm", lambda text: text.replace("A9A,0.", "A9A,#0.", 1)),  # an accuracy
])
def test_a_non_number_in_a_numeric_column_is_named(source: str, damage: Callable[[str], str], sources: Path,
                                                   tmp_path: Path) -> None:
    import gzip

    folder, rel = SOURCES[source]
    copy = tmp_path / folder
    shutil.copytree(sources / folder, copy)
    file = copy / rel
    if rel.endswith(".gz"):
        file.write_bytes(gzip.compress(damage(gzip.decompress(file.read_bytes()).decode()).encode()))
    else:
        file.write_text(damage(file.read_text()))
    kb = KnowledgeBase(":memory:")
    with pytest.raises(ImportSourceError, match="must hold numbers"):
        kb.import_source(source, copy)
    assert kb.count_trials() == 0
