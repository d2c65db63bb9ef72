from __future__ import annotations

import warnings

import optuna
import pytest

import metahp
from metahp.integrations import MetaHPSampler, to_search_space
from metahp.space import Categorical, Float, Int

optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.fixture(scope="module")
def kb() -> metahp.KnowledgeBase:
    return metahp.KnowledgeBase()  # the bundled seed store, in the tests' own home


def _cold(**kwargs) -> MetaHPSampler:
    with pytest.warns(UserWarning, match="starts cold"):
        return MetaHPSampler(**kwargs)


def test_distributions_map_to_a_search_space() -> None:
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    space = to_search_space({
        "lr": FloatDistribution(1e-5, 1e-1, log=True),
        "wd": FloatDistribution(0.0, 0.3, step=0.1),
        "bs": IntDistribution(8, 64, log=True),
        "layers": IntDistribution(2, 8, step=2),
        "opt": CategoricalDistribution(["adamw", "sgd"]),
        "fixed": IntDistribution(3, 3),
    })
    assert space["lr"] == Float("lr", 1e-5, 1e-1, log=True)
    assert space["bs"] == Int("bs", 8, 64, log=True) and space["layers"] == Int("layers", 2, 8, step=2)
    assert space["opt"] == Categorical("opt", ("adamw", "sgd")) and "fixed" not in space


def test_sampler_in_a_real_optuna_study() -> None:
    def objective(trial: optuna.Trial) -> float:
        x = trial.suggest_float("x", -3.0, 3.0)
        lr = trial.suggest_float("lr", 1e-4, 1e-1, log=True)
        n = trial.suggest_int("n", 1, 9, step=2)
        opt = trial.suggest_categorical("opt", ["a", "b"])
        w = trial.suggest_float("w", 0.0, 1.0, step=0.25)
        if trial.number == 3:
            raise optuna.TrialPruned()
        return (x - 1) ** 2 + abs(n - 5) / 10 + (opt == "b") + w + abs(lr - 1e-2)

    sampler = _cold(seed=0, n_initial=3)
    study = optuna.create_study(sampler=sampler)
    study.enqueue_trial({"x": 1.0, "lr": 1e-2, "n": 5, "opt": "a", "w": 0.0})
    study.optimize(objective, n_trials=10)
    assert len(study.trials) == 10
    inner = next(iter(sampler._studies.values()))
    # Every finished Optuna trial reached the metahp study: its own proposals and the enqueued first one.
    assert len(inner.trials) == 10 and [t.origin for t in inner.trials][:2] == ["external", "sobol"]
    assert "learning_rate" in inner.space  # searched under the canonical name, answered as "lr"
    for ours, theirs in zip(inner.trials, study.trials):
        assert ours.config == {("learning_rate" if k == "lr" else k): v for k, v in theirs.params.items()}
    assert {t.status for t in inner.trials} == {"ok", "pruned"}
    for t in study.trials:
        assert t.params["w"] in (0.0, 0.25, 0.5, 0.75, 1.0) and t.params["n"] in (1, 3, 5, 7, 9)
    origins = [t.user_attrs["metahp_origin"] for t in study.trials]
    assert origins[:3] == ["enqueued", "random", "random"]  # cold: a Sobol design after the enqueued trial
    assert set(origins[3:]) == {"bo"}
    assert study.best_value == pytest.approx(0.0)


def test_an_enqueued_trial_is_marked_and_the_portfolio_goes_on(kb) -> None:
    sampler = MetaHPSampler(kb=kb, task="drama-s", exclude=["drama-s"], n_initial=3)
    study = optuna.create_study(sampler=sampler)
    study.optimize(lambda t: t.suggest_float("learning_rate", 1e-4, 1e-1, log=True), n_trials=1)
    study.enqueue_trial({"learning_rate": 0.05})
    study.optimize(lambda t: t.suggest_float("learning_rate", 1e-4, 1e-1, log=True), n_trials=2)
    assert [t.user_attrs["metahp_origin"] for t in study.trials] == ["portfolio", "enqueued", "portfolio"]
    assert study.trials[1].params == {"learning_rate": 0.05}


def test_sampler_maximises() -> None:
    study = optuna.create_study(direction="maximize", sampler=_cold(seed=1, n_initial=3))
    study.optimize(lambda t: -((t.suggest_float("x", 0.0, 1.0) - 0.3) ** 2), n_trials=10)
    assert abs(study.best_params["x"] - 0.3) < 0.15


def test_without_kb_or_task_it_warns_once_and_stays_random(kb) -> None:
    def objective(t: optuna.Trial) -> float:
        return t.suggest_float("learning_rate", 1e-4, 1e-1, log=True) + t.suggest_int("batch_size", 4, 32)

    runs = []
    for sampler in (_cold(seed=0), _cold(kb=kb, seed=0)):
        study = optuna.create_study(sampler=sampler)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no further warning while it runs
            study.optimize(objective, n_trials=4)
        runs.append([t.params for t in study.trials])
        assert {t.user_attrs["metahp_origin"] for t in study.trials} == {"random"}
    assert runs[0] == runs[1]  # both cold: the same trials


def test_trial_zero_is_the_top_recommendation_in_the_users_names(kb) -> None:
    # Trainer's names: per_device_train_batch_size is the knowledge base's batch_size, lr_scheduler_type its
    # lr_schedule, adam_beta2 its beta2, max_grad_norm its grad_clip.
    def objective(t: optuna.Trial) -> float:
        lr = t.suggest_float("learning_rate", 1e-5, 1e-1, log=True)
        bs = t.suggest_categorical("per_device_train_batch_size", [4, 8, 16, 32])
        t.suggest_categorical("lr_scheduler_type", ["linear", "cosine", "constant"])
        t.suggest_float("adam_beta2", 0.9, 0.999)
        t.suggest_float("max_grad_norm", 0.0, 5.0)
        t.suggest_int("num_train_epochs", 1, 3)  # no source trial knows epochs: the distribution's centre
        return abs(lr - 3e-3) * 100 + bs / 100

    sampler = MetaHPSampler(kb=kb, task="drama-s", exclude=["drama-s"], seed=0)
    study = optuna.create_study(sampler=sampler)
    study.optimize(objective, n_trials=4)
    top = metahp.recommend("drama-s", kb=kb, k=1, exclude=["drama-s"], seed=0)[0].config
    first = study.trials[0].params
    assert first["learning_rate"] == pytest.approx(top["learning_rate"])
    nearest = min((4, 8, 16, 32), key=lambda b: abs(b - top["batch_size"]) / b)
    assert first["per_device_train_batch_size"] == nearest
    assert first["lr_scheduler_type"] == top["lr_schedule"]
    assert first["adam_beta2"] == pytest.approx(top["beta2"]) and first["max_grad_norm"] == pytest.approx(
        top["grad_clip"])
    assert first["num_train_epochs"] == 2
    assert [t.user_attrs["metahp_origin"] for t in study.trials][:3] == ["portfolio"] * 3
    assert study.trials[3].user_attrs["metahp_origin"] == "bo"
    (inner,) = sampler._studies.values()
    assert {"batch_size", "lr_schedule", "beta2", "grad_clip", "epochs"} <= set(inner.space.names)
    assert all(set(t.params) == set(first) for t in study.trials)  # answered in the user's names
