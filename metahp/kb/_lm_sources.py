"""Importers of public language-model sweeps: scan-bench, tinker SFT and OPDA's DeBERTa data.

Each importer returns :class:`~metahp.kb.importers.ImportedTask` objects like the others
in :mod:`metahp.kb.importers` (which registers them in ``IMPORTERS``). Every task carries
its training regime (``metahp.vocabulary.REGIMES``) as its ``kind`` and as the meta-feature
``model_pretrained``:

* ``pretrain``: a model trained from scratch (``model_pretrained`` 0.0);
* ``finetune``: full fine-tuning of a pretrained model (1.0);
* ``lora``: adapter (LoRA) fine-tuning of a pretrained model (1.0).

Parameter names go through :func:`metahp.aliases.canonical_name`; meta-features use the
canonical names of ``docs/CONTRACTS.md``. A meta-feature the source does not state, and
that does not follow from it arithmetically, is left out (missing, never 0).

Example:
    >>> parse_model_size("Qwen/Qwen3-30B-A3B-Instruct-2507")
    (30000000000.0, 3000000000.0)
    >>> parse_model_size("meta-llama/Llama-3.2-1B")
    (1000000000.0, None)
    >>> parse_model_size("deepseek-ai/DeepSeek-V3.1")
    (None, None)
"""

from __future__ import annotations

import gzip
import json
import math
import re
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from metahp.aliases import canonical_name
from metahp.errors import ImportSourceError
from metahp.space import Float, Int, SearchSpace

if TYPE_CHECKING:  # pragma: no cover
    from metahp.kb.importers import ImportedTask

__all__ = ["load_scan_bench", "load_tinker_sft", "load_opda", "parse_model_size", "LM_IMPORTERS"]


def _base() -> Any:
    # The shared helpers live in importers.py, which imports this module to register the
    # loaders; importing it here at call time keeps either import order working.
    from metahp.kb import importers

    return importers


# --------------------------------------------------------------------------------------
# scan-bench: decoder-only pre-training runs across scales (automl, MIT)
# --------------------------------------------------------------------------------------

_SCAN_FILE = "configs_intermediate_summary.csv.gz"
_SCAN_COLUMNS = ("config_id", "n_params", "d_model", "n_layers", "n_heads", "n_tokens", "vocab_size", "seq_len",
                 "micro_batch_size", "grad_accumulation_steps", "recommended_num_gpus", "lr", "weight_decay",
                 "beta1", "beta2", "cooldown_steps", "step_index", "eval_step", "step_fraction", "tokens_so_far",
                 "valid_loss", "test_loss", "train_loss_so_far", "flops")
_SCAN_PARAMS = {  # source column -> alias given to canonical_name
    "lr": "lr", "weight_decay": "weight_decay", "beta1": "beta1", "beta2": "beta2", "batch": "batch_size",
    "cooldown_steps": "cooldown_fraction",
}
_SCAN_FFN_RATIO = 8.0 / 3.0  # the source's GLU MLP (mlp_class glu, expand 8/3) in every run


def _scan_space() -> SearchSpace:
    # The sampling ranges SCAN's SOURCE.txt states (lr 1e-5..1e-2 log), the others rounded
    # outwards from the observed draws; every imported run is checked to fit.
    return SearchSpace([
        Float(canonical_name("lr"), 1e-5, 1e-2, log=True),
        Float(canonical_name("weight_decay"), 1e-3, 0.2, log=True),
        Float(canonical_name("beta1"), 0.8, 0.99),
        Float(canonical_name("beta2"), 0.9, 0.999),
        Int(canonical_name("batch_size"), 32, 128, log=True),
        Float(canonical_name("cooldown_fraction"), 0.0, 0.3),
    ])


