from __future__ import annotations

import pytest
import torch

from metahp.errors import InvalidConfigError
from metahp.metafeatures import budget_features, device_features


def test_tokens_from_steps_batch_and_seq_len() -> None:
    f = budget_features({"steps": 10, "batch_size": 4, "seq_len": 32}, params_nonembedding=1000)
    assert f == {"budget_steps": 10.0, "budget_tokens": 1280.0, "budget_flops": 6 * 1000 * 1280,
                 "budget_tokens_per_param": 1.28}


def test_other_budget_forms() -> None:
    assert budget_features({"tokens": 5e9}) == {"budget_tokens": 5e9}  # no model: no flops
    assert budget_features({"steps": 7}) == {"budget_steps": 7.0}  # no tokens without batch and seq_len
    assert budget_features({"epochs": 2}, data_tokens=300)["budget_tokens"] == 600.0
    assert budget_features({"epochs": 2}) == {}
    explicit = budget_features({"tokens": 100, "steps": 1, "batch_size": 1, "seq_len": 1})
    assert explicit["budget_tokens"] == 100.0


@pytest.mark.parametrize(
    ("budget", "match"),
    [({"step": 10}, "unknown budget key"), ({"steps": -1}, "positive"), ({"tokens": True}, "positive"),
     ({"tokens": float("nan")}, "positive"), (1000, "must be a dict")],
)
def test_bad_budgets(budget: object, match: str) -> None:
    with pytest.raises(InvalidConfigError, match=match):
        budget_features(budget)  # type: ignore[arg-type]


def test_devices() -> None:
    assert device_features("cpu") == {"device_cuda": 0.0}
    assert device_features("CUDA:1") == {"device_cuda": 1.0}
    assert device_features(torch.device("cuda", 0)) == {"device_cuda": 1.0}
    assert device_features("mps") == {"device_cuda": 0.0}
    assert device_features("auto") == {"device_cuda": float(torch.cuda.is_available())}
    for bad in ("tpu", 3):
        with pytest.raises(InvalidConfigError, match="device must be"):
            device_features(bad)
