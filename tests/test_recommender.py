from __future__ import annotations

import importlib.util
import json
import math
import warnings
from pathlib import Path

import numpy as np
import pytest

import metahp
from metahp import Categorical, Float, Int, SearchSpace
from metahp.errors import MetaHPError, UnknownTaskError
from metahp.meta import cache_info, clear_memory_cache
from metahp.recommender import Recommender, literature_defaults, recommend

_spec = importlib.util.spec_from_file_location("meta_synthetic", Path(__file__).parent / "meta" / "meta_synthetic.py")
assert _spec is not None and _spec.loader is not None
synthetic = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(synthetic)
SPACE = synthetic.SPACE


@pytest.fixture(autouse=True)
def _metahp_home(tmp_path, monkeypatch):
    monkeypatch.setenv("METAHP_HOME", str(tmp_path / "home"))
    clear_memory_cache()


def _fill(kb, n_tasks: int = 6, n_trials: int = 40):
    trials, metas = synthetic.make_trials(n_tasks=n_tasks, n_trials=n_trials)
    for name, group in trials.groupby("task"):
        kb.add_task(name, family="synth", meta_features=metas[name], space=SPACE, objective_name="loss")
        kb.add_trials(name, group.drop(columns=["task", "family", "direction", "objective_name"]))
    return kb, metas


@pytest.fixture
def kb():
    return _fill(metahp.KnowledgeBase(":memory:"))[0]


@pytest.mark.parametrize("model", ["lgbm", "knn"])
def test_portfolio_is_valid_diverse_and_ordered(kb, model):
    recs = recommend("synth/3", k=5, model=model, exclude=["synth/3"], kb=kb)
    assert len(recs) == 5
    configs = [r.config for r in recs]
    for c in configs:
        assert SPACE.validate(c) == c
        assert isinstance(c["batch_size"], int)
    encoded = SPACE.encode_many(configs)
    d = np.sqrt(((encoded[:, None, :] - encoded[None, :, :]) ** 2).mean(axis=2))
    assert d[np.triu_indices(5, 1)].min() >= 0.05  # not copies of the argmax
    assert recs[0].score == min(r.score for r in recs)
    assert recs[0].rationale == "lowest predicted score"
    assert all(r.std > 0 for r in recs)
    true_best = synthetic.best_lr(kb.task_info("synth/3").meta_features["model_params"])
    assert abs(math.log10(recs[0].config["learning_rate"]) - math.log10(true_best)) < 1.0


def test_exclude_and_own_trials(kb):
    with_own = recommend("synth/3", k=2, model="knn", kb=kb)
    assert with_own[0].neighbours[0].task == "synth/3"
    assert with_own[0].neighbours[0].distance == pytest.approx(0.0)
    without = recommend("synth/3", k=2, model="knn", exclude=["synth/3"], kb=kb)
    assert "synth/3" not in [n.task for n in without[0].neighbours]
    assert without[0].neighbours[0].task in {"synth/2", "synth/4"}


def test_predicted_objective_is_on_the_raw_scale(kb):
    rec = recommend("synth/2", k=1, model="lgbm", exclude=["synth/2"], kb=kb)[0]
    assert rec.objective_name == "loss"
    assert rec.predicted_objective is not None
    assert 2.0 <= rec.predicted_objective <= 2.6  # the synthetic losses live in [2, ~2.9]


def test_empty_kb_gives_literature_defaults_with_a_warning():
    kb = metahp.KnowledgeBase(":memory:")
    with pytest.warns(UserWarning, match="empty"):
        recs = recommend({"model_params_nonembedding": 4e8, "budget_tokens": 1e10}, k=3, kb=kb)
    assert len(recs) == 3
    lr = recs[0].config["learning_rate"]
    assert lr == pytest.approx(1.79 * 4e8**-0.713 * 1e10**0.307)
    assert recs[0].filled["learning_rate"].startswith("Step Law")
    assert len({r.config["learning_rate"] for r in recs}) == 3
    assert all(math.isnan(r.score) for r in recs)


