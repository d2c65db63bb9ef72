"""metahp verify: train the top recommendation and the default, store both with their provenance."""

from __future__ import annotations

import pytest

from metahp import KnowledgeBase
from metahp._paths import bundled_kb_dir
from metahp.app import verify


@pytest.mark.slow
def test_verify_trains_stores_and_compares() -> None:
    kb = KnowledgeBase(":memory:")
    kb.import_(bundled_kb_dir())
    before = kb.count_trials()
    report = verify("docs-m", k=1, kb=kb, budget=4, progress=False)
    assert len(report.runs) == 1 and report.default is not None
    assert report.runs[0].predicted is not None and report.runs[0].status in {"ok", "diverged"}
    stored = kb.trials("docs-m")
    assert kb.count_trials() == before + 2
    assert sorted(stored["source"]) == ["verify:default", "verify:recommendation 1"]
    table = report.table()
    assert "recommendation 1" in table and "default" in table
    if report.best is not None and report.default.measured is not None:
        assert report.beats_default == (report.best.measured < report.default.measured)


def test_without_the_default_run_the_report_claims_nothing_about_it():
    from metahp.app._verify import VerifiedRun, VerifyReport

    run = VerifiedRun(label="rec 1", config={}, predicted=1.0, measured=0.9, status="ok", seconds=1.0)
    report = VerifyReport(task="t", objective_name="loss", direction="minimize", runs=[run])
    assert report.beats_default is None
    assert "default" not in report.table()
    report.default = VerifiedRun(label="default", config={}, predicted=None, measured=1.2, status="ok", seconds=1.0)
    assert report.beats_default is True and "beats the default" in report.table()
