"""Meta-features of a model: size, shape, context length and whether it starts pretrained.

Parameter counts come from the model itself, or, for a configuration, from instantiating
it on PyTorch's ``meta`` device, which allocates no memory and takes milliseconds even
for billion-parameter configurations. Embedding parameters are the weights of every
``nn.Embedding`` (tokens, positions, token types) plus an untied output projection; the
non-embedding count is the rest (as in Kaplan et al. 2020).
"""

from __future__ import annotations

import json
import math
import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from metahp.errors import ImportSourceError, InvalidConfigError

__all__ = ["model_features"]

# Canonical meta-feature -> config field names that carry it (first found wins).
_FIELDS: dict[str, tuple[str, ...]] = {
    "model_layers": ("num_hidden_layers", "n_layer", "num_layers", "n_layers"),
    "model_width": ("hidden_size", "n_embd", "d_model", "dim"),
    "model_heads": ("num_attention_heads", "n_head", "num_heads", "n_heads"),
    "model_ffn_size": ("intermediate_size", "n_inner", "ffn_dim", "d_ff", "ffn_hidden_size", "decoder_ffn_dim"),
    "model_seq_len": ("max_position_embeddings", "n_positions", "n_ctx", "max_seq_len", "seq_length"),
}
# Architectures whose MLP is 4 x width when the config leaves ``n_inner`` as None.
_FFN_DEFAULT_MULTIPLE = {"gpt2": 4, "gptj": 4, "codegen": 4, "gpt_bigcode": 4}
_WEIGHT_FILES = ("*.safetensors", "pytorch_model*.bin", "tf_model.h5", "flax_model.msgpack", "model.ckpt.index")


def _lookup(source: Any, name: str) -> Any:
    if isinstance(source, Mapping):
        return source.get(name)
    try:
        return getattr(source, name, None)
    except Exception:  # noqa: BLE001 - some configs raise on unknown attribute access
        return None


def _positive_number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = float(value)
    return number if math.isfinite(number) and number > 0 else None


def _shape_features(config: Any) -> dict[str, float]:
    """Layers, width, heads, FFN size and ratio, context length from config fields."""
    out: dict[str, float] = {}
    for feature, names in _FIELDS.items():
        for name in names:
            value = _positive_number(_lookup(config, name))
            if value is not None:
                out[feature] = value
                break
    model_type = _lookup(config, "model_type")
    if "model_ffn_size" not in out and "model_width" in out and model_type in _FFN_DEFAULT_MULTIPLE:
        out["model_ffn_size"] = _FFN_DEFAULT_MULTIPLE[model_type] * out["model_width"]
    if "model_ffn_size" in out and "model_width" in out:
        out["model_ffn_ratio"] = out["model_ffn_size"] / out["model_width"]
    return out


def _parameter_counts(module: Any) -> dict[str, float]:
    """Total and non-embedding parameter counts of a ``torch.nn.Module`` (shared tensors once)."""
    import torch

    params = {id(p): p for p in module.parameters()}
    embedding: dict[int, Any] = {}
    for sub in module.modules():
        if isinstance(sub, torch.nn.Embedding):
            embedding.update({id(p): p for p in sub.parameters()})
    get_output = getattr(module, "get_output_embeddings", None)
    output = get_output() if callable(get_output) else None
    if output is not None:
        embedding.update({id(p): p for p in output.parameters()})
    total = sum(p.numel() for p in params.values())
    embedded = sum(p.numel() for key, p in embedding.items() if key in params)
    return {"model_params": float(total), "model_params_nonembedding": float(total - embedded)}


def _config_from_dict(fields: Mapping[str, Any]) -> Any:
    """A transformers config from a dict with ``model_type``; None without one."""
    model_type = fields.get("model_type")
    if model_type is None:
        return None
    from transformers import AutoConfig

    rest = {k: v for k, v in fields.items() if k != "model_type"}
    try:
        return AutoConfig.for_model(str(model_type), **rest)
    except (ValueError, KeyError) as exc:
        raise InvalidConfigError(f"unknown model_type {model_type!r} in the model config: {exc}") from exc


