"""LightGBM meta-model: a bagged ensemble of gradient-boosted trees."""

from __future__ import annotations

from typing import Any

import numpy as np

from metahp.meta._base import Configs, Features, MetaModel, TaskMeta
from metahp.meta._frame import TrainingFrame

__all__ = ["LGBMMetaModel"]


class LGBMMetaModel(MetaModel):
    """Gradient-boosted trees on (task meta-features, encoded configuration).

    Missing meta-features and parameters enter as NaN, which LightGBM routes natively.
    Uncertainty is the spread of a bagged ensemble: each member sees its own row
    subsample, so the members disagree where the data are thin.

    Args:
        n_models: Ensemble size.
        n_estimators: Trees per member.
        learning_rate: Boosting learning rate.
        num_leaves: Leaves per tree.
        min_child_samples: Minimum rows per leaf.
        max_rows: Rows each member trains on (a subsample of the frame, keeps fit fast).
        n_jobs: LightGBM threads (1 by default: OpenMP threads on a busy machine cost far more than they save).
        seed: Seed of the subsamples and of LightGBM.

    Example:
        >>> model = LGBMMetaModel(n_models=3)
        >>> model.get_params()["n_models"]
        3
    """

    def __init__(
        self,
        n_models: int = 5,
        n_estimators: int = 300,
        learning_rate: float = 0.05,
        num_leaves: int = 31,
        min_child_samples: int = 5,
        max_rows: int = 10_000,
        n_jobs: int = 1,
        seed: int = 0,
    ) -> None:
        self.n_models = n_models
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.max_rows = max_rows
        self.n_jobs = n_jobs
        self.seed = seed

    def fit(self, frame: TrainingFrame) -> LGBMMetaModel:
        """Fit the ensemble on a training frame and return ``self``."""
        import lightgbm as lgb

        self._check_frame(frame)
        features = Features(frame)
        x = features.training_inputs(frame)
        y = frame.data["score"].to_numpy(dtype=float)
        rng = np.random.default_rng(self.seed)
        n = x.shape[0]
        boosters: list[Any] = []
        for i in range(max(1, int(self.n_models))):
            size = min(n, int(self.max_rows))
            # Members bootstrap a small frame and subsample a large one; a lone member sees all it may.
            bootstrap = self.n_models > 1 and n <= self.max_rows
            idx = rng.choice(n, size=size, replace=bootstrap)
            params = {
                "objective": "regression",
                "learning_rate": self.learning_rate,
                "num_leaves": self.num_leaves,
                "min_data_in_leaf": min(self.min_child_samples, max(1, size // 4)),
                "feature_fraction": 0.9,
                "num_threads": self.n_jobs,
                "seed": int(self.seed) * 1000 + i,
                "deterministic": True,
                "force_row_wise": True,
                "verbosity": -1,
                "min_data_in_bin": 1,
            }
            data = lgb.Dataset(x[idx], label=y[idx], feature_name=[f"f{j}" for j in range(x.shape[1])],
                               params={"verbosity": -1, "min_data_in_bin": 1})
            boosters.append(lgb.train(params, data, num_boost_round=int(self.n_estimators)))
        self.features_ = features
        self.boosters_ = boosters
        return self

    def _member_predictions(self, x: np.ndarray) -> np.ndarray:
        return np.stack([b.predict(x, num_threads=self.n_jobs) for b in self.boosters_])

    def _predict_inputs(self, meta: np.ndarray, encoded: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        preds = self._member_predictions(self.features_.inputs(meta, encoded))
        return preds.mean(axis=0), preds.std(axis=0) + 1e-3

    def _stacked(self, task_metas: Any, encoded: list[np.ndarray]) -> np.ndarray:
        """Every member's predictions for task ``i`` at ``encoded[i]`` (each ``n x d``), ``members x t x n``."""
        rows = [self.features_.inputs(self.features_.meta_vector(tm), e) for tm, e in zip(task_metas, encoded)]
        return self._member_predictions(np.vstack(rows)).reshape(-1, len(task_metas), encoded[0].shape[0])

    def predict_tasks(self, task_metas: Any, configs: Configs) -> tuple[np.ndarray, np.ndarray]:
        """Predict the same configurations for several tasks in one pass per member."""
        self._check_fitted()
        encoded = self.features_.encode(configs)
        t, n = len(task_metas), encoded.shape[0]
        if t == 0 or n == 0:
            return np.zeros((t, n)), np.zeros((t, n))
        preds = self._stacked(task_metas, [encoded] * t)
        return preds.mean(axis=0), preds.std(axis=0) + 1e-3

    def predict_each(self, task_metas: Any, configs: Any) -> np.ndarray:
        """Each task at its own configurations, in one pass per member."""
        self._check_fitted()
        t = len(task_metas)
        encoded = [self.features_.encode(c) for c in configs]
        n = encoded[0].shape[0] if t else 0
        if t == 0 or n == 0:
            return np.zeros((t, n))
        return np.asarray(self._stacked(task_metas, encoded).mean(axis=0))

    def sample(self, task_meta: TaskMeta, configs: Configs, n_samples: int = 16, seed: int = 0) -> np.ndarray:
        """Each ensemble member is one joint scenario; members are cycled to fill ``n_samples``."""
        return self.predict_joint(task_meta, configs, n_samples=n_samples, seed=seed)[2]

    def predict_joint(self, task_meta: TaskMeta, configs: Configs, n_samples: int = 16,
                      seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Mean, std and member scenarios from one pass of every member."""
        self._check_fitted()
        encoded = self.features_.encode(configs)
        preds = self._member_predictions(self.features_.inputs(self.features_.meta_vector(task_meta), encoded))
        order = np.random.default_rng(seed).permutation(preds.shape[0])
        return preds.mean(axis=0), preds.std(axis=0) + 1e-3, preds[np.resize(order, n_samples)]
