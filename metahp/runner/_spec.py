"""What a runner task is: a model specification, a dataset, a budget and a search space.

This module imports neither torch nor transformers, so the built-in suite can be listed
quickly; everything heavy happens when a task is trained or its meta-features are read.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from metahp.errors import TrainingError
from metahp.space import SearchSpace

__all__ = ["ModelSpec", "Task", "ARCHITECTURE_PARAMS", "KINDS"]

#: Hyperparameters that change the model rather than the optimisation.
ARCHITECTURE_PARAMS: tuple[str, ...] = ("num_layers", "hidden_size", "num_heads", "seq_len")

#: Task kinds and the direction of their objective.
KINDS: dict[str, str] = {"causal-lm": "minimize", "classification": "maximize"}


@dataclass(frozen=True)
class ModelSpec:
    """A transformers model to build for a task.

    Args:
        arch: ``"gpt2"`` (causal LM from scratch, ``GPT2LMHeadModel``), ``"bert"``
            (encoder with a classification head from scratch, ``BertForSequenceClassification``)
            or ``"pretrained"`` (a BERT-family checkpoint fine-tuned with a new head).
        num_layers: Transformer blocks (ignored for ``"pretrained"``).
        hidden_size: Model width (ignored for ``"pretrained"``).
        num_heads: Attention heads; must divide ``hidden_size``.
        seq_len: Context length in tokens.
        ffn_ratio: Feed-forward width as a multiple of ``hidden_size``.
        vocab_size: Vocabulary size of the byte-level tokenizer (ignored for ``"pretrained"``).
        num_labels: Classes of a classification head.
        checkpoint: For ``"pretrained"``: a name registered in
            ``metahp.runner._models.CHECKPOINTS`` or a local folder with ``config.json``,
            weights and tokenizer files.
    """

    arch: str
    num_layers: int = 2
    hidden_size: int = 64
    num_heads: int = 4
    seq_len: int = 128
    ffn_ratio: int = 4
    vocab_size: int = 260
    num_labels: int | None = None
    checkpoint: str | None = None

    @property
    def pretrained(self) -> bool:
        """Whether the model starts from a checkpoint."""
        return self.arch == "pretrained"

    def with_config(self, config: Mapping[str, Any]) -> ModelSpec:
        """This spec with the architecture parameters of ``config`` applied."""
        changes: dict[str, Any] = {name: int(config[name]) for name in ARCHITECTURE_PARAMS if name in config}
        return dataclasses.replace(self, **changes) if changes else self


@dataclass(frozen=True, eq=False)
class Task:
    """One trainable task of the runner.

    Args:
        name: Unique name (``"drama-s"``).
        family: Tasks of one family share one search space (``"lm-text"``).
        kind: ``"causal-lm"`` (objective: validation loss, minimised) or
            ``"classification"`` (objective: validation accuracy, maximised).
        model: The model to build; architecture parameters in a configuration override it.
        dataset: Key of the dataset in ``metahp.runner._data`` (``LM_CORPORA`` for
            causal LMs, ``CLS_DATASETS`` for classification).
        budget: Training steps.
        space: The search space; a configuration's missing parameters take its defaults.
        eval_every: Steps between evaluations (shortened so any budget gets at least 4).
        eval_size: Validation sequences (causal LM) or at most this many examples
            (classification) in every evaluation; fixed, independent of the seed.
        description: One line for people.
    """

    name: str
    family: str
    kind: str
    model: ModelSpec
    dataset: str
    budget: int
    space: SearchSpace
    eval_every: int
    eval_size: int = 32
    description: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise TrainingError(f"task {self.name!r}: kind must be one of {sorted(KINDS)}, got {self.kind!r}")
        if self.budget < 1 or self.eval_every < 1:
            raise TrainingError(f"task {self.name!r}: budget and eval_every must be positive integers")

    def __repr__(self) -> str:
        return f"Task({self.name!r}, family={self.family!r}, kind={self.kind!r}, budget={self.budget})"

    @property
    def direction(self) -> str:
        """``"minimize"`` for causal LMs (loss), ``"maximize"`` for classification (accuracy)."""
        return KINDS[self.kind]

    @property
    def objective_name(self) -> str:
        """Name of the objective: ``"val_loss"`` or ``"val_accuracy"``."""
        return "val_loss" if self.kind == "causal-lm" else "val_accuracy"

    def eval_interval(self, budget: int) -> int:
        """Steps between evaluations for a run of ``budget`` steps (at least 4 evaluations)."""
        return max(1, min(self.eval_every, budget // 4))

    @cached_property
    def meta_features(self) -> dict[str, float]:
        """Data, model and budget meta-features with canonical names (computed on first use)."""
        from metahp.runner._features import task_meta_features  # it imports this module's Task

        return task_meta_features(self)
