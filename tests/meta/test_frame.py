from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from meta_synthetic import SPACE

from metahp import Categorical, Float, Int, SearchSpace
from metahp.errors import InvalidSpaceError, UnknownTaskError
from metahp.meta import META_PREFIX, build_training_frame, encode_column


def test_frame_columns_and_scores(frame, synthetic):
    trials, _ = synthetic
    assert frame.param_columns == ["learning_rate", "batch_size", "optimizer"]
    assert frame.meta_columns == [META_PREFIX + n for n in ("budget_tokens", "model_layers", "model_params")]
    assert "synth/3" not in frame.tasks and len(frame.tasks) == 5
    assert len(frame) == (trials["task"] != "synth/3").sum()
    # Diverged trials are kept with the worst score of their task.
    diverged = frame.data["status"] == "diverged"
    assert diverged.any()
    for _, group in frame.data.groupby("task"):
        bad = group["status"] == "diverged"
        if bad.any():
            assert group.loc[bad, "score"].min() > group.loc[~bad, "score"].max()


def test_encoded_configs_follow_the_target_space(frame):
    enc = frame.encoded_configs()
    assert enc.shape == (len(frame), 3)
    row = frame.data.iloc[0]
    np.testing.assert_allclose(enc[0], SPACE.encode({n: row[n] for n in SPACE.names}))


def test_partial_overlap_space():
    trials = pd.DataFrame({"task": ["a", "a", "b"], "learning_rate": [1e-3, 1e-1, 1e-4], "momentum": [0.9, 0.8, 0.7],
                           "optimizer": ["sgd", "lion", "adamw"], "objective": [1.0, 2.0, 3.0]})
    target = SearchSpace([Float("learning_rate", 1e-4, 1e-2, log=True), Categorical("optimizer", ["adamw", "sgd"]),
                          Int("warmup_steps", 0, 100)])
    fr = build_training_frame(trials, {"a": {"x": 1.0}, "b": {"x": 2.0, "y": 3.0}}, target)
    assert fr.param_columns == ["learning_rate", "optimizer"]  # momentum dropped, warmup_steps unknown
    enc = fr.encoded_configs()
    assert enc[0, 0] == pytest.approx(0.5)
    assert enc[1, 0] == pytest.approx(1.5)  # outside the target range keeps its position
    assert math.isnan(enc[1, 1])  # a choice the target does not list
    assert np.isnan(enc[:, 2]).all()
    assert np.isnan(fr.meta_matrix()[0, 1])  # meta-feature y missing for task a


def test_encode_column_log_and_bad_values():
    p = Float("lr", 1e-4, 1e-2, log=True)
    out = encode_column(p, [1e-3, -1.0, None, "x"])
    assert out[0] == pytest.approx(0.5)
    assert np.isnan(out[1:]).all()


def test_bad_inputs_raise_typed_errors():
    with pytest.raises(UnknownTaskError, match="objective"):
        build_training_frame(pd.DataFrame({"task": ["a"]}), {}, SPACE)
    with pytest.raises(InvalidSpaceError):
        build_training_frame(pd.DataFrame({"task": ["a"], "objective": [1.0]}), {}, {"lr": 1})  # type: ignore[arg-type]


def test_pruned_and_partial_fidelity_trials_are_dropped():
    trials = pd.DataFrame({"task": ["a"] * 4, "learning_rate": [1e-3] * 4, "objective": [1.0, 2.0, 3.0, np.nan],
                           "status": ["ok", "pruned", "ok", "failed"], "fidelity": [1.0, 0.3, 0.5, 1.0]})
    fr = build_training_frame(trials, {}, SPACE)
    assert fr.data["status"].tolist() == ["ok", "failed"]


def test_task_summaries_look_up_recorded_scores(frame):
    from metahp.meta._fitted import summarise_frame

    summaries = summarise_frame(frame)
    assert [s.name for s in summaries] == sorted(frame.tasks)
    first = summaries[0]
    rows = frame.data[frame.data["task"] == first.name]
    assert first.observed.shape == (len(rows), 3) and first.observed_score.shape == (len(rows),)
    recorded = SPACE.encode_many([{n: r[n] for n in SPACE.names} for _, r in rows.head(3).iterrows()])
    unrecorded = SPACE.encode({"learning_rate": 1e-5, "batch_size": 8, "optimizer": "sgd"})[None, :]
    got = first.scores_at(np.vstack([recorded, unrecorded]))
    np.testing.assert_allclose(got[:3], rows["score"].to_numpy()[:3])
    assert math.isnan(got[3])
