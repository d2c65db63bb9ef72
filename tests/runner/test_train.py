from __future__ import annotations

import dataclasses
import math

import pytest

from metahp.errors import InvalidConfigError, TrainingError, UnknownTaskError
from metahp.runner import OPTIMIZERS, SCHEDULES, Pruned, TrialResult, run_trial
from metahp.runner import suite as tasks
from metahp.runner._train import lr_multiplier
from metahp.space import Float, SearchSpace

TINY = "markov-low"  # 23k parameters: each step takes milliseconds


def _tiny(**overrides: object) -> TrialResult:
    kwargs: dict = {"budget": 12, "threads": 1, "seed": 0}
    kwargs.update(overrides)
    config = kwargs.pop("config", {})
    return run_trial(kwargs.pop("task", TINY), config, **kwargs)


def test_lm_loss_falls_below_the_untrained_model() -> None:
    result = run_trial("dyck", {}, budget=40, threads=1)
    assert result.status == "ok" and result.direction == "minimize"
    assert result.curve[0][0] == 0 and result.curve[-1][0] == 40 and len(result.curve) >= 5
    assert result.objective == result.curve[-1][1]
    assert result.objective < result.curve[0][1] - 0.5
    assert result.steps_done == 40 and result.tokens_per_second > 0 and result.seconds > 0
    assert result.train_loss is not None and math.isfinite(result.train_loss)
    assert result.metrics["initial_val_loss"] == pytest.approx(result.curve[0][1])


def test_classification_accuracy_beats_chance() -> None:
    result = run_trial("majority", {}, budget=60, threads=1)
    assert result.status == "ok" and result.direction == "maximize"
    assert 0.0 <= result.objective <= 1.0
    assert result.objective > 1 / 3 + 0.15  # three balanced classes


def test_huge_learning_rate_diverges_instead_of_raising() -> None:
    task = tasks.get(TINY)
    wide = SearchSpace([Float("learning_rate", 1e-5, 100.0, log=True), *[p for p in task.space.params
                                                                        if p.name != "learning_rate"]])
    result = run_trial(dataclasses.replace(task, space=wide), {"learning_rate": 10.0, "warmup_ratio": 0.0},
                       budget=40, threads=1)
    assert result.status == "diverged"
    assert result.objective is None and result.steps_done < 40
    assert "loss" in result.message
    record = result.to_record()
    assert record["status"] == "diverged" and record["objective"] is None


def test_same_seed_same_curve_other_seed_other_curve() -> None:
    a, b, c = _tiny(seed=3), _tiny(seed=3), _tiny(seed=4)
    assert a.curve == b.curve and a.train_loss == b.train_loss
    assert a.curve[1:] != c.curve[1:]


def test_invalid_architecture_is_a_failed_trial() -> None:
    # hidden_size 50 is not divisible by 4 heads: the model cannot be built; that is data, not a crash.
    task = tasks.get(TINY)
    bad = dataclasses.replace(task, model=dataclasses.replace(task.model, hidden_size=50, num_heads=4))
    result = run_trial(bad, {}, budget=5, threads=1)
    assert result.status == "failed"
    assert "divisible" in result.message
    assert result.objective is None and result.curve == [] and result.to_record()["fidelity"] is None


def test_pruning_by_return_value_and_by_exception() -> None:
    seen: list[tuple[int, float]] = []

    def stop_at_second(step: int, value: float) -> bool:
        seen.append((step, value))
        return len(seen) == 2

    result = _tiny(budget=40, report=stop_at_second)
    assert result.status == "pruned"
    assert result.steps_done == 20 and [s for s, _ in result.curve] == [0, 10, 20]
    assert seen == result.curve[1:]
    assert result.objective == result.curve[-1][1]
    assert result.to_record()["fidelity"] == pytest.approx(0.5)

    def raise_pruned(step: int, value: float) -> None:
        raise Pruned

    assert _tiny(budget=40, report=raise_pruned).steps_done == 10


def test_report_sees_every_evaluation_when_not_pruning() -> None:
    seen: list[int] = []
    result = _tiny(budget=16, report=lambda step, value: seen.append(step))
    assert result.status == "ok" and seen == [4, 8, 12, 16]


