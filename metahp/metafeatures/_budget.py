"""Meta-features of a training budget and of the device it runs on."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from metahp.errors import InvalidConfigError

__all__ = ["budget_features", "device_features"]

_BUDGET_KEYS = ("steps", "batch_size", "seq_len", "tokens", "epochs")
_DEVICES = "'cpu', 'cuda', 'cuda:N', 'mps', 'auto' or a torch.device"


def _positive(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise InvalidConfigError(f"budget[{key!r}] must be a positive number, got {value!r}")
    return float(value)


def budget_features(
    budget: Mapping[str, Any],
    *,
    params_nonembedding: float | None = None,
    data_tokens: float | None = None,
) -> dict[str, float]:
    """Meta-features of a training budget.

    The token budget ``D`` is ``budget["tokens"]`` if given, else ``steps x batch_size x
    seq_len`` (sequences of ``seq_len`` tokens), else ``epochs x data_tokens``.

    Args:
        budget: Any of ``steps``, ``batch_size``, ``seq_len``, ``tokens``, ``epochs``.
        params_nonembedding: ``N``, the model's non-embedding parameters, if known.
        data_tokens: Tokens in one pass over the dataset, if known.

    Returns:
        ``budget_steps``, ``budget_tokens``, ``budget_flops`` (``6 N D``) and
        ``budget_tokens_per_param`` (``D / N``), each when the inputs determine it.

    Raises:
        InvalidConfigError: Not a mapping, unknown keys or non-positive values.

    Example:
        >>> f = budget_features({"steps": 100, "batch_size": 8, "seq_len": 128}, params_nonembedding=1e6)
        >>> f["budget_tokens"], f["budget_flops"], f["budget_tokens_per_param"]
        (102400.0, 614400000000.0, 0.1024)
    """
    if not isinstance(budget, Mapping):
        raise InvalidConfigError(
            f"budget must be a dict with keys among {list(_BUDGET_KEYS)}, got {type(budget).__name__}"
        )
    unknown = [k for k in budget if k not in _BUDGET_KEYS]
    if unknown:
        raise InvalidConfigError(f"unknown budget key(s) {unknown}; use {list(_BUDGET_KEYS)}")
    values = {k: _positive(k, v) for k, v in budget.items() if v is not None}
    out: dict[str, float] = {}
    if "steps" in values:
        out["budget_steps"] = values["steps"]
    tokens: float | None = None
    if "tokens" in values:
        tokens = values["tokens"]
    elif all(k in values for k in ("steps", "batch_size", "seq_len")):
        tokens = values["steps"] * values["batch_size"] * values["seq_len"]
    elif "epochs" in values and data_tokens is not None:
        tokens = values["epochs"] * float(data_tokens)
    if tokens is not None:
        out["budget_tokens"] = tokens
        if params_nonembedding is not None and params_nonembedding > 0:
            out["budget_flops"] = 6.0 * float(params_nonembedding) * tokens
            out["budget_tokens_per_param"] = tokens / float(params_nonembedding)
    return out


def device_features(device: Any) -> dict[str, float]:
    """``device_cuda``: 1.0 for a CUDA device, 0.0 for CPU/MPS; ``"auto"`` asks torch.

    Example:
        >>> device_features("cuda:0"), device_features("cpu")
        ({'device_cuda': 1.0}, {'device_cuda': 0.0})
    """
    kind = getattr(device, "type", device)
    if not isinstance(kind, str):
        raise InvalidConfigError(f"device must be {_DEVICES}, got {device!r}")
    kind = kind.split(":", 1)[0].strip().lower()
    if kind == "auto":
        import torch

        kind = "cuda" if torch.cuda.is_available() else "cpu"
    if kind not in ("cpu", "cuda", "mps"):
        raise InvalidConfigError(f"device must be {_DEVICES}, got {device!r}")
    return {"device_cuda": 1.0 if kind == "cuda" else 0.0}