def load_scan_bench(path: str | Path, *, family: str = "scan-bench") -> list[ImportedTask]:
    """Import scan-bench's LLM pre-training runs (SlimPajama, 16M-1.01B parameters, 0.2B-40B tokens).

    Task granularity: one task per (model shape, token budget), named
    ``<family>/L<layers>-d<width>-h<heads>-D<tokens>``. The source draws shape, budget and
    training hyperparameters together at random, so nearly every task holds one run
    (1,189 tasks for 1,194 runs). A coarser task (per shape, or per size bin) would mix
    token budgets, or model sizes, inside a task, and these are exactly what must stay
    meta-features for transfer across scales to see them; a task per run keeps them exact
    and lets the few repeated (shape, budget) pairs share a task.

    Parameters: ``learning_rate``, ``weight_decay``, ``beta1``, ``beta2``, ``batch_size``
    (sequences of 2,048 tokens per optimiser step: micro batch x accumulation x GPUs) and
    ``cooldown_ratio`` (the warmup-stable-decay schedule's cooldown share; warmup is 5 % in
    every run). Objective: validation loss of the last checkpoint (minimise; the source's
    ``objective_to_minimize`` is its test loss, kept in ``metrics``). ``curve`` holds
    ``[optimiser step, validation loss]`` at every checkpoint; ``fidelity`` is the share of
    the token budget the last checkpoint reached; ``metrics`` keeps test and train loss,
    tokens, steps and the downstream accuracies of the last checkpoint.

    Meta-features: ``model_params`` (with the tied embedding), ``model_params_nonembedding``
    (less vocabulary x width), ``model_layers``, ``model_width``, ``model_heads``,
    ``model_ffn_ratio``, ``model_seq_len``, ``model_pretrained`` (0), ``data_vocab_size``,
    ``budget_tokens``, ``budget_tokens_per_param`` and ``budget_flops`` (6 N D, N without
    embeddings, as for Step Law).

    Args:
        path: ``configs_intermediate_summary.csv(.gz)`` or the folder holding it.
        family: Family name for the imported tasks.

    Raises:
        ImportSourceError: Missing file or columns, or values outside the sampled ranges.
    """
    base = _base()
    what = "scan-bench importer"
    file = _scan_file(path, what)
    frame = base._read_frame(file, what)
    base._require_columns(frame, _SCAN_COLUMNS, what)
    numeric = [c for c in _SCAN_COLUMNS if c not in ("config_id",)]
    base._require_numeric(frame, numeric, what)
    frame = frame.sort_values(["config_id", "step_index"], kind="stable").reset_index(drop=True)
    curves = {cid: [[float(s), float(v)] for s, v in zip(g["eval_step"], g["valid_loss"])]
              for cid, g in frame.groupby("config_id", sort=False)}
    last = frame.groupby("config_id", sort=True).tail(1).reset_index(drop=True)
    last["batch"] = (last["micro_batch_size"] * last["grad_accumulation_steps"]
                     * last["recommended_num_gpus"]).astype("int64")
    for column, alias in _SCAN_PARAMS.items():
        last[canonical_name(alias)] = last[column]
    space = _scan_space()
    base._check_fits(space, last, what)
    last["objective"] = last["valid_loss"].astype(float)
    last["status"] = np.where(np.isfinite(last["objective"]), "ok", "failed")
    last["fidelity"] = np.clip(last["step_fraction"].to_numpy(dtype=float), 1e-9, 1.0)
    last["curve"] = [curves[c] for c in last["config_id"]]
    downstream = [c for c in frame.columns if str(c).startswith("downstream_") and
                  pd.api.types.is_numeric_dtype(frame[c].dtype)]
    last["metrics"] = base._metrics_column(last, {
        "test_loss": "test_loss", "train_loss": "train_loss_so_far", "tokens": "tokens_so_far",
        "steps": "eval_step", "source_flops": "flops", "config_id": "config_id",
        **{c[len("downstream_"):]: c for c in downstream},
    })
    provenance = base._provenance("scan-bench", [file], **_package_info(file.parent))
    keys = ["n_layers", "d_model", "n_heads", "n_tokens"]
    # One narrow frame sliced per task: slicing the wide source frame 1,189 times costs seconds.
    trials = base._finish(last, space, ["objective", "status", "fidelity", "metrics", "curve"])
    described = last[["config_id", "n_params", "vocab_size", "seq_len"]]
    tasks: list[ImportedTask] = []
    for (layers, width, heads, tokens), rows in sorted(last.groupby(keys, sort=True).indices.items()):
        group = described.iloc[rows]
        meta = _constant(group, ["n_params", "vocab_size", "seq_len"], what)
        params = meta["n_params"]
        nonembedding = params - meta["vocab_size"] * float(width)
        if nonembedding <= 0:
            raise ImportSourceError(f"{what}: config(s) {list(group['config_id'])} have n_params {params:g} no larger "
                                    f"than their embedding ({meta['vocab_size']:g} x {width}); the file is damaged")
        tokens = float(tokens)
        tasks.append(base.ImportedTask(
            name=f"{family}/L{int(layers)}-d{int(width)}-h{int(heads)}-D{int(tokens)}",
            family=family,
            kind="pretrain",
            meta_features={
                "model_params": params,
                "model_params_nonembedding": nonembedding,
                "model_layers": float(layers),
                "model_width": float(width),
                "model_heads": float(heads),
                "model_ffn_ratio": _SCAN_FFN_RATIO,
                "model_seq_len": meta["seq_len"],
                "model_pretrained": 0.0,
                "data_vocab_size": meta["vocab_size"],
                "budget_tokens": tokens,
                "budget_tokens_per_param": tokens / nonembedding,
                "budget_flops": 6.0 * nonembedding * tokens,
            },
            space=space,
            trials=trials.iloc[rows].reset_index(drop=True),
            objective_name="valid_loss",
            direction="minimize",
            provenance={**provenance, "config_ids": [int(c) for c in group["config_id"]]},
        ))
    base._check_unique_names(tasks, what)
    return tasks


