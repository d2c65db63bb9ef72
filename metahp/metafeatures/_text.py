"""Meta-features of a text dataset: size, vocabulary, length distribution, redundancy, labels."""

from __future__ import annotations

import os
import re
import zlib
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from metahp.errors import ImportSourceError, InvalidConfigError

__all__ = ["default_tokenize", "load_documents", "text_features", "label_features"]

_WORD = re.compile(r"\w+|[^\w\s]")
_BLANK_LINE = re.compile(r"\n[ \t\r\f\v]*\n")
_LABEL_TYPES = (str, int, bool, np.integer, np.bool_)
_ZLIB_LEVEL = 9

Tokenizer = Callable[[str], Sequence[Hashable]]


def default_tokenize(text: str) -> list[str]:
    r"""Split ``text`` into words and single punctuation marks (case kept).

    A token is a maximal run of Unicode word characters (``\w+``) or one character that
    is neither a word character nor whitespace. Deterministic and dependency-free.

    Example:
        >>> default_tokenize("Hello, world! It's 2024.")
        ['Hello', ',', 'world', '!', 'It', "'", 's', '2024', '.']
    """
    return _WORD.findall(text)


def _read_text_file(path: Path) -> list[str]:
    if not path.is_file():
        raise ImportSourceError(
            f"dataset path {str(path)!r} is not a file; pass a text file (documents separated by blank lines) "
            "or a list of texts"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ImportSourceError(f"dataset file {str(path)!r} is not UTF-8 text: {exc}") from exc
    return [block.strip() for block in _BLANK_LINE.split(text) if block.strip()]


def _table_columns(dataset: Any) -> list[str] | None:
    """Column names of a mapping, DataFrame, Arrow table or ``datasets.Dataset``; None otherwise."""
    if isinstance(dataset, Mapping):
        return [str(k) for k in dataset]
    for attr in ("column_names", "columns"):  # datasets/Arrow, then pandas
        names = getattr(dataset, attr, None)
        if names is not None and not callable(names):
            return [str(n) for n in names]
    return None


def _column_values(column: Any) -> list[Any]:
    for attr in ("to_pylist", "tolist"):  # Arrow arrays, then pandas/numpy: plain Python values
        convert = getattr(column, attr, None)
        if callable(convert):
            return list(convert())
    return list(column)


def load_documents(dataset: Any, labels: Sequence[Any] | None = None) -> tuple[list[str], list[Any] | None]:
    """Normalise a dataset into a list of documents and optional labels.

    Args:
        dataset: One of
            - a path (``str`` or ``os.PathLike``) to a UTF-8 text file: documents are the
              blocks separated by blank lines (a file without blank lines is one document);
            - a sequence of texts;
            - a sequence of ``(text, label)`` pairs;
            - a table with a ``"text"`` column and optionally a ``"label"`` (or ``"labels"``)
              column: a dict of lists, a pandas DataFrame, a pyarrow Table or a Hugging
              Face ``datasets.Dataset``.
        labels: Class labels, one per document (not with pairs or a label column).

    Returns:
        The documents and the labels (None when there are none).

    Raises:
        ImportSourceError: The file is missing or not UTF-8.
        InvalidConfigError: Wrong types, no documents, or labels of the wrong length.
    """
    texts: list[Any]
    found_labels: list[Any] | None = None
    if isinstance(dataset, (str, os.PathLike)):
        texts = list(_read_text_file(Path(dataset)))
    elif (columns := _table_columns(dataset)) is not None:
        if "text" not in columns:
            raise InvalidConfigError(f"a dataset table needs a 'text' column; found {columns}")
        texts = _column_values(dataset["text"])
        for key in ("label", "labels"):
            if key in columns:
                found_labels = _column_values(dataset[key])
                break
    elif isinstance(dataset, Iterable) and not isinstance(dataset, (bytes, bytearray)):
        items = list(dataset)
        if items and all(isinstance(item, (tuple, list)) and len(item) == 2 for item in items):
            texts = [item[0] for item in items]
            found_labels = [item[1] for item in items]
        else:
            texts = items
    else:
        raise InvalidConfigError(
            f"dataset must be a list of texts, a list of (text, label) pairs, a text-file path or a table with a "
            f"'text' column, got {type(dataset).__name__}"
        )
    bad = [i for i, t in enumerate(texts) if not isinstance(t, str)]
    if bad:
        raise InvalidConfigError(
            f"every document must be a string; item {bad[0]} is {type(texts[bad[0]]).__name__} "
            f"({len(bad)} non-string item(s))"
        )
    if not texts:
        raise InvalidConfigError("the dataset has no documents; pass at least one non-empty text")
    if labels is not None:
        if found_labels is not None:
            raise InvalidConfigError("labels were given twice: in the dataset and as labels=; pass them once")
        if isinstance(labels, (str, bytes)) or not isinstance(labels, Iterable):
            raise InvalidConfigError(
                f"labels must be a sequence with one label per document, got {type(labels).__name__}"
            )
        found_labels = list(labels)
    if found_labels is not None:
        if len(found_labels) != len(texts):
            raise InvalidConfigError(
                f"got {len(found_labels)} labels for {len(texts)} documents; give one per document"
            )
        wrong = [lab for lab in found_labels if not isinstance(lab, _LABEL_TYPES)]
        if wrong:
            raise InvalidConfigError(
                f"labels must be class labels (str, int or bool), got {wrong[0]!r} ({type(wrong[0]).__name__})"
            )
    return texts, found_labels


def _entropy_bits(counts: Iterable[int]) -> float:
    c = np.fromiter(counts, dtype=float)
    p = c / c.sum()
    return float(-(p * np.log2(p)).sum()) + 0.0  # + 0.0 turns -0.0 into 0.0


def _tokenizer_fn(tokenizer: Any) -> Tokenizer:
    if tokenizer is None:
        return default_tokenize
    encode = getattr(tokenizer, "encode", None)
    if callable(encode):
        def tokenize(text: str) -> Sequence[Hashable]:
            try:
                return list(encode(text, add_special_tokens=False))
            except TypeError:  # a plain encoder without the Hugging Face keyword
                return list(encode(text))

        return tokenize
    if callable(tokenizer):
        return lambda text: list(tokenizer(text))
    raise InvalidConfigError(
        f"tokenizer must be a Hugging Face tokenizer, an object with encode(text) or a callable text -> tokens, "
        f"got {type(tokenizer).__name__}"
    )


def text_features(documents: Sequence[str], *, tokenizer: Any = None) -> dict[str, float]:
    """Meta-features of a list of documents.

    Tokens come from ``tokenizer`` (a Hugging Face tokenizer, used without special
    tokens, or any callable ``text -> tokens``) or else from :func:`default_tokenize`.

    Returns:
        ``data_tokens`` (total tokens), ``data_documents``, ``data_vocab_size`` (distinct
        tokens), ``data_seq_len_mean`` and ``data_seq_len_p95`` (tokens per document; the
        95th percentile with linear interpolation, as ``numpy.percentile``),
        ``data_unigram_entropy`` (bits per token of the unigram distribution) and
        ``data_compression_ratio`` (zlib level 9 compressed size / UTF-8 size of the
        documents joined by blank lines).

    Raises:
        InvalidConfigError: No documents, or no tokens in any of them.

    Example:
        >>> f = text_features(["the cat sat", "the dog sat down", "a cat!"])
        >>> f["data_tokens"], f["data_vocab_size"], round(f["data_seq_len_p95"], 2)
        (10.0, 7.0, 3.9)
    """
    if not documents:
        raise InvalidConfigError("the dataset has no documents; pass at least one non-empty text")
    tokenize = _tokenizer_fn(tokenizer)
    counts: Counter[Hashable] = Counter()
    lengths = np.empty(len(documents), dtype=float)
    for i, doc in enumerate(documents):
        tokens = tokenize(doc)
        lengths[i] = len(tokens)
        counts.update(tokens)
    total = float(lengths.sum())
    if total == 0:
        raise InvalidConfigError("the dataset has no tokens (all documents are empty); pass some text")
    raw = "\n\n".join(documents).encode("utf-8")
    return {
        "data_tokens": total,
        "data_documents": float(len(documents)),
        "data_vocab_size": float(len(counts)),
        "data_seq_len_mean": float(lengths.mean()),
        "data_seq_len_p95": float(np.percentile(lengths, 95)),
        "data_unigram_entropy": _entropy_bits(counts.values()),
        "data_compression_ratio": len(zlib.compress(raw, _ZLIB_LEVEL)) / len(raw),
    }


def label_features(labels: Sequence[Any]) -> dict[str, float]:
    """``data_num_classes`` and ``data_label_entropy`` (bits) of class labels.

    Example:
        >>> label_features(["pos", "neg", "pos", "neg"])
        {'data_num_classes': 2.0, 'data_label_entropy': 1.0}
    """
    if not labels:
        return {}
    counts = Counter(bool(v) if isinstance(v, np.bool_) else v for v in labels)
    return {"data_num_classes": float(len(counts)), "data_label_entropy": _entropy_bits(counts.values())}
