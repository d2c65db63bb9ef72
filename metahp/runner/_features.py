"""Meta-features of a runner task, through :func:`metahp.task.describe_task`.

Data features describe the training split as the task's model sees it (byte tokens for
models trained from scratch, the checkpoint's own tokenizer for fine-tuning); model
features come from the task's default model; the budget is the task's steps at the
space's default batch size and the model's context length.
"""

from __future__ import annotations

from typing import Any

from metahp.runner import _data
from metahp.runner._models import checkpoint_path, model_config
from metahp.runner._spec import Task
from metahp.task import describe_task

__all__ = ["task_spec", "task_meta_features"]


def _byte_tokens(text: str) -> bytes:
    return text.encode("utf-8")


def task_spec(task: Task) -> Any:
    """The :class:`~metahp.task.TaskSpec` of a runner task (name, family, kind, meta-features, space)."""
    defaults = task.space.default()
    spec = task.model.with_config(defaults)
    if task.kind == "causal-lm":
        dataset: Any = list(_data.lm_data(task.dataset).train_texts)
    else:
        texts = _data.classification_texts(task.dataset)
        dataset = list(zip(texts.train_texts, texts.train_labels))
    if spec.pretrained:
        folder = checkpoint_path(spec.checkpoint)
        model: Any = folder
        tokenizer: Any = _data.pretrained_tokenizer(folder)
    else:
        model, tokenizer = model_config(spec)[1], _byte_tokens
    described = describe_task(
        dataset=dataset, model=model, tokenizer=tokenizer, name=task.name, family=task.family, kind=task.kind,
        budget={"steps": task.budget, "batch_size": int(defaults.get("batch_size", 1)), "seq_len": spec.seq_len},
        space=task.space,
    )
    # The model sees sequences of the task's length, whatever its checkpoint allows.
    described.meta_features["model_seq_len"] = float(spec.seq_len)
    return described


def task_meta_features(task: Task) -> dict[str, float]:
    """All meta-features of a task: ``data_*``, ``model_*`` and ``budget_*``."""
    return dict(task_spec(task).meta_features)
