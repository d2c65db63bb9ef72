from __future__ import annotations

import math

import pytest
import torch

from metahp.errors import UnknownTaskError
from metahp.runner import ARCHITECTURE_PARAMS, Task
from metahp.runner import suite as tasks
from metahp.runner._models import count_parameters, model_config

CANONICAL_PARAMS = {"learning_rate", "batch_size", "weight_decay", "warmup_ratio", "dropout", "optimizer",
                    "lr_schedule", "beta2", "grad_clip", *ARCHITECTURE_PARAMS}


def _params(task: Task) -> int:
    constructor, config = model_config(task.model.with_config(task.space.default()))
    with torch.device("meta"):
        return count_parameters(constructor(config))


def test_suite_size_and_names() -> None:
    suite = tasks.builtin()
    assert len(suite) >= 16
    assert len({t.name for t in suite}) == len(suite)
    assert tasks.names() == [t.name for t in suite]
    assert {"lm-text", "lm-synthetic", "lm-arch", "cls-scratch", "cls-finetune"} <= set(tasks.families())


def test_parameter_counts_span_two_orders_of_magnitude() -> None:
    counts = [_params(t) for t in tasks.builtin()]
    assert max(counts) / min(counts) >= 100


def test_spaces_are_valid_canonical_and_shared_within_a_family() -> None:
    by_family: dict[str, set[str]] = {}
    for task in tasks.builtin():
        default = task.space.validate(task.space.default())
        assert set(task.space.names) <= CANONICAL_PARAMS
        assert {"learning_rate", "batch_size", "optimizer"} <= set(default)
        for config in task.space.sample(5, seed=1):
            task.space.validate(config)
        by_family.setdefault(task.family, set()).add(task.space.signature)
        assert task.direction == ("minimize" if task.kind == "causal-lm" else "maximize")
        assert task.eval_interval(task.budget) * 4 <= task.budget
    assert all(len(signatures) == 1 for signatures in by_family.values())


def test_get_unknown_task_names_the_choices() -> None:
    with pytest.raises(UnknownTaskError, match="drama-s"):
        tasks.get("no-such-task")
    assert tasks.get("dyck").family == "lm-synthetic"


@pytest.mark.parametrize("name", ["dyck", "majority"])
def test_meta_features_are_canonical_and_finite(name: str) -> None:
    features = tasks.get(name).meta_features
    for key in ("data_tokens", "data_vocab_size", "data_unigram_entropy", "model_params", "model_layers",
                "budget_steps", "budget_tokens", "budget_flops"):
        assert key in features and math.isfinite(features[key]) and features[key] > 0, key
    assert all(k.split("_")[0] in {"data", "model", "budget"} for k in features)
    assert features["budget_steps"] == tasks.get(name).budget
    if name == "majority":
        assert features["data_num_classes"] == 3
