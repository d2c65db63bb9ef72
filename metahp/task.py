"""What a task is: a name, a family, a kind and its meta-features (and optionally a space).

:func:`describe_task` turns what a user has in hand (a text dataset, a model or its
config, a training budget, a device) into a :class:`TaskSpec` whose meta-features use the
canonical names of ``docs/CONTRACTS.md``. The knowledge base and the meta-models only
ever see the ``TaskSpec``.

Example:
    >>> spec = describe_task(["the cat sat", "the dog sat down", "a cat!"], name="toy", device="cpu")
    >>> spec.meta_features["data_tokens"], spec.meta_features["device_cuda"]
    (10.0, 0.0)
    >>> TaskSpec.from_dict(spec.to_dict()) == spec
    True
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from metahp.errors import InvalidConfigError, UnknownTaskError
from metahp.metafeatures import budget_features, device_features, label_features, load_documents, model_features
from metahp.metafeatures import text_features as _text_features
from metahp.space import SearchSpace
from metahp.vocabulary import regime_of

if TYPE_CHECKING:  # pragma: no cover
    from metahp.kb import KnowledgeBase

__all__ = ["TaskSpec", "describe_task", "resolve_task"]

FORMAT_VERSION = 1


@dataclass
class TaskSpec:
    """A task as metahp sees it.

    Attributes:
        name: Task name (unique in a knowledge base), or None for an unnamed target.
        family: Family of tasks it belongs to, or None.
        kind: The training regime (``"pretrain"``, ``"finetune"``, ``"lora"``; see
            :data:`metahp.vocabulary.REGIMES`) or other free text (empty when unknown).
        meta_features: Canonical meta-feature name -> float; missing ones are absent
            (or NaN), never 0.
        space: The task's search space, if it has one.

    Raises:
        InvalidConfigError: A field of the wrong type or a non-numeric meta-feature.
    """

    name: str | None
    family: str | None
    kind: str
    meta_features: dict[str, float] = field(default_factory=dict)
    space: SearchSpace | None = None

    def __post_init__(self) -> None:
        for attr in ("name", "family"):
            value = getattr(self, attr)
            if value is not None and not isinstance(value, str):
                raise InvalidConfigError(f"TaskSpec.{attr} must be a string or None, got {value!r}")
        if not isinstance(self.kind, str):
            raise InvalidConfigError(f"TaskSpec.kind must be a string, got {self.kind!r}")
        if self.space is not None and not isinstance(self.space, SearchSpace):
            raise InvalidConfigError(f"TaskSpec.space must be a SearchSpace or None, got {type(self.space).__name__}")
        if not isinstance(self.meta_features, Mapping):
            raise InvalidConfigError(
                f"TaskSpec.meta_features must be a dict of name -> float, got {type(self.meta_features).__name__}"
            )
        features: dict[str, float] = {}
        for key, value in self.meta_features.items():
            if not isinstance(key, str) or isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise InvalidConfigError(f"meta-feature {key!r} must map a string to a number, got {value!r}")
            features[key] = float(value)
        self.meta_features = features

    def __eq__(self, other: object) -> bool:
        # NaN (a missing meta-feature) equals NaN here, unlike in plain float comparison.
        return isinstance(other, TaskSpec) and self.to_dict() == other.to_dict()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description (NaN meta-features are written as None)."""
        return {
            "format_version": FORMAT_VERSION,
            "name": self.name,
            "family": self.family,
            "kind": self.kind,
            "meta_features": {k: (None if math.isnan(v) else v) for k, v in sorted(self.meta_features.items())},
            "space": self.space.to_dict() if self.space is not None else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TaskSpec:
        """Rebuild a spec written by :meth:`to_dict`.

        Raises:
            InvalidConfigError: Malformed data or a newer ``format_version``.
        """
        if not isinstance(data, Mapping):
            raise InvalidConfigError(f"a serialised TaskSpec must be a mapping, got {type(data).__name__}")
        version = data.get("format_version", FORMAT_VERSION)
        if not isinstance(version, int) or version > FORMAT_VERSION:
            raise InvalidConfigError(
                f"TaskSpec format_version {version!r} is newer than this metahp supports ({FORMAT_VERSION}); "
                "upgrade metahp"
            )
        meta = data.get("meta_features") or {}
        if not isinstance(meta, Mapping):
            raise InvalidConfigError(f"meta_features must be a mapping, got {type(meta).__name__}")
        space = data.get("space")
        return cls(
            name=data.get("name"),
            family=data.get("family"),
            kind=data.get("kind") or "",
            meta_features={k: (math.nan if v is None else v) for k, v in meta.items()},
            space=SearchSpace.from_dict(space) if space is not None else None,
        )


def describe_task(
    dataset: Any = None,
    model: Any = None,
    budget: Mapping[str, Any] | None = None,
    *,
    name: str | None = None,
    family: str | None = None,
    kind: str | None = None,
    device: Any = None,
    labels: Sequence[Any] | None = None,
    tokenizer: Any = None,
    space: SearchSpace | None = None,
) -> TaskSpec:
    """Describe a training task by its meta-features.

    Every part is optional; what is not given is simply absent from the meta-features.
    The result is deterministic: the same inputs give the same features.

    Args:
        dataset: Text data: a list of texts, a list of ``(text, label)`` pairs, a path to
            a UTF-8 text file (documents are blocks separated by blank lines), or a table
            with a ``"text"`` (and optional ``"label"``) column. Gives ``data_tokens``,
            ``data_documents``, ``data_vocab_size``, ``data_seq_len_mean``,
            ``data_seq_len_p95``, ``data_unigram_entropy`` (bits), ``data_compression_ratio``
            (zlib) and, with labels, ``data_num_classes`` and ``data_label_entropy``.
        model: A local model folder path, a ``transformers`` config or model, or a dict
            of config fields. Gives ``model_params``, ``model_params_nonembedding``,
            ``model_layers``, ``model_width``, ``model_heads``, ``model_ffn_size``,
            ``model_ffn_ratio``, ``model_seq_len`` and ``model_pretrained``.
        budget: ``{"steps", "batch_size", "seq_len"}``, ``{"tokens"}`` or ``{"epochs"}``
            (with a dataset). Gives ``budget_steps``, ``budget_tokens`` and, with a
            model, ``budget_flops`` (6·N·D, N non-embedding parameters) and
            ``budget_tokens_per_param``.
        name: Task name.
        family: Task family.
        kind: The training regime (``"pretrain"``, ``"finetune"``, ``"lora"``) or other free text.
            Default: read from the model, ``"finetune"`` for a checkpoint with weights (``"lora"``
            when ``space`` has a ``lora_rank``), ``"pretrain"`` for a config; empty without a model.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"mps"``, ``"auto"`` or a
            ``torch.device``. Gives ``device_cuda``.
        labels: Class labels, one per document, when the dataset has none.
        tokenizer: Tokenizer for the data features (a Hugging Face tokenizer, used
            without special tokens, or a callable ``text -> tokens``). Default: words
            and single punctuation marks (:func:`metahp.metafeatures.default_tokenize`).
        space: The task's search space, kept on the spec.

    Returns:
        The task's :class:`TaskSpec`.

    Raises:
        InvalidConfigError: An input of the wrong type or value.
        ImportSourceError: A dataset file or model folder that cannot be read.
    """
    if labels is not None and dataset is None:
        raise InvalidConfigError("labels were given without a dataset; pass dataset= as well")
    if tokenizer is not None and dataset is None:
        raise InvalidConfigError("a tokenizer was given without a dataset; pass dataset= as well")
    features: dict[str, float] = {}
    if dataset is not None:
        documents, found_labels = load_documents(dataset, labels)
        features.update(_text_features(documents, tokenizer=tokenizer))
        if found_labels is not None:
            features.update(label_features(found_labels))
    if model is not None:
        features.update(model_features(model))
    if budget is not None:
        features.update(budget_features(
            budget,
            params_nonembedding=features.get("model_params_nonembedding"),
            data_tokens=features.get("data_tokens"),
        ))
    if device is not None:
        features.update(device_features(device))
    if not kind:
        # A model with weights is fine-tuned (LoRA when the space has a rank), a config is trained from scratch.
        kind = regime_of(None, features, space.names if space is not None else ()) or ""
    return TaskSpec(name=name, family=family, kind=kind, meta_features=features, space=space)


def resolve_task(task: Any, kb: KnowledgeBase | None = None) -> TaskSpec:
    """The :class:`TaskSpec` of a target task given in any of the forms the library takes.

    This is the one place that turns "a task" into a spec; the recommender and the
    :class:`~metahp.study.Study` both call it. A task name is looked up in ``kb`` only:
    built-in tasks of the training suite are resolved by their callers (the application
    layer's ``metahp.app.task_spec_of``), so the search never knows who trains.

    Args:
        task: A :class:`TaskSpec` (returned as it is); anything with ``meta_features``
            (and optionally ``name``, ``family``, ``kind``, ``space``), such as a runner
            ``Task``; a mapping of meta-features (non-numeric values and None are left
            out, as missing); or the name of a task in ``kb``.
        kb: The knowledge base that task names are looked up in.

    Returns:
        The task's spec. A knowledge-base task carries its stored family, kind,
        meta-features and search space.

    Raises:
        UnknownTaskError: A name not in ``kb`` (or no ``kb``), or a ``task`` of another type.

    Example:
        >>> spec = resolve_task({"data_tokens": 1e6, "note": "text"})
        >>> spec.name, spec.meta_features
        (None, {'data_tokens': 1000000.0})
    """
    if isinstance(task, TaskSpec):
        return task
    if isinstance(task, str):
        if kb is None or not kb.has_task(task):
            where = "the knowledge base" if kb is not None else "a knowledge base (none was given)"
            raise UnknownTaskError(
                f"task {task!r} is not in {where}; pass a TaskSpec or a dict of meta-features instead, list the "
                "tasks with `metahp kb tasks`, or for a built-in task pass metahp.app.task_spec_of(name)"
            )
        info = kb.task_info(task)
        return TaskSpec(name=info.name, family=info.family, kind=info.kind or "",
                        meta_features=_numeric(info.meta_features), space=info.space)
    if hasattr(task, "meta_features") and not isinstance(task, Mapping):
        space = getattr(task, "space", None)
        kind = getattr(task, "kind", "")
        return TaskSpec(name=getattr(task, "name", None), family=getattr(task, "family", None) or None,
                        kind=kind if isinstance(kind, str) else "", meta_features=_numeric(task.meta_features or {}),
                        space=space if isinstance(space, SearchSpace) else None)
    if isinstance(task, Mapping):
        return TaskSpec(name=None, family=None, kind="", meta_features=_numeric(task))
    raise UnknownTaskError(
        f"task must be a metahp.TaskSpec, a dict of meta-features or a task name, got {type(task).__name__}"
    )


def _numeric(meta: Mapping[Any, Any]) -> dict[str, float]:
    """The numeric meta-features of ``meta`` as floats (booleans, None and text are left out)."""
    return {str(k): float(v) for k, v in meta.items() if isinstance(v, numbers.Real) and not isinstance(v, bool)}
