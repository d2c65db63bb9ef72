"""Cold-start baselines: uniform random, Optuna's TPE and GP samplers, a BoTorch GP with LogEI."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from metahp.bench._method import Method, register_method
from metahp.bench._problem import PoolProblem, Suite, TaskPool
from metahp.space import Categorical, Float, Int, SearchSpace

__all__ = ["RandomSearch", "OptunaTPE", "OptunaGP", "BoTorchGP", "optuna_pool_search", "botorch_pool_search",
           "optuna_gp_on_cpu"]


class RandomSearch(Method):
    """Uniform sampling from the pool without replacement."""

    name = "random"

    def search(self, problem: PoolProblem, state: Any, seed: int) -> None:
        """Evaluate a random permutation of the pool."""
        order = np.random.default_rng(seed).permutation(problem.pool.size)
        for i in order[: problem.remaining]:
            problem.evaluate(int(i))


def _optuna_distributions(space: SearchSpace) -> dict[str, Any]:
    import optuna

    dists: dict[str, Any] = {}
    for p in space.params:
        if isinstance(p, Float):
            dists[p.name] = optuna.distributions.FloatDistribution(p.low, p.high, log=p.log)
        elif isinstance(p, Int):
            high = p.high - (p.high - p.low) % p.step
            dists[p.name] = optuna.distributions.IntDistribution(p.low, high, log=p.log, step=p.step)
        elif isinstance(p, Categorical):
            dists[p.name] = optuna.distributions.CategoricalDistribution(list(p.choices))
    return dists


def optuna_pool_search(
    problem: PoolProblem,
    space: SearchSpace,
    sampler: Any,
    enqueue: Sequence[dict[str, Any]] = (),
) -> None:
    """Run an Optuna sampler on a pool: each proposal is snapped to the nearest free member.

    The asked trial is closed as failed and the snapped configuration is added as a
    complete trial with its recorded value, so the sampler learns from the points that
    were really evaluated (samplers ignore failed trials).

    Args:
        problem: The replay.
        space: The suite's search space.
        sampler: An Optuna sampler, seeded by the caller.
        enqueue: Configurations asked first (Optuna's warm start).
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    dists = _optuna_distributions(space)
    study = optuna.create_study(direction="minimize", sampler=sampler)
    for config in enqueue:
        study.enqueue_trial(dict(config), skip_if_exists=True)
    frame = problem.pool.frame
    while problem.remaining > 0:
        trial = study.ask(dists)
        index = problem.snap(space.encode(trial.params))
        value = problem.evaluate(index)
        snapped = space.validate(frame.iloc[index].to_dict())
        if snapped == trial.params:
            study.tell(trial, value)
            continue
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
        study.add_trial(optuna.trial.create_trial(params=snapped, distributions=dists, value=value))


class _OptunaMethod(Method):
    """An Optuna sampler replayed cold on the pool."""

    def prepare(self, suite: Suite, target: TaskPool) -> Any:
        """Keep the suite's space for :meth:`search`."""
        return {"space": suite.space, "enqueue": []}

    def sampler(self, seed: int) -> Any:
        """The seeded Optuna sampler."""
        raise NotImplementedError

    def search(self, problem: PoolProblem, state: Any, seed: int) -> None:
        """Run the sampler, asking the enqueued configurations first."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # GPSampler is experimental in some Optuna versions
            optuna_pool_search(problem, state["space"], self.sampler(seed % 2**32), state["enqueue"])


class OptunaTPE(_OptunaMethod):
    """Optuna's TPE sampler, cold start, proposals snapped to the pool."""

    name = "tpe"

    def sampler(self, seed: int) -> Any:
        """TPE with Optuna's defaults."""
        import optuna

        return optuna.samplers.TPESampler(seed=seed)


class _TorchOnCPU:
    """The ``torch`` module, except that ``torch.device("cpu")`` is a no-op context manager.

    Optuna's ``GPSampler`` runs each suggestion inside ``with torch.device("cpu")`` (so that a
    global CUDA default device cannot reach it). That context is a torch function mode: every
    one of the tens of thousands of small tensor operations of its acquisition search passes
    through a Python-level dispatch, about a third of the sampler's time on this machine.
    When the CPU already is the default device the context changes nothing it computes.
    """

    def __getattr__(self, name: str) -> Any:
        import torch

        return getattr(torch, name)

    def device(self, *args: Any, **kwargs: Any) -> Any:
        """``torch.device(...)``, or an empty context for the CPU while the CPU is the default device."""
        import torch

        if args == ("cpu",) and not kwargs and torch.get_default_device().type == "cpu":
            return contextlib.nullcontext()
        return torch.device(*args, **kwargs)


@contextlib.contextmanager
def optuna_gp_on_cpu() -> Iterator[None]:
    """Run Optuna's ``GPSampler`` without its CPU device guard while the CPU is torch's default device.

    The proposals are the same as with the guard (``tests/bench/test_baselines.py`` checks a
    seeded study step by step); only the dispatch cost goes. Restored on exit.
    """
    import optuna.samplers._gp.sampler as gp_sampler

    before = gp_sampler.__dict__.get("torch")
    setattr(gp_sampler, "torch", _TorchOnCPU())  # noqa: B010 - a module global, swapped for this block
    try:
        yield
    finally:
        setattr(gp_sampler, "torch", before)  # noqa: B010


class OptunaGP(_OptunaMethod):
    """Optuna's GP sampler, cold start, proposals snapped to the pool."""

    name = "optuna-gp"
    note = ("Optuna GPSampler with its defaults; run without its `with torch.device('cpu')` guard "
            "(the CPU is the default device here: same proposals, 8-31 % less time per suite)")

    def sampler(self, seed: int) -> Any:
        """GPSampler with Optuna's defaults."""
        import optuna

        return optuna.samplers.GPSampler(seed=seed)

    def search(self, problem: PoolProblem, state: Any, seed: int) -> None:
        """Run the sampler as :class:`_OptunaMethod` does, without the device guard's dispatch cost."""
        with optuna_gp_on_cpu():
            super().search(problem, state, seed)


def botorch_pool_search(
    problem: PoolProblem,
    seed: int,
    n_init: int = 5,
    refit_every: int = 5,
    refit_until: int = 20,
) -> None:
    """BoTorch GP + LogEI over the pool's free members, after ``n_init`` scrambled Sobol points.

    GP hyperparameters are refitted (warm-started from the last fit) after every
    observation up to ``refit_until`` observations and after every ``refit_every``-th one
    beyond; in between the model is conditioned on the new data with the last
    hyperparameters. LogEI is evaluated on every free pool member (``n x 1 x d``); no
    continuous optimisation is needed in pool mode.

    Args:
        problem: The replay.
        seed: Seed of the Sobol design.
        n_init: Number of Sobol points first.
        refit_every: Hyperparameter refit period once past ``refit_until``.
        refit_until: Number of observations up to which every step refits.
    """
    import torch
    from botorch.acquisition.analytic import LogExpectedImprovement
    from botorch.fit import fit_gpytorch_mll
    from botorch.models import SingleTaskGP
    from botorch.models.transforms import Standardize
    from gpytorch.mlls import ExactMarginalLogLikelihood
    from scipy.stats import qmc

    pool_x = torch.as_tensor(problem.pool.X, dtype=torch.double)
    sobol = qmc.Sobol(problem.pool.X.shape[1], scramble=True, seed=np.random.default_rng(seed))
    n = min(n_init, problem.remaining)
    for x in sobol.random(1 << max(0, (n - 1).bit_length()))[:n]:  # Sobol is balanced in powers of 2
        problem.evaluate(problem.snap(x))
    state: dict[str, Any] | None = None
    while problem.remaining > 0:
        x_obs, y_obs = problem.observed()
        train_x = torch.as_tensor(x_obs, dtype=torch.double)
        train_y = -torch.as_tensor(y_obs, dtype=torch.double).unsqueeze(-1)  # BoTorch maximises
        model = SingleTaskGP(train_x, train_y, outcome_transform=Standardize(m=1))
        n = len(y_obs)
        if state is not None:
            model.load_state_dict(state, strict=False)
        if state is None or n <= refit_until or n % refit_every == 0:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model))
        state = {k: v for k, v in model.state_dict().items() if "outcome_transform" not in k}
        model.eval()
        free = np.flatnonzero(problem.free)
        with torch.no_grad():
            acq = LogExpectedImprovement(model, best_f=train_y.max())(pool_x[free].unsqueeze(1))
        problem.evaluate(int(free[int(torch.argmax(acq))]))


class BoTorchGP(Method):
    """Cold-start BoTorch GP with LogEI over the pool, after 5 scrambled Sobol points (standalone loop)."""

    name = "gp-botorch"
    note = ("BoTorch SingleTaskGP + LogEI on the free pool members; hyperparameters refitted each step "
            "up to 20 points, then every 5th")

    def search(self, problem: PoolProblem, state: Any, seed: int) -> None:
        """Run the BoTorch loop."""
        botorch_pool_search(problem, seed)


register_method(RandomSearch())
register_method(OptunaTPE())
register_method(OptunaGP())
register_method(BoTorchGP())
