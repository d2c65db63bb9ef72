from __future__ import annotations

import numpy as np
import pytest

from metahp.bench import best_so_far, mean_ranks, regret_curves, speedup
from metahp.bench._metrics import gap_curves


def test_regret_is_normalised_by_the_pool_range_and_padded() -> None:
    y = np.array([4.0, 2.0, 0.0, 10.0])
    curves = regret_curves([[3, 1], [2]], y, budget=3)
    assert curves.tolist() == [[1.0, 0.2, 0.2], [0.0, 0.0, 0.0]]


def test_gap_reads_the_raw_loss_of_the_running_best() -> None:
    y = np.log10(np.array([2.0, 4.0, 1.0]))
    raw = np.array([2.0, 4.0, 1.0])
    gap = gap_curves([[1, 0, 2]], y, raw, budget=3)
    assert gap[0].tolist() == pytest.approx([300.0, 100.0, 0.0])


def test_ranks_average_ties_per_run_and_T() -> None:
    ranks = mean_ranks({"a": np.array([[0.5, 0.0]]), "b": np.array([[0.1, 0.0]]), "c": np.array([[0.9, 0.2]])})
    assert ranks["b"].tolist() == [1.0, 1.5]
    assert ranks["a"].tolist() == [2.0, 1.5]
    assert ranks["c"].tolist() == [3.0, 3.0]


def test_speedup_uses_the_floor_when_gp_reaches_zero() -> None:
    gp = np.array([0.5, 0.1, 0.0004, 0.0])
    assert speedup(gp, gp) == 1.0
    # v = 0.0005: GP reaches it at T=3; a method at 0.0003 from T=1 is 3x faster.
    assert speedup(np.array([0.0003, 0.0, 0.0, 0.0]), gp) == 3.0
    assert speedup(np.array([0.2, 0.2, 0.1, 0.01]), gp) is None


def test_best_so_far_keeps_the_minimum() -> None:
    assert best_so_far(np.array([3.0, 5.0, 1.0]), 4).tolist() == [3.0, 3.0, 1.0, 1.0]