def _scan_file(path: str | Path, what: str) -> Path:
    p = _base()._existing(path, what)
    if p.is_dir():
        for name in (_SCAN_FILE, _SCAN_FILE[: -len(".gz")]):
            if (p / name).is_file():
                return p / name
        raise ImportSourceError(f"{what}: expected {_SCAN_FILE!r} in the folder {str(p)!r}")
    return p


def _package_info(folder: Path) -> dict[str, str]:
    """The package and version a ``SOURCE.txt`` names (scan-bench ships its data in a wheel)."""
    source = folder / "SOURCE.txt"
    if not source.is_file():
        return {}
    match = re.search(r"^Package:\s*(\S+)\s+(\S+)", source.read_text(encoding="utf-8", errors="replace"), re.M)
    return {"package": match.group(1), "package_version": match.group(2)} if match else {}


def _repository_info(folder: Path) -> dict[str, str]:
    """Repository and commit from a ``SOURCE.txt`` line ``Repository: github.com/o/r, commit abc``."""
    source = folder / "SOURCE.txt"
    if not source.is_file():
        return {}
    text = source.read_text(encoding="utf-8", errors="replace")
    match = re.search(r"^Repository:\s*(\S+?),?\s+commit\s+([0-9a-fA-F]+)", text, re.M)
    return {"repository": match.group(1), "commit": match.group(2)} if match else {}


