"""``kb.features()`` and ``metahp kb features``: the vocabulary a knowledge base holds."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from metahp import KnowledgeBase
from metahp._paths import bundled_kb_dir
from metahp.cli import main
from metahp.space import Float, SearchSpace


@pytest.fixture(scope="module")
def seed() -> KnowledgeBase:
    kb = KnowledgeBase(":memory:")
    kb.import_(bundled_kb_dir())
    return kb


def test_every_meta_feature_with_its_range_and_count(seed: KnowledgeBase) -> None:
    found = seed.features()
    meta = found.meta_features.set_index("name")
    tasks = seed.tasks()
    for name, row in meta.iterrows():
        values = tasks[name].dropna()
        assert (row["min"], row["max"], row["n_tasks"]) == (values.min(), values.max(), len(values)), name
    assert meta.loc["model_pretrained", "n_tasks"] == len(tasks)  # every seeded task says it
    assert meta.loc["model_params", "max"] == 550e9  # Nemotron-3-Ultra-550B-A55B
    assert meta.loc["model_params_active", "families"] == "tinker-sft"
    assert meta.loc["budget_tokens", "max"] == 4e10
    assert meta.loc["model_params", "description"]  # canonical features are explained


def test_every_family_with_regime_objective_and_space(seed: KnowledgeBase) -> None:
    families = seed.features().families.set_index("family")
    assert set(families.index) == set(seed.families())
    assert families.loc["tinker-sft", "regime"] == "lora"
    assert families.loc["tinker-sft", "parameters"] == ["learning_rate", "lora_rank"]
    assert families.loc["opda-deberta", "regime"] == "finetune"
    assert families.loc["opda-deberta", "objective_type"] == "score"
    assert families.loc["scan-bench", ["regime", "objective_type", "direction", "n_tasks", "n_trials"]].tolist() == \
        ["pretrain", "loss", "minimize", 1189, 1194]
    assert "learning_rate: [1e-05, 0.01] (log scale)" in families.loc["scan-bench", "space"]
    assert families["n_trials"].sum() == seed.count_trials()


def test_a_feature_no_task_carries_is_not_listed() -> None:
    kb = KnowledgeBase(":memory:")
    space = SearchSpace([Float("learning_rate", 1e-4, 1e-1, log=True)])
    kb.add_task("a", family="f", kind="pretrain", space=space, meta_features={"model_params": 1e6, "mf0": math.nan})
    found = kb.features()
    assert found.meta_features["name"].tolist() == ["model_params"]
    assert found.families[["family", "regime", "objective_type", "n_trials"]].to_dict("records") == \
        [{"family": "f", "regime": "pretrain", "objective_type": "loss", "n_trials": 0}]
    assert KnowledgeBase(":memory:").features().families.empty


def test_cli_lists_features_and_families(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = tmp_path / "kb.duckdb"
    kb = KnowledgeBase(store)
    kb.add_task("a", family="f", kind="lora", space=SearchSpace([Float("learning_rate", 1e-5, 1e-3, log=True)]),
                meta_features={"model_params": 7e9, "model_params_active": 1e9})
    assert main(["kb", "features", "--kb", str(store)]) == 0
    out = capsys.readouterr().out
    assert "model_params_active" in out and "f: regime lora, loss objective (minimize)" in out
    assert main(["kb", "features", "--kb", str(store), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["families"][0]["parameters"] == ["learning_rate"]
    assert {m["name"]: m["max"] for m in data["meta_features"]} == {"model_params": 7e9, "model_params_active": 1e9}
    assert main(["kb", "features", "--kb", str(tmp_path / "missing.duckdb")]) == 2  # read-only: refuses a typo
