"""Conformance suite run against every registered meta-model."""

from __future__ import annotations

import numpy as np
import pytest
from meta_synthetic import SPACE, best_lr
from sklearn.base import clone

from metahp.errors import InvalidConfigError, MetaHPError
from metahp.meta import META_MODELS, MetaModel

FAST = {"lgbm": {"n_models": 3}, "gp": {"max_points": 200}, "knn": {}}


@pytest.fixture(params=sorted(META_MODELS))
def model_name(request) -> str:
    return request.param


@pytest.fixture
def fitted(model_name, frame) -> MetaModel:
    return META_MODELS[model_name](**FAST[model_name]).fit(frame)


def _configs(n: int = 25):
    return SPACE.sample(n, seed=1)


def test_init_only_stores_params_and_clone_works(model_name, frame):
    model = META_MODELS[model_name](**FAST[model_name])
    assert not [k for k in vars(model) if k.endswith("_")]
    params = model.get_params()
    for key, value in FAST[model_name].items():
        assert params[key] == value
    copy = clone(model)
    assert copy.get_params() == params and copy is not model
    with pytest.raises(MetaHPError, match="not fitted"):
        model.predict({}, _configs(2))


def test_fit_returns_self_and_predict_shapes(fitted, synthetic):
    _, metas = synthetic
    assert [k for k in vars(fitted) if k.endswith("_")]
    mean, std = fitted.predict(metas["synth/3"], _configs())
    assert mean.shape == std.shape == (25,)
    assert np.all(np.isfinite(mean)) and np.all(std > 0)
    encoded = SPACE.encode_many(_configs())
    mean2, _ = fitted.predict(metas["synth/3"], encoded)
    np.testing.assert_allclose(mean, mean2)
    means, stds = fitted.predict_tasks([metas["synth/0"], metas["synth/3"]], encoded)
    assert means.shape == stds.shape == (2, 25)
    np.testing.assert_allclose(means[1], mean, rtol=1e-6, atol=1e-9)
    # Each task at its own configurations (the recommender's moved neighbour surfaces).
    each = fitted.predict_each([metas["synth/0"], metas["synth/3"]], [encoded[::-1], encoded])
    assert each.shape == (2, 25)
    np.testing.assert_allclose(each[0], means[0][::-1], rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(each[1], mean, rtol=1e-6, atol=1e-9)
    draws = fitted.sample(metas["synth/3"], encoded, n_samples=7, seed=3)
    assert draws.shape == (7, 25) and np.all(np.isfinite(draws))


def test_deterministic_with_a_seed(model_name, frame, synthetic):
    _, metas = synthetic
    a = META_MODELS[model_name](**FAST[model_name], seed=4).fit(frame).predict(metas["synth/3"], _configs())
    b = META_MODELS[model_name](**FAST[model_name], seed=4).fit(frame).predict(metas["synth/3"], _configs())
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


def test_learns_the_direction_of_the_optimum(fitted, synthetic):
    _, metas = synthetic
    meta = metas["synth/3"]
    lrs = np.logspace(-5, -1, 17)
    configs = [{"learning_rate": float(lr), "batch_size": 64, "optimizer": "adamw"} for lr in lrs]
    mean, _ = fitted.predict(meta, configs)
    best = lrs[int(np.argmin(mean))]
    assert abs(np.log10(best) - np.log10(best_lr(meta["model_params"]))) <= 1.0
    sgd, _ = fitted.predict(meta, [{**configs[int(np.argmin(mean))], "optimizer": "sgd"}])
    assert sgd[0] > mean.min()


def test_nan_and_missing_meta_features(fitted, synthetic):
    _, metas = synthetic
    meta = dict(metas["synth/3"])
    meta["model_layers"] = float("nan")
    del meta["budget_tokens"]
    meta["not_seen_in_training"] = 5.0
    mean, std = fitted.predict(meta, _configs())
    assert np.all(np.isfinite(mean)) and np.all(np.isfinite(std))
    mean_empty, _ = fitted.predict({}, _configs())
    assert np.all(np.isfinite(mean_empty))


def test_unseen_category_and_partial_config(fitted, synthetic):
    _, metas = synthetic
    configs = [{"learning_rate": 1e-3, "batch_size": 64, "optimizer": "lamb"}, {"learning_rate": 1e-3}]
    mean, std = fitted.predict(metas["synth/3"], configs)
    assert mean.shape == (2,) and np.all(np.isfinite(mean)) and np.all(np.isfinite(std))


def test_bad_input_raises_typed_errors(fitted, frame):
    with pytest.raises(InvalidConfigError, match="n x 3"):
        fitted.predict({}, np.zeros((4, 2)))
    with pytest.raises(MetaHPError, match="mapping"):
        fitted.predict([1.0, 2.0], _configs(2))  # type: ignore[arg-type]
    with pytest.raises(MetaHPError, match="TrainingFrame"):
        clone(fitted).fit(frame.data)  # type: ignore[arg-type]


def test_gp_meta_model_fit_reaches_botorchs_optimum(frame):
    """The GP meta-model's own hyperparameter fit ends where BoTorch's ``fit_gpytorch_mll`` does, or lower."""
    import warnings

    import torch
    from botorch.fit import fit_gpytorch_mll
    from botorch.models import SingleTaskGP
    from botorch.models.transforms.outcome import Standardize
    from gpytorch.mlls import ExactMarginalLogLikelihood

    from metahp.gp import neg_log_marginal_likelihood

    ours = META_MODELS["gp"](**FAST["gp"]).fit(frame).model_
    x, y = ours.train_inputs[0], ours.train_targets
    untransformed = ours.outcome_transform.untransform(y.unsqueeze(-1))[0]
    theirs = SingleTaskGP(x, untransformed, outcome_transform=Standardize(m=1))
    start = neg_log_marginal_likelihood(theirs.train()).item()
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit_gpytorch_mll(ExactMarginalLogLikelihood(theirs.likelihood, theirs))
    mine = neg_log_marginal_likelihood(ours.train()).item()
    assert mine < start - 1e-2
    assert mine <= neg_log_marginal_likelihood(theirs.train()).item() + 1e-4
