"""The language-model importers (scan-bench, tinker-sft, opda) on the real public files."""

from __future__ import annotations

import gzip
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from metahp import KnowledgeBase
from metahp.errors import ImportSourceError
from metahp.kb._lm_sources import load_opda, load_scan_bench, load_tinker_sft, parse_model_size
from metahp.kb.importers import IMPORTERS, ImportedTask


@pytest.fixture(scope="module")
def scan(external: Path) -> list[ImportedTask]:
    return load_scan_bench(external / "scan_bench_llm")


@pytest.fixture(scope="module")
def tinker(external: Path) -> list[ImportedTask]:
    return load_tinker_sft(external / "tinker_sft")


@pytest.fixture(scope="module")
def opda(external: Path) -> list[ImportedTask]:
    return load_opda(external / "opda_deberta")


def test_registered_under_their_source_names() -> None:
    assert IMPORTERS["scan-bench"] is load_scan_bench
    assert IMPORTERS["tinker-sft"] is load_tinker_sft
    assert IMPORTERS["opda"] is load_opda


@pytest.mark.parametrize(("name", "total", "active"), [
    ("meta-llama/Llama-3.2-1B", 1e9, None),
    ("meta-llama/Llama-3.1-8B-Instruct", 8e9, None),
    ("Qwen/Qwen3-30B-A3B-Base", 30e9, 3e9),
    ("Qwen/Qwen3.5-397B-A17B", 397e9, 17e9),
    ("nvidia/NVIDIA-Nemotron-3-Ultra-550B-A55B-BF16", 550e9, 55e9),
    ("openai/gpt-oss-120b", 120e9, None),
    ("Qwen/Qwen3-VL-235B-A22B-Instruct", 235e9, 22e9),
    ("deepseek-ai/DeepSeek-V3.1", None, None),
    ("moonshotai/Kimi-K2.5", None, None),
    ("my-org/A3B-only", None, None),  # an active count without a total is not read as a total
])
def test_model_size_from_the_name(name: str, total: float | None, active: float | None) -> None:
    assert parse_model_size(name) == (total, active)


def test_scan_bench_one_task_per_shape_and_budget(scan: list[ImportedTask]) -> None:
    assert len(scan) == 1189
    assert sum(len(t.trials) for t in scan) == 1194
    assert len({t.name for t in scan}) == 1189
    sizes = np.array([t.meta_features["model_params"] for t in scan])
    tokens = np.array([t.meta_features["budget_tokens"] for t in scan])
    assert 1.5e7 < sizes.min() < 2e7 and 1e9 < sizes.max() < 1.1e9
    assert 1.9e8 < tokens.min() and tokens.max() == 4e10
    for task in scan:
        meta = task.meta_features
        assert task.kind == "pretrain" and meta["model_pretrained"] == 0.0
        assert task.direction == "minimize" and task.objective_name == "valid_loss"
        assert 0 < meta["model_params_nonembedding"] < meta["model_params"]
        assert meta["model_params"] - meta["model_params_nonembedding"] == meta["data_vocab_size"] * meta["model_width"]
        assert math.isclose(meta["budget_flops"], 6 * meta["model_params_nonembedding"] * meta["budget_tokens"])
        assert meta["model_seq_len"] == 2048
        assert task.space.names == ["learning_rate", "weight_decay", "beta1", "beta2", "batch_size", "cooldown_ratio"]


def test_scan_bench_trial_is_the_last_checkpoint_with_its_curve(scan: list[ImportedTask], external: Path) -> None:
    raw = pd.read_csv(external / "scan_bench_llm" / "configs_intermediate_summary.csv.gz")
    task = next(t for t in scan if len(t.trials) == 1 and len(t.trials["curve"].iloc[0]) >= 5)
    trial = task.trials.iloc[0]
    rows = raw[raw["config_id"] == int(trial["metrics"]["config_id"])].sort_values("step_index")
    assert trial["objective"] == rows["valid_loss"].iloc[-1]
    assert trial["metrics"]["test_loss"] == rows["test_loss"].iloc[-1]
    assert trial["curve"] == [[float(s), float(v)] for s, v in zip(rows["eval_step"], rows["valid_loss"])]
    assert trial["learning_rate"] == rows["lr"].iloc[-1]
    last = rows.iloc[-1]
    gpus = last["recommended_num_gpus"]
    assert trial["batch_size"] == last["micro_batch_size"] * last["grad_accumulation_steps"] * gpus
    # the batch is sequences of 2,048 tokens per optimiser step: it accounts for the tokens trained
    assert math.isclose(trial["batch_size"] * 2048 * last["eval_step"], last["tokens_so_far"], rel_tol=1e-3)
    shared = [t for t in scan if len(t.trials) > 1]
    assert len(shared) == 5  # the (shape, budget) pairs the source drew twice