@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
def test_every_optimizer_trains(optimizer: str) -> None:
    lr = {"sgd": 0.3, "adamw": 1e-2, "rmsprop": 3e-3, "adafactor": 1e-2}[optimizer]
    result = _tiny(config={"optimizer": optimizer, "learning_rate": lr}, budget=16)
    assert result.status == "ok", result.message
    assert result.objective < result.curve[0][1]


@pytest.mark.parametrize("schedule", sorted(SCHEDULES))
def test_every_schedule_trains(schedule: str) -> None:
    result = _tiny(config={"lr_schedule": schedule, "warmup_ratio": 0.2, "grad_clip": 0.0}, budget=12)
    assert result.status == "ok", result.message
    assert result.config["lr_schedule"] == schedule and result.objective < result.curve[0][1]


def test_schedules_shape() -> None:
    assert [lr_multiplier(s, 10, 0.0, "constant") for s in (0, 9)] == [1.0, 1.0]
    assert lr_multiplier(0, 10, 0.3, "cosine") == pytest.approx(1 / 3)
    assert lr_multiplier(3, 10, 0.3, "cosine") == pytest.approx(1.0)
    assert lr_multiplier(9, 10, 0.0, "cosine") < 0.05 and lr_multiplier(9, 10, 0.0, "linear") == pytest.approx(0.1)


def test_architecture_params_change_the_model() -> None:
    small = run_trial("drama-arch", {"num_layers": 1, "hidden_size": 32, "num_heads": 2, "seq_len": 32}, budget=4,
                      threads=1)
    large = run_trial("drama-arch", {"num_layers": 2, "hidden_size": 64, "num_heads": 4, "seq_len": 32}, budget=4,
                      threads=1)
    assert small.status == large.status == "ok"
    assert small.metrics["params"] < large.metrics["params"]


def test_bad_arguments_raise_typed_errors_before_training() -> None:
    with pytest.raises(UnknownTaskError, match="markov-low"):
        run_trial("no-such-task", {})
    with pytest.raises(InvalidConfigError, match="learning_rate"):
        run_trial(TINY, {"learning_rate": 10.0})
    with pytest.raises(InvalidConfigError, match="unknown parameter"):
        run_trial(TINY, {"momentum": 0.9})
    with pytest.raises(InvalidConfigError, match="budget"):
        run_trial(TINY, {}, budget=0)
    with pytest.raises(TrainingError, match="device"):
        run_trial(TINY, {}, device="tpu")


def test_record_has_the_knowledge_base_fields() -> None:
    result = _tiny(budget=8, seed=7)
    record = result.to_record()
    assert record["objective"] == result.objective and record["status"] == "ok"
    assert record["fidelity"] == 1.0 and record["cost"] == result.seconds and record["seed"] == 7
    assert record["curve"] == [[s, v] for s, v in result.curve] and record["source"] == "runner"
    assert record["device"] == "cpu" and set(record["config"]) == set(tasks.get(TINY).space.names)
    for key in ("tokens_per_second", "peak_memory_bytes", "train_loss"):
        assert key in record["metrics"]


@pytest.mark.slow
def test_minilm_finetune_trains_a_few_steps() -> None:
    task = dataclasses.replace(tasks.get("minilm-corpus-id"), eval_size=16)
    result = run_trial(task, {"learning_rate": 1e-4}, budget=4, threads=1)
    assert result.status == "ok", result.message
    assert result.metrics["params"] > 2e7 and len(result.curve) == 5
    assert result.metrics["val_loss"] < result.metrics["initial_val_loss"]


@pytest.mark.slow
def test_finetune_default_configuration_learns_within_the_task_budget() -> None:
    # The family default must be a sensible first run: at BERT's usual 5e-5 this 30-step task stayed at chance.
    task = tasks.get("minilm-genre")
    result = run_trial(task, task.space.default(), threads=2)
    assert result.status == "ok", result.message
    assert result.direction == "maximize" and result.objective > 0.45  # 3 balanced classes: chance is 1/3
