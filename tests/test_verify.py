"""metahp verify: train the top recommendation and the default, store both with their provenance."""

from __future__ import annotations

from metahp import KnowledgeBase
from metahp._paths import bundled_kb_dir
from metahp.app import verify


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
