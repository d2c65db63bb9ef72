"""Every untyped error the attacker found becomes a ``metahp.errors`` type that says what to fix (issue 20, item 8).

Each case also checks that nothing stored changed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from _fuzz import check_import
from _harness import prepare_store, start

from metahp import Float, KnowledgeBase, SearchSpace
from metahp.errors import ImportSourceError, InvalidConfigError, InvalidSpaceError, KnowledgeBaseError

DEEP = "[" * 50_000 + "]" * 50_000
TABLE = {"family": "runs", "task_cols": ["data"], "param_cols": ["lr"], "objective": "loss"}


def _table(tmp_path: Path, frame: pd.DataFrame, name: str = "runs.csv") -> Path:
    file = tmp_path / name
    if name.endswith(".parquet"):
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), file)
    else:
        frame.to_csv(file, index=False)
    return file


def _runs(**columns: list[object]) -> pd.DataFrame:
    return pd.DataFrame({"data": ["a", "a", "b"], "lr": [1e-3, 1e-2, 1e-3], "loss": [0.5, 0.4, 0.7], **columns})


# ---------------------------------------------------------------------- the table importer
@pytest.mark.parametrize("column", ["metrics", "curve"])
def test_deep_json_in_a_tables_metrics_or_curve_is_typed(column: str, tmp_path: Path) -> None:
    file = _table(tmp_path, _runs(**{column: [DEEP, "[]", "[]"]}))
    kb = KnowledgeBase(":memory:")
    assert check_import(kb, lambda: kb.import_source("table", file, **TABLE)) == "InvalidObjectiveError"


def test_deep_pandas_metadata_in_a_parquet_table_is_never_interpreted(tmp_path: Path) -> None:
    table = pa.Table.from_pandas(_runs(), preserve_index=False).replace_schema_metadata({b"pandas": DEEP.encode()})
    pq.write_table(table, tmp_path / "runs.parquet")
    kb = KnowledgeBase(":memory:")
    assert check_import(kb, lambda: kb.import_source("table", tmp_path / "runs.parquet", **TABLE)) == "ok"
    assert kb.count_trials() == 3


@pytest.mark.parametrize("values", [[1e300, 2e300, 3e300], [-1e308, 1e308, 0.5], [2.0**70, 2.0**71, 1.0]])
def test_huge_parameter_values_are_stored_or_refused_typed(values: list[float], tmp_path: Path) -> None:
    file = _table(tmp_path, _runs(lr=values))
    kb = KnowledgeBase(":memory:")
    outcome = check_import(kb, lambda: kb.import_source("table", file, **TABLE))
    assert outcome in ("ok", "ImportSourceError")
    if outcome == "ok":
        # the table says lr: stored under its canonical name (metahp.aliases)
        assert sorted(kb.trials()["learning_rate"]) == sorted(values)


@pytest.mark.parametrize("reserved", ["objective", "status", "config", "seed"])
def test_a_reserved_parameter_name_is_refused_with_the_rename_to_use(reserved: str, tmp_path: Path) -> None:
    file = _table(tmp_path, _runs(**{reserved: [1, 2, 3]}))
    kb = KnowledgeBase(":memory:")
    with pytest.raises(ImportSourceError, match="rename"):
        kb.import_source("table", file, **{**TABLE, "param_cols": ["lr", reserved]})
    assert kb.count_trials() == 0


def test_a_task_column_named_objective_is_refused_not_overwritten(tmp_path: Path) -> None:
    file = _table(tmp_path, _runs(objective=["x", "x", "y"]))
    kb = KnowledgeBase(":memory:")
    with pytest.raises(ImportSourceError, match="overwritten"):
        kb.import_source("table", file, **{**TABLE, "task_cols": ["objective"]})


def test_a_parquet_table_over_the_row_bound_is_refused_on_its_metadata(tmp_path: Path) -> None:
    frame = pd.DataFrame({"data": ["a"] * 5000, "lr": [1e-3] * 5000, "loss": [0.5] * 5000})
    file = _table(tmp_path, frame, "runs.parquet")
    kb = KnowledgeBase(":memory:")
    with pytest.raises(ImportSourceError, match="max_rows=5000"):
        kb.import_source("table", file, **TABLE, max_rows=4999)
    assert kb.import_source("table", file, **TABLE, max_rows=5000).added_trials == 1  # all duplicates of one


# --------------------------------------------------------------------------- search spaces
def test_names_that_differ_only_by_case_are_refused_when_the_space_is_built() -> None:
    with pytest.raises(InvalidSpaceError, match="differ only by case"):
        SearchSpace([Float("lr", 0.0, 1.0), Float("LR", 0.0, 1.0)])
    kb = KnowledgeBase(":memory:")
    kb.add_task("free", family="f")  # no space: the trials' own columns are checked
    with pytest.raises(InvalidConfigError, match="differ only by case"):
        kb.add_trials("free", [{"lr": 0.1, "LR": 0.2, "objective": 1.0}])
    assert kb.count_trials() == 0


def test_a_400_digit_integer_in_a_configuration_is_typed() -> None:
    kb = KnowledgeBase(":memory:")
    kb.add_task("free", family="f")
    for config in ({"x": 10**400}, {"x": 2**64}):
        with pytest.raises(InvalidConfigError):
            kb.add_trials("free", [{**config, "objective": 1.0}])
    kb.add_task("bounded", family="f", space=SearchSpace([Float("x", 0.0, 1.0)]))
    with pytest.raises(InvalidConfigError):
        kb.add_trials("bounded", [{"x": 10**400, "objective": 1.0}])
    assert kb.count_trials() == 0


@pytest.mark.parametrize("field, value", [("seed", 2**70), ("seed", -(2**70)), ("fidelity", 10**400),
                                          ("cost", 10**400), ("objective", 10**400)])
def test_numbers_beyond_a_float_or_an_int64_in_a_trial_are_typed(field: str, value: int) -> None:
    kb = KnowledgeBase(":memory:")
    kb.add_task("t", family="f", space=SearchSpace([Float("x", 0.0, 1.0)]))
    assert check_import(kb, lambda: kb.add_trials("t", [{"x": 0.5, "objective": 1.0, field: value}])) \
        == "InvalidObjectiveError"


# --------------------------------------------------------------------------- store files
@pytest.mark.parametrize("damage", [
    "UPDATE metahp_meta SET value = 'abc' WHERE key = 'schema_version'",
    "DELETE FROM metahp_meta WHERE key = 'schema_version'",
    "UPDATE metahp_meta SET value = '-3' WHERE key = 'schema_version'",
    "ALTER TABLE metahp_meta RENAME COLUMN value TO other",
    "DROP TABLE trials",
])
def test_a_damaged_store_is_a_typed_error_and_left_untouched(damage: str, tmp_path: Path) -> None:
    path = tmp_path / "kb.duckdb"
    prepare_store(path)
    with duckdb.connect(str(path)) as con:
        con.execute(damage)
    before = path.read_bytes()
    for read_only in (False, True):
        with pytest.raises(KnowledgeBaseError):
            kb = KnowledgeBase(path, read_only=read_only)
            kb.count_trials()
            kb.trials()
    assert path.read_bytes() == before


def test_a_name_too_long_for_the_system_is_typed(tmp_path: Path) -> None:
    with pytest.raises(KnowledgeBaseError, match="shorter path"):
        KnowledgeBase(tmp_path / ("k" * 300 + ".duckdb"))


def test_a_fifo_in_the_stores_place_is_refused_without_hanging(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "kb.duckdb")
    outcome: list[str] = []

    def run() -> None:
        try:
            KnowledgeBase(tmp_path / "kb.duckdb")
            outcome.append("opened")
        except KnowledgeBaseError as exc:
            outcome.append(str(exc))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(20)
    assert outcome and "not a regular file" in outcome[0]


_AS_NOBODY = """
import json, sys
from metahp import KnowledgeBase
from metahp.errors import MetaHPError
out = {}
for read_only in (False, True):
    try:
        out[str(read_only)] = KnowledgeBase(sys.argv[1], read_only=read_only).count_trials()
    except MetaHPError as exc:
        out[str(read_only)] = type(exc).__name__ + ": " + str(exc)
    except Exception as exc:
        out[str(read_only)] = "UNTYPED " + type(exc).__name__ + ": " + str(exc)