def test_defaults_scale_down_with_model_size():
    space = SearchSpace([Float("learning_rate", 1e-6, 1e-1, log=True), Int("batch_size", 1, 4096, log=True)])
    small = literature_defaults(space, {"model_params": 1e7})["learning_rate"][0]
    large = literature_defaults(space, {"model_params": 1e10})["learning_rate"][0]
    assert small > large
    assert literature_defaults(space, {})["learning_rate"][0] == pytest.approx(3e-4)
    few = literature_defaults(space, {"budget_tokens": 1e9})["batch_size"][0]
    many = literature_defaults(space, {"budget_tokens": 1e11})["batch_size"][0]
    assert isinstance(few, int) and few < many


def test_unrelated_kb_warns_and_falls_back(kb):
    space = SearchSpace([Float("momentum", 0.0, 0.99)])  # shares no parameter with the synthetic family
    with pytest.warns(UserWarning, match="no trial"):
        recs = recommend({"model_params": 1e7}, space=space, k=2, kb=kb)
    assert [space.contains(r.config) for r in recs] == [True, True]


def test_partial_overlap_space_fills_unknown_parameters(kb):
    space = SearchSpace([Float("learning_rate", 1e-4, 1e-2, log=True), Int("batch_size", 8, 512, log=True),
                         Float("weight_decay", 0.0, 0.3), Categorical("lr_schedule", ["linear", "cosine"])])
    recs = recommend("synth/3", space=space, k=3, exclude=["synth/3"], kb=kb)
    assert set(recs[0].filled) == {"weight_decay", "lr_schedule"}
    for r in recs:
        assert space.validate(r.config) == r.config
        assert r.config["weight_decay"] == pytest.approx(0.1)
        assert r.config["lr_schedule"] == "cosine"
    assert len({r.config["learning_rate"] for r in recs}) > 1


def test_cache_hit_avoids_refit(kb):
    before = cache_info()
    first = recommend("synth/3", k=3, exclude=["synth/3"], kb=kb)
    after_first = cache_info()
    assert after_first.fits == before.fits + 1
    second = recommend("synth/3", k=3, exclude=["synth/3"], kb=kb)
    assert cache_info().fits == after_first.fits
    assert cache_info().memory_hits == after_first.memory_hits + 1
    assert [r.config for r in first] == [r.config for r in second]
    clear_memory_cache()  # a new process would only have the disk cache
    recommend("synth/3", k=3, exclude=["synth/3"], kb=kb)
    assert cache_info().fits == after_first.fits
    assert cache_info().disk_hits == after_first.disk_hits + 1
    kb.add_trials("synth/0", [{"learning_rate": 1e-3, "batch_size": 32, "optimizer": "adamw", "objective": 2.5}])
    recommend("synth/3", k=3, exclude=["synth/3"], kb=kb)
    assert cache_info().fits == after_first.fits + 1  # the KB changed


def test_task_forms_and_bad_input(kb):
    meta = kb.task_info("synth/3").meta_features
    by_dict = recommend(dict(meta), k=2, kb=kb, family="synth", exclude=["synth/3"])
    by_name = recommend("synth/3", k=2, kb=kb, exclude=["synth/3"])
    assert [r.config for r in by_dict] == [r.config for r in by_name]

    class Spec:  # anything shaped like metahp.task.TaskSpec
        name, family, kind, meta_features, space = "new", "synth", "", dict(meta), None

    assert [r.config for r in recommend(Spec(), k=2, kb=kb, exclude=["synth/3"])] == [r.config for r in by_name]
    with pytest.raises(UnknownTaskError, match="not in the knowledge base"):
        recommend("nope", kb=kb)
    with pytest.raises(UnknownTaskError, match="TaskSpec"):
        recommend(3.5, kb=kb)
    with pytest.raises(MetaHPError, match="positive integer"):
        recommend("synth/3", k=0, kb=kb)
    with pytest.raises(MetaHPError, match="unknown meta-model"):
        recommend("synth/3", model="xgb", kb=kb)


def test_public_recommend_delegates_to_the_recommender(kb):
    via_kb = recommend("synth/3", k=2, exclude=["synth/3"], kb=kb)
    direct = Recommender(kb).recommend("synth/3", k=2, exclude=["synth/3"])
    assert [r.config for r in via_kb] == [r.config for r in direct]