def _constant(group: pd.DataFrame, columns: list[str], what: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for column in columns:
        values = group[column].unique()
        if len(values) != 1:
            raise ImportSourceError(f"{what}: {column!r} differs between runs of one model shape and budget "
                                    f"({list(values)}); the file is damaged")
        out[column] = float(values[0])
    return out


# --------------------------------------------------------------------------------------
# tinker-cookbook: LoRA SFT of 35 open LLMs (thinking-machines-lab, Apache-2.0)
# --------------------------------------------------------------------------------------

_TINKER_FILE = "sft_sweep.csv"
_TINKER_COLUMNS = ("model", "dataset", "batch_size", "learning_rate", "lora_rank", "test_nll", "train_nll",
                   "wall_minutes")
_TINKER_STEPS = 780.0  # SOURCE.txt: batch size 128, 780 steps, for every model
_SIZE = re.compile(r"^(\d+(?:\.\d+)?)([kmbt])$", re.I)
_ACTIVE = re.compile(r"^a(\d+(?:\.\d+)?)([kmbt])$", re.I)
_SCALE = {"k": 1e3, "m": 1e6, "b": 1e9, "t": 1e12}


def parse_model_size(name: str) -> tuple[float | None, float | None]:
    """Total and active parameter counts a model's name states, or ``None`` for each it does not.

    The name is split at ``/``, ``-`` and ``_``; a part such as ``8B``, ``1.5b`` or ``120b``
    is the total, a part ``A3B`` (after the total, as in ``Qwen3-30B-A3B``) the active
    count of a mixture of experts. Version numbers (``Llama-3.2``), ``BF16`` and names
    without a size (``DeepSeek-V3.1``, ``Kimi-K2.5``) give ``None``.

    Args:
        name: A model name, e.g. ``"Qwen/Qwen3-30B-A3B-Base"``.

    Returns:
        ``(total, active)``; ``active`` is ``None`` unless the name states it.
    """
    total: float | None = None
    active: float | None = None
    for part in re.split(r"[/\-_]", name):
        size = _SIZE.match(part)
        if size and total is None:
            total = float(size.group(1)) * _SCALE[size.group(2).lower()]
            continue
        moe = _ACTIVE.match(part)
        if moe and total is not None and active is None:
            active = float(moe.group(1)) * _SCALE[moe.group(2).lower()]
    return total, active


def _short_model(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9.\-]+", "-", name.rsplit("/", 1)[-1]).strip("-")


def load_tinker_sft(path: str | Path, *, family: str = "tinker-sft") -> list[ImportedTask]:
    """Import tinker-cookbook's LoRA SFT sweeps: one task per model (35 open LLMs, 1B to ~1T parameters).

    Parameters: ``learning_rate`` (log) and ``lora_rank`` (log int). Objective: test NLL
    per token on tulu3 (minimise); per-token NLL depends on the tokenizer, so values compare
    within one model (one task) only. ``metrics`` keeps the train NLL; ``cost`` is the wall
    time in seconds. Repeated (lr, rank) rows of a model, which the source holds, are kept
    as repeated trials.

    Meta-features: ``model_params`` and, for a mixture of experts whose name says so,
    ``model_params_active`` (both from the model name, see :func:`parse_model_size`; absent
    where the name states no size), ``model_pretrained`` (1) and ``budget_steps`` (780).
    The batch size (128 sequences) is the same in every run, so it is no parameter; the
    provenance records it.

    Args:
        path: ``sft_sweep.csv`` or the folder holding it.
        family: Family name for the imported tasks.

    Raises:
        ImportSourceError: Missing file or columns, or non-numeric values.
    """
    base = _base()
    what = "tinker-sft importer"
    file = base._file_in(path, _TINKER_FILE, what)
    frame = base._read_frame(file, what)
    base._require_columns(frame, _TINKER_COLUMNS, what)
    base._require_numeric(frame, ["batch_size", "learning_rate", "lora_rank", "test_nll", "train_nll",
                                  "wall_minutes"], what)
    frame = frame.rename(columns={"learning_rate": canonical_name("learning_rate"),
                                  "lora_rank": canonical_name("lora_rank")})
    frame["objective"] = frame["test_nll"].astype(float)
    frame["status"] = np.where(np.isfinite(frame["objective"]), "ok", "failed")
    frame["cost"] = frame["wall_minutes"].astype(float) * 60.0
    frame["metrics"] = base._metrics_column(frame, {"train_nll": "train_nll"})
    space = base._build_space(frame, ["learning_rate", "lora_rank"], log={"learning_rate": True, "lora_rank": True},
                              widen=["learning_rate"])
    base._check_fits(space, frame, what)
    provenance = base._provenance("tinker-sft", [file], **_repository_info(file.parent))
    tasks: list[ImportedTask] = []
    for model, group in frame.groupby("model", sort=True):
        total, active = parse_model_size(str(model))
        batch = group["batch_size"].unique()
        meta: dict[str, float] = {"model_pretrained": 1.0, "budget_steps": _TINKER_STEPS}
        if total is not None:
            meta["model_params"] = total
        if active is not None:
            meta["model_params_active"] = active
        datasets = sorted(map(str, group["dataset"].unique()))
        tasks.append(base.ImportedTask(
            name=f"{family}/{_short_model(str(model))}",
            family=family,
            kind="lora",
            meta_features=meta,
            space=space,
            trials=base._finish(group, space, ["objective", "status", "cost", "metrics"]),
            objective_name="test_nll",
            direction="minimize",
            provenance={**provenance, "model": str(model), "dataset": ",".join(datasets),
                        "batch_size": [int(b) for b in sorted(batch)],
                        "model_size_from": "the model name" if total is not None else "unknown (not in the name)"},
        ))
    base._check_unique_names(tasks, what)
    return tasks


# --------------------------------------------------------------------------------------
# OPDA: DeBERTa-base fine-tuned on MultiNLI (Nicholas Lourie, CC BY-SA 4.0)
# --------------------------------------------------------------------------------------

_OPDA_FILE = "deberta-base_tuning.results.jsonl.gz"
_OPDA_KEYS = ("num_train_epochs", "train_batch_size", "total_model_steps", "learning_rate", "warmup_steps",
              "cls_drop_out", "learning_curves")
#: The published ``microsoft/deberta-base`` configuration (the checkpoint the source names).
_DEBERTA_BASE = {"model_layers": 12.0, "model_width": 768.0, "model_heads": 12.0, "model_ffn_size": 3072.0}


def _opda_space() -> SearchSpace:
    # The random-search distribution stated by the source's README.
    return SearchSpace([
        Int(canonical_name("num_train_epochs"), 1, 4),
        Int(canonical_name("train_batch_size"), 16, 64),
        Float(canonical_name("learning_rate"), 1e-6, 1e-3, log=True),
        Float(canonical_name("warmup_proportion"), 0.0, 0.6),
        Float(canonical_name("cls_drop_out"), 0.0, 0.3),
    ])


def _read_jsonl(file: Path, what: str) -> list[dict[str, Any]]:
    opener: Any = gzip.open if file.name.endswith(".gz") else open
    records: list[dict[str, Any]] = []
    try:
        with opener(file, "rt", encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                record = json.loads(line)
                if not isinstance(record, dict):
                    raise ValueError(f"line {number} is not a JSON object")
                records.append(record)
    except (OSError, ValueError, EOFError, zlib.error) as exc:  # JSON and UTF-8 errors are ValueErrors
        raise ImportSourceError(f"{what}: cannot read {str(file)!r}: {exc}; copy the complete file again") from exc
    if not records:
        raise ImportSourceError(f"{what}: {str(file)!r} holds no records")
    return records


def _curve(value: Any, what: str, row: int) -> list[list[float]]:
    if not isinstance(value, list) or not value:
        raise ImportSourceError(f"{what}: record {row} has no learning curve")
    out: list[list[float]] = []
    for point in value:
        if not (isinstance(point, list) and len(point) == 2 and all(isinstance(v, (int, float)) for v in point)):
            raise ImportSourceError(f"{what}: record {row} has a malformed curve point {point!r} (want [step, value])")
        out.append([float(point[0]), float(point[1])])
    return out


def load_opda(path: str | Path, *, family: str = "opda-deberta") -> list[ImportedTask]:
    """Import OPDA's DeBERTa-base tuning data: 1,024 random configurations fine-tuned on MultiNLI.

    One task, ``<family>/deberta-base-mnli`` (regime ``finetune``). Parameters: ``epochs``,
    ``batch_size``, ``learning_rate`` (log), ``warmup_ratio`` (the source's ``warmup_steps``
    over its ``total_model_steps``) and ``cls_drop_out`` (the classifier's dropout, kept
    under its own name). Objective: accuracy on the matched validation set at the end of
    training (maximise); ``curve`` is the matched-set accuracy every 1,000 steps and at the
    end; ``metrics`` keeps the final and best accuracy on both sets, the warmup steps and
    the total steps.

    Meta-features: ``model_pretrained`` (1), ``data_num_classes`` (3) and the published
    ``microsoft/deberta-base`` shape (``model_layers``, ``model_width``, ``model_heads``,
    ``model_ffn_size``); its parameter count is not stated by the source and is left out.

    Licence: CC BY-SA 4.0, "DeBERTa Hyperparameter Tuning Data (c) 2023 by Nicholas Lourie";
    what is derived from it (these trials) is shared under the same licence.

    Args:
        path: ``deberta-base_tuning.results.jsonl(.gz)`` or the folder holding it.
        family: Family name for the imported task.

    Raises:
        ImportSourceError: Missing or unreadable file, missing keys or malformed curves.
    """
    base = _base()
    what = "opda importer"
    file = _opda_file(path, what)
    records = _read_jsonl(file, what)
    rows: list[dict[str, Any]] = []
    for i, record in enumerate(records):
        missing = [k for k in _OPDA_KEYS if k not in record]
        if missing:
            raise ImportSourceError(f"{what}: record {i} lacks {missing}; expected the keys {list(_OPDA_KEYS)}")
        curves = record["learning_curves"]
        if not isinstance(curves, dict) or "matched" not in curves:
            raise ImportSourceError(f"{what}: record {i} has no 'matched' learning curve")
        matched = _curve(curves["matched"], what, i)
        mismatched = _curve(curves["mismatched"], what, i) if "mismatched" in curves else []
        try:
            steps = float(record["total_model_steps"])
            row = {
                canonical_name("num_train_epochs"): int(record["num_train_epochs"]),
                canonical_name("train_batch_size"): int(record["train_batch_size"]),
                canonical_name("learning_rate"): float(record["learning_rate"]),
                canonical_name("warmup_proportion"): float(record["warmup_steps"]) / steps,
                canonical_name("cls_drop_out"): float(record["cls_drop_out"]),
            }
        except (TypeError, ValueError, ZeroDivisionError) as exc:
            raise ImportSourceError(f"{what}: record {i} has a non-numeric hyperparameter: {exc}") from exc
        metrics = {"matched_accuracy": matched[-1][1], "best_matched_accuracy": max(v for _, v in matched),
                   "warmup_steps": float(record["warmup_steps"]), "total_steps": steps}
        if mismatched:
            metrics["mismatched_accuracy"] = mismatched[-1][1]
            metrics["best_mismatched_accuracy"] = max(v for _, v in mismatched)
        objective = matched[-1][1]
        rows.append({**row, "objective": objective, "status": "ok" if math.isfinite(objective) else "failed",
                     "metrics": metrics, "curve": matched})
    frame = pd.DataFrame(rows)
    space = _opda_space()
    base._check_fits(space, frame, what)
    meta = {"model_pretrained": 1.0, "data_num_classes": 3.0, **_DEBERTA_BASE}
    return [base.ImportedTask(
        name=f"{family}/deberta-base-mnli",
        family=family,
        kind="finetune",
        meta_features=meta,
        space=space,
        trials=base._finish(frame, space, ["objective", "status", "metrics", "curve"]),
        objective_name="matched_accuracy",
        direction="maximize",
        provenance=base._provenance(
            "opda", [file], **_repository_info(file.parent), checkpoint="microsoft/deberta-base", dataset="MultiNLI",
            licence="CC BY-SA 4.0",
            attribution="DeBERTa Hyperparameter Tuning Data (c) 2023 by Nicholas Lourie, licensed under CC BY-SA 4.0",
            model_shape_from="the published microsoft/deberta-base configuration",
        ),
    )]


def _opda_file(path: str | Path, what: str) -> Path:
    p = _base()._existing(path, what)
    if p.is_dir():
        for name in (_OPDA_FILE, _OPDA_FILE[: -len(".gz")]):
            if (p / name).is_file():
                return p / name
        raise ImportSourceError(f"{what}: expected {_OPDA_FILE!r} in the folder {str(p)!r}")
    return p


#: Source name -> importer, merged into ``metahp.kb.importers.IMPORTERS``.
LM_IMPORTERS = {"scan-bench": load_scan_bench, "tinker-sft": load_tinker_sft, "opda": load_opda}
