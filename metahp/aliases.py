"""Parameter aliases: the names other tools use for metahp's canonical parameters.

Transfer happens across tasks whose parameters share a name (``docs/CONTRACTS.md``). Users and
tools name the same hyperparameters differently: Hugging Face ``TrainingArguments`` says
``per_device_train_batch_size`` and ``num_train_epochs``, sweep tables say ``lr`` and ``bs``,
PEFT says ``r`` for the LoRA rank. This module is the one home of that mapping; the
recommender, the study, the integrations and the importers all go through it.

    >>> canonical_name("per_device_train_batch_size")
    'batch_size'
    >>> canonical_name("LR")
    'learning_rate'
    >>> canonical_name("my_own_knob")
    'my_own_knob'
    >>> canonicalize({"lr": 3e-4, "num_train_epochs": 3})
    {'learning_rate': 0.0003, 'epochs': 3}
    >>> alias_for("batch_size", ["per_device_train_batch_size", "learning_rate"])
    'per_device_train_batch_size'
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from metahp.errors import InvalidConfigError
from metahp.space import SearchSpace

__all__ = ["PARAM_ALIASES", "CANONICAL_PARAMS", "canonical_name", "canonicalize", "alias_for", "aliases_of",
           "canonical_space"]

#: Canonical parameter names, with what each means (the vocabulary ``metahp kb features`` lists).
CANONICAL_PARAMS: dict[str, str] = {
    "learning_rate": "peak learning rate of the optimiser",
    "batch_size": "sequences (or examples) per optimiser step on one device",
    "weight_decay": "decoupled weight decay (AdamW)",
    "warmup_ratio": "share of the training steps spent warming the learning rate up",
    "warmup_steps": "optimiser steps spent warming the learning rate up",
    "epochs": "passes over the training data",
    "dropout": "dropout probability",
    "optimizer": "optimiser name",
    "lr_schedule": "learning-rate schedule (cosine, linear, constant, ...)",
    "beta1": "Adam's first-moment decay",
    "beta2": "Adam's second-moment decay",
    "adam_epsilon": "Adam's epsilon",
    "grad_clip": "gradient-norm clipping threshold",
    "num_layers": "transformer layers",
    "hidden_size": "model width",
    "num_heads": "attention heads",
    "seq_len": "training sequence length in tokens",
    "lora_rank": "LoRA adapter rank",
    "lora_alpha": "LoRA scaling alpha",
    "label_smoothing": "label smoothing factor",
    "gradient_accumulation_steps": "micro-batches accumulated per optimiser step",
    "cooldown_ratio": "share of the training steps spent cooling the learning rate down",
}

#: Foreign name -> canonical name (matched case-insensitively, ``-`` read as ``_``).
PARAM_ALIASES: dict[str, str] = {
    # learning rate
    "lr": "learning_rate",
    "learningrate": "learning_rate",
    "peak_lr": "learning_rate",
    "max_lr": "learning_rate",
    "eta": "learning_rate",
    # batch size
    "bs": "batch_size",
    "batch": "batch_size",
    "batchsize": "batch_size",
    "per_device_train_batch_size": "batch_size",
    "train_batch_size": "batch_size",
    "micro_batch_size": "batch_size",
    # epochs
    "num_train_epochs": "epochs",
    "num_epochs": "epochs",
    "n_epochs": "epochs",
    "epoch": "epochs",
    # regularisation
    "wd": "weight_decay",
    "weightdecay": "weight_decay",
    "dropout_rate": "dropout",
    "hidden_dropout_prob": "dropout",
    "label_smoothing_factor": "label_smoothing",
    # schedule
    "warmup": "warmup_ratio",
    "warmup_fraction": "warmup_ratio",
    "warmup_proportion": "warmup_ratio",
    "num_warmup_steps": "warmup_steps",
    "lr_scheduler_type": "lr_schedule",
    "lr_scheduler": "lr_schedule",
    "scheduler": "lr_schedule",
    "schedule": "lr_schedule",
    "cooldown": "cooldown_ratio",
    "cooldown_fraction": "cooldown_ratio",
    # optimiser
    "optim": "optimizer",
    "optimiser": "optimizer",
    "adam_beta1": "beta1",
    "adam_beta2": "beta2",
    "b1": "beta1",
    "b2": "beta2",
    "eps": "adam_epsilon",
    "max_grad_norm": "grad_clip",
    "clip_grad_norm": "grad_clip",
    "gradient_clipping": "grad_clip",
    "grad_norm_clip": "grad_clip",
    # architecture
    "n_layer": "num_layers",
    "n_layers": "num_layers",
    "num_hidden_layers": "num_layers",
    "layers": "num_layers",
    "n_embd": "hidden_size",
    "d_model": "hidden_size",
    "width": "hidden_size",
    "n_head": "num_heads",
    "num_attention_heads": "num_heads",
    "max_seq_length": "seq_len",
    "max_length": "seq_len",
    "block_size": "seq_len",
    "context_length": "seq_len",
    "sequence_length": "seq_len",
    # adapters
    "r": "lora_rank",
    "rank": "lora_rank",
    "lora_r": "lora_rank",
}


def _key(name: str) -> str:
    return name.strip().lower().replace("-", "_")


def canonical_name(name: str) -> str:
    """Return the canonical name of a parameter (unknown names are returned unchanged).

    Args:
        name: A parameter name as a user or tool spells it.

    Returns:
        The canonical name when ``name`` is one of it, or a known alias of one, else ``name``.
    """
    key = _key(name)
    if key in CANONICAL_PARAMS:
        return key
    return PARAM_ALIASES.get(key, name)


def aliases_of(canonical: str) -> list[str]:
    """Return the known aliases of a canonical parameter name, sorted."""
    return sorted(alias for alias, target in PARAM_ALIASES.items() if target == canonical)


def canonicalize(config: Mapping[str, Any], *, keep: Iterable[str] = ()) -> dict[str, Any]:
    """Rename the keys of a configuration to canonical names.

    Args:
        config: Parameter name -> value, in any spelling.
        keep: Names to leave as they are (e.g. the names of the space being searched, when the
            user's space itself uses an alias).

    Returns:
        A new dict with canonical keys, in the original order.

    Raises:
        InvalidConfigError: Two keys map to the same canonical name (``lr`` and ``learning_rate``).
    """
    kept = set(keep)
    out: dict[str, Any] = {}
    origin: dict[str, str] = {}
    for name, value in config.items():
        target = name if name in kept else canonical_name(name)
        if target in out:
            raise InvalidConfigError(
                f"parameters {origin[target]!r} and {name!r} both mean {target!r}; give only one of them"
            )
        out[target] = value
        origin[target] = name
    return out


def alias_for(canonical: str, names: Iterable[str]) -> str | None:
    """Return the name among ``names`` that means ``canonical`` (itself or an alias), or ``None``.

    Use it to answer in the user's own vocabulary: the recommendation says ``batch_size``, the
    user's Trainer space says ``per_device_train_batch_size``.
    """
    for name in names:
        if canonical_name(name) == canonical:
            return name
    return None


def canonical_space(space: SearchSpace, keep: Iterable[str] = ()) -> tuple[SearchSpace, dict[str, str]]:
    """Return ``space`` with canonical parameter names, and canonical name -> the user's name for those renamed.

    A name whose canonical form the space already holds (``lr`` beside ``learning_rate``) keeps its
    own name, and so does a name in ``keep`` (pass the names the knowledge base records: a store
    whose own tasks say ``lr`` is asked in ``lr``). Use the mapping to answer in the user's names,
    e.g. with :func:`canonicalize`'s inverse.

        >>> from metahp.space import Float, Int, SearchSpace
        >>> space, renamed = canonical_space(SearchSpace([Float("lr", 1e-5, 1e-2, log=True),
        ...                                               Int("per_device_train_batch_size", 8, 64)]))
        >>> space.names, renamed
        (['learning_rate', 'batch_size'], {'learning_rate': 'lr', 'batch_size': 'per_device_train_batch_size'})
    """
    from dataclasses import replace

    kept = set(keep)
    renamed: dict[str, str] = {}
    params = []
    for name, param in space.items():
        canonical = canonical_name(name)
        if canonical != name and name not in kept and canonical not in space and canonical not in renamed:
            renamed[canonical] = name
            params.append(replace(param, name=canonical))
        else:
            params.append(param)
    return (SearchSpace(params), renamed) if renamed else (space, {})