def _counts_from_config(config: Any) -> dict[str, float]:
    """Parameter counts of a config's base model, built on the meta device (no memory)."""
    import torch
    from transformers import AutoModel

    try:
        with torch.device("meta"):
            model = AutoModel.from_config(config)
    except Exception as exc:  # noqa: BLE001 - any architecture-specific failure only drops the counts
        warnings.warn(f"cannot instantiate {type(config).__name__} to count parameters ({exc}); "
                      "model_params are left out", RuntimeWarning, stacklevel=3)
        return {}
    return _parameter_counts(model)


def _read_model_folder(path: Path) -> tuple[dict[str, Any], bool]:
    folder = path.parent if path.is_file() else path
    config_file = path if path.is_file() else path / "config.json"
    if not config_file.is_file():
        raise ImportSourceError(
            f"no config.json in {str(folder)!r}; pass a Hugging Face model folder or its config.json"
        )
    try:
        fields = json.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ImportSourceError(f"cannot read {str(config_file)!r} as JSON: {exc}") from exc
    if not isinstance(fields, dict):
        raise ImportSourceError(f"{str(config_file)!r} must hold a JSON object")
    has_weights = any(any(folder.glob(pattern)) for pattern in _WEIGHT_FILES)
    return fields, has_weights


def model_features(model: Any) -> dict[str, float]:
    """Meta-features of a model or model description.

    Args:
        model: One of
            - a path to a local Hugging Face model folder (or its ``config.json``): only
              ``config.json`` is read; ``model_pretrained`` is 1.0 when the folder holds
              weight files (``*.safetensors``, ``pytorch_model*.bin``, ...), else 0.0;
            - a ``transformers.PretrainedConfig`` (``model_pretrained`` 0.0: a config
              describes training from scratch);
            - a dict of config fields; with ``model_type`` it is turned into a
              transformers config, without one only the shape fields are read;
            - a ``torch.nn.Module``; for a transformers model ``model_pretrained`` is 1.0
              when it was loaded with ``from_pretrained`` (its ``name_or_path`` is set).

    Returns:
        Those of ``model_params``, ``model_params_nonembedding``, ``model_layers``,
        ``model_width``, ``model_heads``, ``model_ffn_size``, ``model_ffn_ratio``,
        ``model_seq_len`` and ``model_pretrained`` that the input determines.

    Raises:
        ImportSourceError: A path without a readable ``config.json``.
        InvalidConfigError: Any other type, or an unknown ``model_type``.
    """
    if isinstance(model, (str, os.PathLike)):
        path = Path(model).expanduser()
        if not path.exists():
            raise ImportSourceError(f"model path {str(path)!r} does not exist; pass a local model folder")
        fields, has_weights = _read_model_folder(path)
        config = _config_from_dict(fields)
        out = _shape_features(config if config is not None else fields)
        if config is not None:
            out.update(_counts_from_config(config))
        out["model_pretrained"] = 1.0 if has_weights else 0.0
        return out
    if isinstance(model, Mapping):
        config = _config_from_dict(model)
        out = _shape_features(config if config is not None else model)
        if config is not None:
            out.update(_counts_from_config(config))
        out["model_pretrained"] = 0.0
        return out
    from transformers import PretrainedConfig

    if isinstance(model, PretrainedConfig):
        out = _shape_features(model)
        out.update(_counts_from_config(model))
        out["model_pretrained"] = 0.0
        return out
    import torch

    if isinstance(model, torch.nn.Module):
        config = getattr(model, "config", None)
        out = _shape_features(config) if config is not None else {}
        out.update(_parameter_counts(model))
        if isinstance(config, PretrainedConfig):
            name_or_path = getattr(model, "name_or_path", "") or getattr(config, "_name_or_path", "")
            out["model_pretrained"] = 1.0 if name_or_path else 0.0
        return out
    raise InvalidConfigError(
        "model must be a local model folder path, a transformers PretrainedConfig, a dict of config fields "
        f"or a torch.nn.Module, got {type(model).__name__}"
    )
