from __future__ import annotations

import math
from pathlib import Path

import optuna
import pytest
import torch

from metahp.integrations import MetaHPSampler

optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.mark.slow
def test_trainer_hyperparameter_search_with_metahp_sampler(tmp_path: Path) -> None:
    from transformers import GPT2Config, GPT2LMHeadModel, Trainer, TrainingArguments

    gen = torch.Generator().manual_seed(0)
    rows = [{"input_ids": ids, "labels": ids} for ids in torch.randint(0, 40, (24, 16), generator=gen)]

    def model_init(trial: object = None) -> GPT2LMHeadModel:
        torch.manual_seed(0)
        return GPT2LMHeadModel(GPT2Config(vocab_size=40, n_positions=16, n_embd=16, n_layer=1, n_head=2))

    def hp_space(trial: optuna.Trial) -> dict:
        # The Optuna example's search space, unchanged.
        return {
            "learning_rate": trial.suggest_float("learning_rate", 1e-4, 1e-2, log=True),
            "per_device_train_batch_size": trial.suggest_categorical("per_device_train_batch_size", [4, 8]),
            "num_train_epochs": trial.suggest_int("num_train_epochs", 1, 2),
        }

    args = TrainingArguments(output_dir=str(tmp_path), max_steps=3, report_to=[], use_cpu=True, save_strategy="no",
                             logging_strategy="no", disable_tqdm=True)
    trainer = Trainer(model_init=model_init, args=args, train_dataset=rows[:16], eval_dataset=rows[16:])
    sampler = MetaHPSampler(seed=0)
    best = trainer.hyperparameter_search(direction="minimize", backend="optuna", hp_space=hp_space, n_trials=3,
                                         sampler=sampler)
    assert best.objective > 0 and set(best.hyperparameters) == {"learning_rate", "per_device_train_batch_size",
                                                                "num_train_epochs"}
    (inner,) = sampler._studies.values()  # trials 2 and 3 came from the metahp study
    assert [t.status for t in inner.trials] == ["ok", "ok", "ok"]
    assert inner.trials[0].origin == "external" and inner.trials[1].origin == "sobol"


@pytest.mark.slow
def test_trainer_search_starts_from_the_top_recommendation_in_the_trainers_names(tmp_path: Path) -> None:
    # The seed's shape: an Optuna search around a Trainer; the one metahp line is the sampler.
    from transformers import GPT2Config, GPT2LMHeadModel, Trainer, TrainerCallback, TrainingArguments

    import metahp

    kb = metahp.KnowledgeBase()  # the bundled seed store (in the tests' own home)
    model_config = GPT2Config(vocab_size=40, n_positions=16, n_embd=16, n_layer=1, n_head=2)
    task = metahp.describe_task(model=model_config, budget={"steps": 3, "batch_size": 8, "seq_len": 16},
                                name="tiny-gpt2")
    gen = torch.Generator().manual_seed(0)
    rows = [{"input_ids": ids, "labels": ids} for ids in torch.randint(0, 40, (48, 16), generator=gen)]
    trained: list[dict] = []

    class Seen(TrainerCallback):  # what each training really ran with
        def on_train_begin(self, args, state, control, **kwargs):  # type: ignore[no-untyped-def]
            trained.append({"learning_rate": args.learning_rate, "batch": args.per_device_train_batch_size,
                            "schedule": str(getattr(args.lr_scheduler_type, "value", args.lr_scheduler_type))})

    def model_init(trial: object = None) -> GPT2LMHeadModel:
        torch.manual_seed(0)
        return GPT2LMHeadModel(model_config)

    def hp_space(trial: optuna.Trial) -> dict:
        return {
            "learning_rate": trial.suggest_float("learning_rate", 1e-5, 1e-1, log=True),
            "per_device_train_batch_size": trial.suggest_categorical("per_device_train_batch_size", [4, 8, 16, 32]),
            "warmup_ratio": trial.suggest_float("warmup_ratio", 0.0, 0.3),
            "lr_scheduler_type": trial.suggest_categorical("lr_scheduler_type", ["constant", "linear", "cosine"]),
            "weight_decay": trial.suggest_float("weight_decay", 0.0, 0.3),
            "adam_beta2": trial.suggest_float("adam_beta2", 0.9, 0.999),
            "max_grad_norm": trial.suggest_float("max_grad_norm", 0.0, 5.0),
        }

    args = TrainingArguments(output_dir=str(tmp_path), max_steps=3, report_to=[], use_cpu=True, save_strategy="no",
                             logging_strategy="no", disable_tqdm=True)
    trainer = Trainer(model_init=model_init, args=args, train_dataset=rows[:32], eval_dataset=rows[32:],
                      callbacks=[Seen()])
    sampler = MetaHPSampler(kb=kb, task=task, seed=0)
    storage = optuna.storages.InMemoryStorage()
    trainer.hyperparameter_search(direction="minimize", backend="optuna", hp_space=hp_space, n_trials=3,
                                  sampler=sampler, storage=storage, study_name="trainer")
    study = optuna.load_study(study_name="trainer", storage=storage)
    top = metahp.recommend(task, kb=kb, k=1, seed=0)[0].config
    first = study.trials[0].params
    assert first["learning_rate"] == pytest.approx(min(max(top["learning_rate"], 1e-5), 1e-1))
    nearest = min((4, 8, 16, 32), key=lambda b: abs(math.log(b / top["batch_size"])))
    assert first["per_device_train_batch_size"] == nearest
    if "lr_schedule" in top:
        assert first["lr_scheduler_type"] == top["lr_schedule"]
    for user, canonical in (("warmup_ratio", "warmup_ratio"), ("weight_decay", "weight_decay"),
                            ("adam_beta2", "beta2"), ("max_grad_norm", "grad_clip")):
        if canonical in top:  # what the knowledge base recommends, under the Trainer's name
            assert first[user] == pytest.approx(top[canonical])
    assert trained[0] == {"learning_rate": first["learning_rate"], "batch": first["per_device_train_batch_size"],
                          "schedule": first["lr_scheduler_type"]}  # the Trainer trained the recommendation
    assert [t.user_attrs["metahp_origin"] for t in study.trials] == ["portfolio"] * 3
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials) and len(trained) == 3