print(json.dumps(out))
"""


def test_a_read_only_folder_reads_with_read_only_and_says_so_without(tmp_path: Path) -> None:
    folder = Path(tempfile.mkdtemp(prefix="metahp-ro-"))
    try:
        prepare_store(folder / "kb.duckdb")
        os.chmod(folder / "kb.duckdb", 0o444)
        os.chmod(folder, 0o555)
        # root ignores permissions: the check runs without the capability to override them, as the attacker did
        prefix = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--"] if os.geteuid() == 0 else []
        env = {**os.environ, "METAHP_HOME": str(folder / "home")}
        done = subprocess.run([*prefix, sys.executable, "-c", _AS_NOBODY, str(folder / "kb.duckdb")],
                              capture_output=True, text=True, timeout=120, env=env, cwd="/")
        assert done.returncode == 0, done.stderr[-2000:]
        out = json.loads(done.stdout.strip().splitlines()[-1])
        assert out["True"] == 10, out
        assert out["False"].startswith("KnowledgeBaseError") and "read_only=True" in out["False"], out
    finally:
        os.chmod(folder, 0o755)
        os.chmod(folder / "kb.duckdb", 0o644)
        import shutil

        shutil.rmtree(folder)


# ------------------------------------------------------------------------------------- CLI
def _cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "metahp.cli", *args], capture_output=True, text=True,
                          timeout=timeout)


def test_cli_table_import_without_family_or_task_cols_is_a_usage_error(tmp_path: Path) -> None:
    file = _table(tmp_path, _runs())
    kb = str(tmp_path / "kb.duckdb")
    for missing in (["--task-cols", "data"], ["--family", "runs"]):
        done = _cli("kb", "import", "table", str(file), "--kb", kb, "--param-cols", "lr", "--objective", "loss",
                    *missing)
        assert done.returncode == 2, done.stderr
        assert "Traceback" not in done.stderr and "needs --" in done.stderr
    one = _cli("kb", "import", "table", str(file), "--kb", kb, "--param-cols", "lr", "--objective", "loss",
               "--family", "runs", "--task-cols", "")
    assert one.returncode == 0, one.stderr
    assert KnowledgeBase(kb).count_trials() == 3


def test_cli_lock_timeout_is_an_option_and_the_message_names_it(tmp_path: Path) -> None:
    path = tmp_path / "held.duckdb"
    prepare_store(path)
    child = start("hold", path=str(path))
    try:
        child.wait_for("locked")
        began = time.perf_counter()
        done = _cli("kb", "stats", "--kb", str(path), "--lock-timeout", "0.5")
        assert done.returncode == 2 and "stayed locked" in done.stderr and "--lock-timeout" in done.stderr
        assert time.perf_counter() - began < 60
    finally:
        child.kill()
    assert _cli("kb", "stats", "--kb", str(path), "--lock-timeout", "5").returncode == 0
