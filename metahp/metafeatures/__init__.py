"""Meta-features: named floats describing a task's data, model, budget and device.

The names are the canonical ones of ``docs/CONTRACTS.md`` (``data_*``, ``model_*``,
``budget_*``, ``device_cuda``). Every extractor is deterministic and leaves out what
its input does not determine (never 0 for "unknown"). ``torch`` and ``transformers``
are imported only when a model is described.
"""

from metahp.metafeatures._budget import budget_features, device_features
from metahp.metafeatures._model import model_features
from metahp.metafeatures._text import default_tokenize, label_features, load_documents, text_features

__all__ = [
    "budget_features",
    "default_tokenize",
    "device_features",
    "label_features",
    "load_documents",
    "model_features",
    "text_features",
]
