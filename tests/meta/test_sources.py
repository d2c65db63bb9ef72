"""select_sources: comparable tasks of any family, by regime, objective type and meta-feature distance."""

from __future__ import annotations

import numpy as np
import pandas as pd

from metahp.meta import meta_distances, select_sources


def _tasks() -> pd.DataFrame:
    rows = [
        ("pre/a", "pre", "pretrain", "minimize", {"model_params": 1e8, "budget_tokens": 2e9}),
        ("pre/b", "pre", "lm-pretraining", "minimize", {"model_params": 1e9, "budget_tokens": 2e10}),
        ("toy/c", "toy", "causal-lm", "minimize", {"model_params": 1e5, "model_pretrained": 0.0}),
        ("ft/d", "ft", "finetune", "maximize", {"model_params": 1e8, "model_pretrained": 1.0}),
        ("cls/e", "cls", "classification", "maximize", {"model_params": 1e6, "model_pretrained": 0.0}),
        ("svm/f", "svm", "", "minimize", {"mf0": 1.0}),
    ]
    return pd.DataFrame([{"name": n, "family": f, "kind": k, "direction": d, "meta_features": m, "n_trials": 10}
                         for n, f, k, d, m in rows])


def test_regime_objective_and_shared_features_choose_the_sources_nearest_first():
    sel = select_sources(_tasks(), {"model_params": 1.2e8, "budget_tokens": 2e9}, regime="pretrain")
    assert sel.names[0] == "pre/a" and sel.names[-1] == "toy/c"
    assert set(sel.names) == {"pre/a", "pre/b", "toy/c"}  # any family, kinds read as regimes
    # the fine-tuning task and the SVM table of no regime; the classifier's accuracy is not the nearest's loss
    assert sel.left_out == {"another regime": 2, "another objective type": 1}
    assert sel.objective == "loss"
    scores = select_sources(_tasks(), {"model_params": 1.2e8}, regime="pretrain", objective="score")
    assert scores.names == ["cls/e"]
    assert list(sel.distances) == sorted(sel.distances)
    loss_only = select_sources(_tasks(), {"model_params": 1.2e8}, regime="pretrain", objective="loss")
    assert loss_only.left_out["another objective type"] == 1
    assert "cls/e" not in loss_only.names and "pre/a" in loss_only.names


def test_the_regime_is_read_from_model_pretrained_and_a_lora_rank():
    sel = select_sources(_tasks(), {"model_params": 2e8, "model_pretrained": 1.0})
    assert sel.regime == "finetune" and sel.names == ["ft/d"]
    lora = select_sources(_tasks(), {"model_params": 2e8, "model_pretrained": 1.0}, space_names=["lora_rank"])
    assert lora.regime == "lora" and lora.names == []


def test_excluded_tasks_are_never_selected():
    sel = select_sources(_tasks(), {"model_params": 1e8}, regime="pretrain", exclude=["pre/a"])
    assert "pre/a" not in sel.names


def test_a_source_of_unknown_size_is_not_the_nearest_of_a_question_that_gives_one():
    """Only model_pretrained shared is not a match: the missing size counts as a typical source's distance."""
    target = {"model_params": 7e9, "model_pretrained": 1.0}
    metas = [{"model_pretrained": 1.0},  # a model whose size the source does not say
             {"model_params": 8e9, "model_pretrained": 1.0},
             {"model_params": 7e11, "model_pretrained": 1.0},
             {"model_params": 1e9, "model_pretrained": 1.0}]
    d = meta_distances(target, metas)
    assert int(np.argmin(d)) == 1
    assert d[1] < d[0] < d[2]  # unknown sits between the near and the far known sizes
    assert np.isinf(meta_distances({"data_rows": 1e3}, metas)).all()  # nothing shared at all