def test_cli_table_and_json(tmp_path, capsys):
    from metahp.cli import main

    path = tmp_path / "kb.duckdb"
    _fill(metahp.KnowledgeBase(path), n_tasks=4, n_trials=30)
    assert main(["recommend", "--task", "synth/1", "-k", "3", "--exclude", "synth/1", "--kb", str(path),
                 "--model", "knn"]) == 0
    out = capsys.readouterr().out
    assert "learning_rate" in out and "nearest source tasks" in out and "synth/1 " not in out
    assert main(["recommend", "--meta", "model_params=3e7", "--family", "synth", "-k", "2", "--json",
                 "--kb", str(path), "--model", "knn"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert len(data["recommendations"]) == 2
    assert main(["recommend", "--meta", "model_params", "--kb", str(path)]) == 2
    assert "key=number" in capsys.readouterr().err
    metahp.KnowledgeBase(tmp_path / "empty.duckdb").stats()  # an existing, empty store
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(["recommend", "--meta", "model_params=3e7", "--kb", str(tmp_path / "empty.duckdb"),
                     "--json"]) == 0
    assert "literature defaults" in capsys.readouterr().out


def test_candidates_portfolio_picks_rows_of_the_given_grid(kb):
    grid = [{"learning_rate": lr, "batch_size": bs} for lr in np.geomspace(1e-5, 1e-1, 9) for bs in (16, 64, 256)]
    grid = [SPACE.validate({**SPACE.default(), **g}) for g in grid]
    recs = recommend("synth/3", k=4, model="gp", exclude=["synth/3"], kb=kb, candidates=grid)
    assert [r.config for r in recs] == [grid[r.candidate] for r in recs]  # type: ignore[index]
    assert len({r.candidate for r in recs}) == 4
    assert recs[0].score == min(r.score for r in recs)
    # The first pick (smooth GP meta-model, 200 source trials) beats most of the grid on the task's
    # true, held-out loss surface.
    params = kb.task_info("synth/3").meta_features["model_params"]
    true = np.array([synthetic.loss(params, g["learning_rate"], g["batch_size"], g["optimizer"]) for g in grid])
    true = np.where(np.isfinite(true), true, np.inf)
    assert true[recs[0].candidate] < np.quantile(true, 0.25)
    # A frame works the same, and k larger than the pool gives the whole pool.
    import pandas as pd

    small = pd.DataFrame(grid[:3])
    everything = recommend("synth/3", k=10, exclude=["synth/3"], kb=kb, candidates=small)
    assert sorted(r.candidate for r in everything) == [0, 1, 2]


def test_candidates_with_an_empty_kb_are_nearest_the_defaults():
    space = SearchSpace([Float("learning_rate", 1e-6, 1e-1, log=True), Int("batch_size", 1, 4096, log=True)])
    grid = [{"learning_rate": 10.0**e, "batch_size": 256} for e in range(-6, 0)]
    with pytest.warns(UserWarning, match="empty"):
        recs = recommend({"model_params": 1e8}, space=space, k=2, kb=metahp.KnowledgeBase(":memory:"),
                         candidates=grid)
    default = literature_defaults(space, {"model_params": 1e8})["learning_rate"][0]
    assert recs[0].config == grid[recs[0].candidate]  # type: ignore[index]
    assert abs(math.log10(recs[0].config["learning_rate"]) - math.log10(default)) <= 0.5
    assert recs[0].candidate != recs[1].candidate


def test_bad_candidates_raise_typed_errors(kb):
    from metahp.errors import InvalidConfigError

    with pytest.raises(InvalidConfigError, match="empty"):
        recommend("synth/3", k=2, kb=kb, candidates=[])
    with pytest.raises(InvalidConfigError, match="candidate 1"):
        recommend("synth/3", k=2, kb=kb, candidates=[SPACE.default(), {**SPACE.default(), "learning_rate": 5.0}])
    with pytest.raises(InvalidConfigError, match="single mapping"):
        recommend("synth/3", k=2, kb=kb, candidates=SPACE.default())


def test_cli_builtin_task_and_candidates_file(tmp_path, capsys):
    from metahp.cli import main
    from metahp.runner.suite import get

    # docs-m is a built-in task the bundled store leaves out: its meta-features, family and space are used.
    assert main(["recommend", "--task", "docs-m", "-k", "2", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    space = get("docs-m").space
    assert [space.validate(r["config"]) == r["config"] for r in data["recommendations"]] == [True, True]
    assert data["recommendations"][0]["neighbours"][0]["task"] != "docs-m"
    # A sweep grid in a CSV: the answer is rows of it.
    path = tmp_path / "kb.duckdb"
    _fill(metahp.KnowledgeBase(path), n_tasks=4, n_trials=30)
    grid = [SPACE.validate({"learning_rate": lr, "batch_size": 64, "optimizer": "adamw"})
            for lr in (1e-4, 1e-3, 1e-2)]
    import pandas as pd

    pd.DataFrame(grid).to_csv(tmp_path / "grid.csv", index=False)
    assert main(["recommend", "--task", "synth/1", "-k", "2", "--kb", str(path), "--candidates",
                 str(tmp_path / "grid.csv"), "--json", "--model", "knn"]) == 0
    recs = json.loads(capsys.readouterr().out)["recommendations"]
    assert [r["config"] for r in recs] == [grid[r["candidate"]] for r in recs]
    assert main(["recommend", "--task", "synth/1", "--kb", str(path), "--candidates", str(tmp_path / "no.csv")]) == 2
    assert "--candidates" in capsys.readouterr().err


# --------------------------------------------------------------------------------------
# the user's own question: vocabulary, sources across families, scale, fine-tuning

def _lm_store():
    """Two pre-training families (one with a Step-Law-like optimum, one toy) and one fine-tuning family."""
    kb = metahp.KnowledgeBase(":memory:")
    law = SearchSpace([Float("learning_rate", 1e-4, 3e-2, log=True), Int("batch_size", 16, 1024, log=True)])
    lrs, bss = np.geomspace(1.2e-4, 2.5e-2, 9), np.geomspace(16, 1024, 7).round().astype(int)
    for n in (2e8, 3e8, 5e8, 8e8):
        for d in (4e9, 1e10, 3e10):
            lr_opt, bs_opt = 1.79 * n**-0.713 * d**0.307, 0.58 * d**0.571 / 2048
            name = f"law/N{n:.0e}-D{d:.0e}"
            kb.add_task(name, family="law", kind="pretrain", space=law, objective_name="loss",
                        meta_features={"model_params_nonembedding": n, "budget_tokens": d, "model_seq_len": 2048.0})
            kb.add_trials(name, [{"learning_rate": float(lr), "batch_size": int(bs),
                                  "objective": 2.0 + np.log10(lr / lr_opt) ** 2 + 0.3 * np.log10(bs / bs_opt) ** 2}
                                 for lr in lrs for bs in bss])
    toy = SearchSpace([Float("learning_rate", 1e-4, 1e-1, log=True), Int("num_layers", 1, 4)])
    kb.add_task("toy/a", family="toy", kind="causal-lm", space=toy, objective_name="loss",
                meta_features={"model_params_nonembedding": 2e4, "budget_tokens": 1e6, "model_seq_len": 64.0})
    kb.add_trials("toy/a", [{"learning_rate": float(lr), "num_layers": int(nl),
                             "objective": float(abs(np.log10(lr) + 2))}
                            for lr in np.geomspace(1e-4, 1e-1, 8) for nl in (1, 2, 3, 4)])
    ft = SearchSpace([Float("learning_rate", 1e-6, 1e-3, log=True), Int("epochs", 1, 4),
                      Float("warmup_ratio", 0.0, 0.3)])
    kb.add_task("ft/nli", family="ft", kind="finetune", space=ft, objective_name="accuracy", direction="maximize",
                meta_features={"model_params": 1.8e8, "model_pretrained": 1.0, "data_num_classes": 3.0})
    rng = np.random.default_rng(0)
    kb.add_trials("ft/nli", [{"learning_rate": float(lr), "epochs": int(e), "warmup_ratio": float(w),
                              "objective": float(0.9 - 0.05 * (np.log10(lr) + 4.6) ** 2 - 0.01 * abs(e - 3))}
                             for lr, e, w in zip(10 ** rng.uniform(-6, -3, 60), rng.integers(1, 5, 60),
                                                 rng.uniform(0, 0.3, 60))])
    return kb


@pytest.fixture
def lm_kb():
    return _lm_store()


def test_unknown_meta_feature_family_and_regime_are_refused_with_did_you_mean(lm_kb):
    from metahp.errors import UnknownNameError

    with pytest.raises(UnknownNameError, match="did you mean 'model_params'") as err:
        recommend({"params": 3.5e8}, kb=lm_kb)
    assert "budget_tokens" in err.value.valid
    with pytest.raises(UnknownNameError, match="did you mean 'law'"):
        recommend({"model_params": 3.5e8}, kb=lm_kb, family="laws")
    with pytest.raises(UnknownNameError, match="unknown regime 'pretrian'.*'pretrain'"):
        recommend({"model_params": 3.5e8}, kb=lm_kb, regime="pretrian")
    with pytest.raises(UnknownNameError, match="objective type"):
        recommend({"model_params": 3.5e8}, kb=lm_kb, objective="accuracy")


def test_without_a_family_the_answer_comes_from_comparable_sources_in_their_space(lm_kb):
    recs = recommend({"model_params_nonembedding": 3.5e8, "budget_tokens": 7e9, "model_seq_len": 2048}, k=3,
                     kb=lm_kb)
    assert set(recs[0].config) == {"learning_rate", "batch_size"}  # no architecture, no fine-tuning parameters
    assert "law" in recs[0].sources and "ft" not in recs[0].sources.split("(")[1].split(")")[0]
    assert recs[0].rationale.startswith("follows the scale trend of 12 law tasks")
    n, d = 3.5e8, 7e9
    assert recs[0].config["learning_rate"] == pytest.approx(1.79 * n**-0.713 * d**0.307, rel=0.15)
    assert recs[0].warnings == ()


def test_the_top_pick_follows_scale_and_warns_beyond_the_sources(lm_kb):
    small = recommend({"model_params_nonembedding": 2.5e8, "budget_tokens": 5e9}, k=1, kb=lm_kb)[0]
    with pytest.warns(UserWarning, match=r"10B parameters is 12.5x the largest related source \(800M\)"):
        large = recommend({"model_params_nonembedding": 1e10, "budget_tokens": 5e9}, k=1, kb=lm_kb)[0]
    expected = (1e10 / 2.5e8) ** -0.713
    assert large.config["learning_rate"] / small.config["learning_rate"] == pytest.approx(expected, rel=0.2)
    assert "less certain (standard deviation x" in large.warnings[0] and small.warnings == ()


def test_fine_tuning_answers_come_from_fine_tuning_sources_with_epochs_and_warmup(lm_kb):
    recs = recommend({"model_params": 2.2e7, "model_pretrained": 1.0, "data_num_classes": 2.0}, k=2, kb=lm_kb)
    assert "1 source tasks of 1 family (ft)" in recs[0].sources
    assert {"learning_rate", "epochs", "warmup_ratio"} <= set(recs[0].config)
    assert 1e-5 <= recs[0].config["learning_rate"] <= 1e-4
    with pytest.warns(UserWarning, match="no task of the knowledge base is comparable"):
        lora = recommend({"model_params": 2.2e7, "model_pretrained": 1.0}, k=1, kb=lm_kb, regime="lora")
    assert lora[0].config["learning_rate"] == pytest.approx(2e-4) and lora[0].config["lora_rank"] == 16


def test_a_space_in_trainer_names_is_answered_in_those_names(lm_kb):
    space = SearchSpace([Float("lr", 1e-5, 1e-1, log=True), Int("per_device_train_batch_size", 8, 2048, log=True)])
    recs = recommend({"model_params_nonembedding": 3.5e8, "budget_tokens": 7e9}, space=space, k=2, kb=lm_kb)
    assert set(recs[0].config) == {"lr", "per_device_train_batch_size"}
    assert space.validate(recs[0].config) == recs[0].config
    assert recs[0].config["lr"] == pytest.approx(1.79 * 3.5e8**-0.713 * 7e9**0.307, rel=0.15)


def test_a_family_of_one_run_per_task_answers_through_a_model_across_scales():
    kb = metahp.KnowledgeBase(":memory:")
    space = SearchSpace([Float("learning_rate", 1e-5, 1e-1, log=True)])
    rng = np.random.default_rng(0)
    for i in range(150):
        n, lr = 10 ** rng.uniform(7, 9), 10 ** rng.uniform(-5, -1)
        best = 3e-3 * (n / 1e8) ** -1.5  # a steeper law than the literature's: only the runs can tell
        kb.add_task(f"one/{i}", family="one", kind="pretrain", space=space, objective_name="loss",
                    meta_features={"model_params_nonembedding": n, "budget_tokens": 1e10})
        kb.add_trials(f"one/{i}", [{"learning_rate": lr, "objective": 20 * n**-0.1 + np.log10(lr / best) ** 2}])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # no task ranks configurations: the meta-model has nothing to fit
        small = recommend({"model_params_nonembedding": 2e7, "budget_tokens": 1e10}, k=1, kb=kb)[0]
        large = recommend({"model_params_nonembedding": 6e8, "budget_tokens": 1e10}, k=1, kb=kb)[0]
    assert small.rationale.startswith("a model across scales of one's 150 runs")
    assert small.config["learning_rate"] / large.config["learning_rate"] > 30  # the law says 164; Step Law's 11
    assert small.config["learning_rate"] == pytest.approx(3e-3 * 0.2**-1.5, rel=1.0)


def test_hedges_come_from_the_runs_across_scales_when_they_are_the_nearest_evidence():
    """A family of one run per task near the question, and a far toy family that ranks its own runs:
    every configuration of the answer, and its neighbours, come from the near family's runs."""
    kb = metahp.KnowledgeBase(":memory:")
    space = SearchSpace([Float("learning_rate", 1e-5, 1e-1, log=True), Int("batch_size", 8, 1024, log=True)])
    rng = np.random.default_rng(1)
    recorded = set()
    for i in range(150):
        n, lr, bs = 10 ** rng.uniform(7, 9), 10 ** rng.uniform(-5, -1), int(2 ** rng.integers(4, 10))
        best = 3e-3 * (n / 1e8) ** -0.5
        kb.add_task(f"one/{i}", family="one", kind="pretrain", space=space, objective_name="valid_loss",
                    meta_features={"model_params_nonembedding": n, "budget_tokens": 20 * n})
        kb.add_trials(f"one/{i}", [{"learning_rate": lr, "batch_size": bs,
                                    "objective": 20 * n**-0.1 + np.log10(lr / best) ** 2}])
        recorded.add((round(lr, 12), bs))
    for t in range(4):  # tiny models, far from the question, whose own sweeps rank configurations
        name = f"toy/{t}"
        kb.add_task(name, family="toy", kind="pretrain", space=space, objective_name="valid_loss",
                    meta_features={"model_params_nonembedding": 2e4 * (t + 1), "budget_tokens": 1e6})
        kb.add_trials(name, [{"learning_rate": float(lr), "batch_size": int(bs), "objective": abs(np.log10(lr) + 1.5)}
                             for lr in np.geomspace(1e-4, 1e-1, 6) for bs in (8, 16)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        recs = recommend({"model_params_nonembedding": 3e8, "budget_tokens": 6e9}, k=4, kb=kb)
    assert recs[0].rationale.startswith("a model across scales of one's 150 runs")
    assert all(r.rationale.startswith("hedge: the configuration of one/") for r in recs[1:])
    assert all((round(r.config["learning_rate"], 12), r.config["batch_size"]) in recorded for r in recs[1:])
    assert all(r.config["learning_rate"] < 3e-2 for r in recs)  # the toy family's optimum is 3.2e-2
    assert all(n.task.startswith("one/") for n in recs[0].neighbours)
    assert all(r.predicted_objective is not None and math.isfinite(r.predicted_objective) for r in recs)
    assert recs[0].objective_name == "valid_loss"
