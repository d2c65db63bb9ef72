"""Gaussian-process meta-model (BoTorch ``SingleTaskGP``) over meta-features and configurations."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from metahp.gp import fit_hyperparameters
from metahp.meta._base import Configs, Features, MetaModel, TaskMeta
from metahp.meta._frame import TrainingFrame

__all__ = ["GPMetaModel"]


_MAXITER = 15_000
"""L-BFGS-B iteration limit of the hyperparameter fit (scipy's default, which BoTorch's fit uses)."""


class GPMetaModel(MetaModel):
    """One exact GP on (scaled meta-features, encoded configuration), fitted on a subsample.

    Meta-features are min-max scaled over the training frame. Missing values are imputed
    explicitly: a missing meta-feature or parameter takes the middle of its range (0.5),
    which a stationary kernel reads as "no evidence either way". The training set is a
    seeded subsample of at most ``max_points`` trials, stratified over tasks so that small
    tasks are not crowded out.

    Args:
        max_points: Largest number of training points.
        n_jobs: Torch and BLAS threads while fitting, torch threads while predicting (restored afterwards; 1 by
            default, since extra threads on a busy machine slow small GPs down).
        seed: Seed of the subsample, of the hyperparameter fit and of :meth:`sample`.

    Example:
        >>> GPMetaModel(max_points=500).get_params()["max_points"]
        500
    """

    def __init__(self, max_points: int = 1500, n_jobs: int = 1, seed: int = 0) -> None:
        self.max_points = max_points
        self.n_jobs = n_jobs
        self.seed = seed

    def fit(self, frame: TrainingFrame) -> GPMetaModel:
        """Fit the GP's hyperparameters by marginal likelihood; return ``self``."""
        import torch
        from botorch.models import SingleTaskGP
        from botorch.models.transforms.outcome import Standardize

        self._check_frame(frame)
        features = Features(frame)
        x = features.training_inputs(frame)
        y = frame.data["score"].to_numpy(dtype=float)
        m = features.n_meta
        lo = np.nanmin(x[:, :m], axis=0) if m and len(x) else np.zeros(m)
        hi = np.nanmax(x[:, :m], axis=0) if m and len(x) else np.ones(m)
        self.features_ = features
        self.meta_low_ = np.nan_to_num(lo)
        self.meta_span_ = np.where(np.isfinite(hi - lo) & (hi - lo > 0), hi - lo, 1.0)
        idx = _stratified(frame.data["task"].to_numpy().astype(str), int(self.max_points), self.seed)
        xt = torch.as_tensor(self._scale(x[idx]), dtype=torch.float64)
        yt = torch.as_tensor(y[idx], dtype=torch.float64).unsqueeze(-1)
        generator_state = torch.random.get_rng_state()
        torch.manual_seed(int(self.seed))
        try:
            with _threads(self.n_jobs):
                model = SingleTaskGP(xt, yt, outcome_transform=Standardize(m=1))
                # BoTorch's fit_gpytorch_mll objective and optimiser (L-BFGS-B with scipy's default
                # iteration limit), with the marginal likelihood's gradient in closed form (NumPy:
                # n_jobs bounds its BLAS threads as it bounds torch's).
                fit_hyperparameters(model, maxiter=_MAXITER,
                                    blas_threads=self.n_jobs if self.n_jobs and self.n_jobs > 0 else None)
        finally:
            torch.random.set_rng_state(generator_state)
        model.eval()
        self.model_: Any = model
        return self

    def _scale(self, x: np.ndarray) -> np.ndarray:
        m = self.features_.n_meta
        out = np.array(x, dtype=float)
        out[:, :m] = (out[:, :m] - self.meta_low_) / self.meta_span_
        return np.where(np.isfinite(out), out, 0.5)

    def _posterior(self, meta: np.ndarray, encoded: np.ndarray) -> Any:
        import torch

        x = torch.as_tensor(self._scale(self.features_.inputs(meta, encoded)), dtype=torch.float64)
        with torch.no_grad(), _threads(self.n_jobs):
            return self.model_.posterior(x)

    def _predict_inputs(self, meta: np.ndarray, encoded: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        post = self._posterior(meta, encoded)
        mean = post.mean.squeeze(-1).numpy()
        std = post.variance.clamp_min(1e-12).sqrt().squeeze(-1).numpy()
        return mean, std

    def sample(self, task_meta: TaskMeta, configs: Configs, n_samples: int = 16, seed: int = 0) -> np.ndarray:
        """Joint draws from the GP posterior over the configurations."""
        import torch

        self._check_fitted()
        encoded = self.features_.encode(configs)
        post = self._posterior(self.features_.meta_vector(task_meta), encoded)
        generator_state = torch.random.get_rng_state()
        torch.manual_seed(int(seed))
        try:
            with torch.no_grad(), _threads(self.n_jobs):
                draws = post.rsample(torch.Size([n_samples])).squeeze(-1)
        finally:
            torch.random.set_rng_state(generator_state)
        return draws.numpy().reshape(n_samples, encoded.shape[0])


def _stratified(tasks: np.ndarray, limit: int, seed: int) -> np.ndarray:
    """Row indices: everything if it fits, else an equal share per task (seeded)."""
    n = tasks.shape[0]
    if n <= limit:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    names, inverse = np.unique(tasks, return_inverse=True)
    groups = [np.flatnonzero(inverse == i) for i in range(len(names))]
    share = max(1, limit // len(groups))
    picked = [g if g.size <= share else rng.choice(g, size=share, replace=False) for g in groups]
    idx = np.concatenate(picked)
    if idx.size > limit:
        idx = rng.choice(idx, size=limit, replace=False)
    return np.sort(idx)


@contextmanager
def _threads(n: int) -> Iterator[None]:
    """Run a block with ``n`` torch threads, restoring the caller's setting after."""
    import torch

    before = torch.get_num_threads()
    if n and n > 0 and n != before:
        torch.set_num_threads(int(n))
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)
