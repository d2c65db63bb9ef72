from __future__ import annotations

from pathlib import Path

import optuna
import torch

from metahp.integrations import MetaHPSampler

optuna.logging.set_verbosity(optuna.logging.WARNING)


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
