"""The words a user describes a task with: meta-feature names, training regimes, objective types.

This module is the one home of that vocabulary and of the check that refuses a word outside
it. A misspelled meta-feature (``params`` for ``model_params``) would otherwise be read as
"unknown" and silently change nothing; :func:`check_names` raises
:class:`~metahp.errors.UnknownNameError` listing the valid words, nearest first.

    >>> canonical_regime("lm-pretraining"), canonical_regime("LoRA"), canonical_regime("classification")
    ('pretrain', 'lora', None)
    >>> check_names(["model_params"], META_FEATURES, what="meta-feature")
    >>> try:
    ...     check_names(["params"], META_FEATURES, what="meta-feature")
    ... except UnknownNameError as exc:
    ...     exc.suggestions[:2]
    ['model_params', 'model_params_active']
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Any

from metahp.errors import UnknownNameError

__all__ = [
    "META_FEATURES",
    "REGIMES",
    "OBJECTIVE_TYPES",
    "SCALE_FEATURES",
    "canonical_regime",
    "regime_of",
    "check_names",
    "check_regime",
    "objective_type",
]

#: Canonical meta-features (``docs/CONTRACTS.md``) and what each means.
META_FEATURES: dict[str, str] = {
    "data_tokens": "tokens in the training data",
    "data_documents": "documents (examples) in the training data",
    "data_vocab_size": "distinct tokens (or the tokenizer's vocabulary)",
    "data_seq_len_mean": "mean document length in tokens",
    "data_seq_len_p95": "95th percentile of the document length in tokens",
    "data_unigram_entropy": "unigram entropy of the tokens, bits",
    "data_compression_ratio": "zlib compression ratio of the text",
    "data_num_classes": "classes of a classification task",
    "data_label_entropy": "entropy of the label distribution, bits",
    "data_rows": "rows of a tabular data set",
    "data_features": "columns of a tabular data set",
    "model_params": "parameters of the model (all, MoE: total)",
    "model_params_active": "parameters active per token (MoE)",
    "model_params_nonembedding": "parameters without the embeddings",
    "model_layers": "transformer layers",
    "model_width": "model width (hidden size)",
    "model_heads": "attention heads",
    "model_ffn_size": "feed-forward width",
    "model_ffn_ratio": "feed-forward width over model width",
    "model_seq_len": "training context length in tokens",
    "model_pretrained": "1.0 when training starts from pretrained weights, 0.0 from scratch",
    "budget_steps": "optimiser steps",
    "budget_tokens": "tokens trained on",
    "budget_flops": "training compute, 6 N D",
    "budget_tokens_per_param": "tokens per (non-embedding) parameter",
    "device_cuda": "1.0 on a GPU, 0.0 on CPU",
}

#: Training regimes (a task's ``kind``), with what each means.
REGIMES: dict[str, str] = {
    "pretrain": "pre-training from scratch (randomly initialised weights)",
    "finetune": "full fine-tuning of a pretrained model",
    "lora": "adapter (LoRA) fine-tuning of a pretrained model",
}

#: Objective types: what a lower or higher value means.
OBJECTIVE_TYPES: dict[str, str] = {
    "loss": "a loss or error, minimised",
    "score": "an accuracy or other score, maximised",
}

#: Meta-features that measure scale (size of model, data or compute), used on a log scale by trends.
SCALE_FEATURES: tuple[str, ...] = (
    "model_params_nonembedding", "model_params", "model_params_active", "budget_tokens", "budget_flops",
    "budget_tokens_per_param", "budget_steps", "data_tokens", "data_documents", "model_seq_len",
)

_REGIME_WORDS: dict[str, str] = {
    "pretrain": "pretrain", "pretraining": "pretrain", "pre-training": "pretrain", "pre_training": "pretrain",
    "lm-pretraining": "pretrain", "scratch": "pretrain", "from-scratch": "pretrain", "causal-lm": "pretrain",
    "finetune": "finetune", "fine-tune": "finetune", "fine-tuning": "finetune", "finetuning": "finetune",
    "full-finetune": "finetune", "sft": "finetune",
    "lora": "lora", "adapter": "lora", "adapters": "lora", "peft": "lora", "lora-finetune": "lora",
    "lora-sft": "lora", "qlora": "lora",
}


def canonical_regime(kind: str | None) -> str | None:
    """The regime a task's ``kind`` names (``pretrain``, ``finetune``, ``lora``), or None for other kinds."""
    if not kind:
        return None
    return _REGIME_WORDS.get(str(kind).strip().lower().replace("_", "-"))


def regime_of(kind: str | None, meta: Mapping[str, float], space_names: Iterable[str] = ()) -> str | None:
    """A task's regime: from its ``kind``, else from ``model_pretrained`` (and a LoRA rank in its space).

    A pretrained model with ``lora_rank`` among its parameters is adapter fine-tuning, without one
    full fine-tuning; ``model_pretrained`` 0.0 is pre-training. None when neither says.
    """
    regime = canonical_regime(kind)
    if regime is not None:
        return regime
    pretrained = meta.get("model_pretrained")
    if pretrained is None or pretrained != pretrained:  # absent or NaN
        return None
    if float(pretrained) >= 0.5:
        return "lora" if "lora_rank" in set(space_names) else "finetune"
    return "pretrain"


def objective_type(direction: str | None) -> str:
    """``loss`` for a minimised objective, ``score`` for a maximised one."""
    return "score" if str(direction or "minimize").lower().startswith("max") else "loss"


def check_names(names: Iterable[str], valid: Iterable[str], *, what: str) -> None:
    """Raise :class:`UnknownNameError` for the first of ``names`` not in ``valid``.

    Args:
        names: Words the user gave.
        valid: Words metahp knows.
        what: What a word is, for the message (``"meta-feature"``, ``"family"``, ...).

    Raises:
        UnknownNameError: A word outside ``valid``; the message lists the closest valid words
            (difflib) and then all of them.
    """
    known = sorted(set(valid))
    known_set = set(known)
    for name in names:
        if name not in known_set:
            raise unknown(name, known, what=what)


def check_regime(regime: Any) -> str:
    """The canonical regime of a user-given ``regime`` (any spelling :func:`canonical_regime` reads).

    Raises:
        UnknownNameError: Not a regime.
    """
    found = canonical_regime(regime) if isinstance(regime, str) else None
    if found is None:
        raise unknown(str(regime), sorted(REGIMES), what="regime", extra=sorted(_REGIME_WORDS))
    return found


def unknown(name: str, valid: list[str], *, what: str, extra: Iterable[str] = ()) -> UnknownNameError:
    """The :class:`UnknownNameError` for ``name`` with did-you-mean suggestions among ``valid``."""
    pool = sorted(set(valid) | set(extra))
    close = difflib.get_close_matches(name, pool, n=3, cutoff=0.5)
    # Substring matches (``params`` in ``model_params``) are what a user usually means.
    contains = [v for v in pool if name and (name.lower() in v.lower() or v.lower() in name.lower())]
    suggestions = list(dict.fromkeys(sorted(contains, key=len)[:3] + close))[:5]
    hint = f"; did you mean {' or '.join(repr(s) for s in suggestions[:3])}?" if suggestions else ""
    listing = ", ".join(valid) if len(valid) <= 60 else ", ".join(valid[:60]) + f", ... ({len(valid)} in all)"
    return UnknownNameError(f"unknown {what} {name!r}{hint} Valid {what}s: {listing}", name=name,
                            valid=list(valid), suggestions=suggestions)
