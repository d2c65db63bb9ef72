from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the shared synthetic data module
from meta_synthetic import SPACE, make_trials  # noqa: E402

from metahp.meta import TrainingFrame, build_training_frame


@pytest.fixture(scope="session")
def synthetic():
    return make_trials(n_tasks=6, n_trials=50)


@pytest.fixture(scope="session")
def frame(synthetic) -> TrainingFrame:
    trials, metas = synthetic
    return build_training_frame(trials, metas, SPACE, exclude=["synth/3"])


@pytest.fixture(autouse=True)
def _metahp_home(tmp_path, monkeypatch):
    monkeypatch.setenv("METAHP_HOME", str(tmp_path / "home"))