def test_tinker_one_task_per_model_with_sizes_from_names(tinker: list[ImportedTask]) -> None:
    assert len(tinker) == 35
    assert sum(len(t.trials) for t in tinker) == 548
    by_model = {t.provenance["model"]: t for t in tinker}
    moe = by_model["Qwen/Qwen3-30B-A3B"].meta_features
    assert (moe["model_params"], moe["model_params_active"]) == (30e9, 3e9)
    assert by_model["meta-llama/Llama-3.2-1B"].meta_features["model_params"] == 1e9
    assert "model_params_active" not in by_model["meta-llama/Llama-3.2-1B"].meta_features
    for unknown in ("deepseek-ai/DeepSeek-V3.1", "moonshotai/Kimi-K2.5"):
        assert "model_params" not in by_model[unknown].meta_features  # absent, never 0
    for task in tinker:
        assert task.kind == "lora" and task.meta_features["model_pretrained"] == 1.0
        assert task.space.names == ["learning_rate", "lora_rank"]
        assert task.direction == "minimize" and task.objective_name == "test_nll"
        assert (task.trials["cost"] > 0).all()
        assert task.provenance["repository"] == "github.com/thinking-machines-lab/tinker-cookbook"


def test_opda_one_finetuning_task_with_curves(opda: list[ImportedTask], external: Path) -> None:
    (task,) = opda
    assert task.kind == "finetune" and task.meta_features["model_pretrained"] == 1.0
    assert task.direction == "maximize" and len(task.trials) == 1024
    assert task.space.names == ["epochs", "batch_size", "learning_rate", "warmup_ratio", "cls_drop_out"]
    with gzip.open(external / "opda_deberta" / "deberta-base_tuning.results.jsonl.gz", "rt") as handle:
        first = json.loads(handle.readline())
    trial = task.trials.iloc[0]
    assert trial["epochs"] == first["num_train_epochs"] and trial["batch_size"] == first["train_batch_size"]
    assert math.isclose(trial["warmup_ratio"], first["warmup_steps"] / first["total_model_steps"])
    assert trial["curve"] == first["learning_curves"]["matched"]
    assert trial["objective"] == first["learning_curves"]["matched"][-1][1]
    assert trial["metrics"]["mismatched_accuracy"] == first["learning_curves"]["mismatched"][-1][1]
    assert "CC BY-SA 4.0" in task.provenance["attribution"]


def test_imported_into_a_store_with_curves_and_regimes(external: Path) -> None:
    kb = KnowledgeBase(":memory:")
    result = kb.import_source("opda", external / "opda_deberta")
    assert (result.added_tasks, result.added_trials) == (1, 1024)
    trials = kb.trials("opda-deberta/deberta-base-mnli")
    assert trials["curve"].map(len).min() >= 7
    assert (trials["objective"] == -trials["value"]).all()  # maximised accuracy, stored minimised
    assert kb.task_info("opda-deberta/deberta-base-mnli").kind == "finetune"
    again = kb.import_source("opda", external / "opda_deberta")
    assert (again.added_tasks, again.added_trials, again.duplicate_trials) == (0, 0, 1024)


def test_scan_bench_refuses_a_file_without_its_columns(tmp_path: Path, external: Path) -> None:
    frame = pd.read_csv(external / "scan_bench_llm" / "configs_intermediate_summary.csv.gz", nrows=5)
    frame.drop(columns=["valid_loss"]).to_csv(tmp_path / "configs_intermediate_summary.csv", index=False)
    with pytest.raises(ImportSourceError, match="valid_loss"):
        load_scan_bench(tmp_path)


def test_opda_refuses_a_truncated_file(tmp_path: Path, external: Path) -> None:
    data = (external / "opda_deberta" / "deberta-base_tuning.results.jsonl.gz").read_bytes()
    (tmp_path / "deberta-base_tuning.results.jsonl.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImportSourceError, match="cannot read"):
        load_opda(tmp_path)
