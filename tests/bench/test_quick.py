"""The CI-sized benchmark: `metahp bench transfer --quick` on the Step Law suite, end to end.

The Step Law suite is where transfer is reliable at a small size: the best learning rate
and batch size move smoothly with model size and token budget.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from metahp.cli import main


@pytest.mark.slow
def test_quick_benchmark_writes_results_and_metahp_beats_random(tmp_path: Path, capsys, external: Path,
                                                                monkeypatch) -> None:
    monkeypatch.setenv("METAHP_EXTERNAL", str(external))  # the folder the skip check found
    status = main(["bench", "transfer", "--quick", "--suite", "steplaw-dense", "--methods", "random,metahp",
                   "--seeds", "2", "--budget", "10", "--out", str(tmp_path)])
    assert status == 0
    record = json.loads((tmp_path / "transfer_steplaw-dense.json").read_text())
    assert record["quick"] is True and record["seeds"] == 2 and record["tasks"] == 3 and record["loss_like"]
    assert record["git_rev"] and record["generated_at"] and isinstance(record["git_dirty"], bool)
    assert record["wall_seconds"] > 0 and record["workers"] == 2
    assert record["command"] == ("metahp bench transfer --methods random,metahp --seeds 2 --budget 10 "
                                 f"--out {tmp_path} --suite steplaw-dense --quick")
    assert not record.get("failed_methods"), record.get("failed_methods")
    for entry in record["methods"].values():
        assert set(entry["regret"]) == set(entry["gap_pct"]) == {"1", "3", "5", "10"}
        assert len(entry["regret_curve"]) == 10
        assert entry["seconds_per_suggestion"] is not None
    assert (tmp_path / "transfer_steplaw-dense.md").read_text().startswith("### steplaw-dense")
    assert (tmp_path / "transfer_steplaw-dense.png").stat().st_size > 1000
    methods = record["methods"]
    assert methods["metahp"]["regret"]["10"] < methods["random"]["regret"]["10"]
    assert methods["metahp"]["rank"]["10"] < methods["random"]["rank"]["10"]
    assert methods["metahp"]["gap_pct"]["10"] < methods["random"]["gap_pct"]["10"]
    assert "steplaw-dense" in capsys.readouterr().out


def test_unknown_suite_is_a_clear_error(tmp_path: Path, capsys) -> None:
    assert main(["bench", "transfer", "--suite", "nope", "--quick", "--out", str(tmp_path)]) == 2
    assert "choose from" in capsys.readouterr().err


@pytest.mark.parametrize("args", [["bench", "summary", "/nonexistent-results"]])
def test_summary_without_results_says_what_to_run(args, capsys) -> None:
    assert main(args) == 2
    assert "metahp bench transfer" in capsys.readouterr().err
