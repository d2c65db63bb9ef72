"""The bundled seed knowledge base: its datasheet tells the truth, and the default store loads it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from metahp import KnowledgeBase, tasks
from metahp._paths import bundled_kb_dir
from metahp.kb.build import HELD_OUT, build, plan_build

SEED = bundled_kb_dir()


@pytest.fixture(scope="module")
def seed() -> KnowledgeBase:
    kb = KnowledgeBase(":memory:")
    kb.import_(SEED)
    return kb


def test_datasheet_counts_match_the_shards(seed: KnowledgeBase) -> None:
    sheet = (SEED / "DATASHEET.md").read_text()
    stats = seed.stats()
    assert int(re.search(r"^- tasks: (\d+)$", sheet, re.M).group(1)) == stats["tasks"]  # type: ignore[union-attr]
    assert int(re.search(r"^- trials: (\d+)$", sheet, re.M).group(1)) == stats["trials"]  # type: ignore[union-attr]
    rows = re.findall(r"^\| (\S+) \| (\S+) \| \S+ \| (\d+) \| (\d+) \| (\d+) \| (\d+) \|", sheet, re.M)
    trials = seed.trials()
    assert len(rows) == stats["tasks"] >= 16
    for task, family, n, ok, diverged, failed in rows:
        mine = trials[trials["task"] == task]
        assert mine["family"].iloc[0] == family
        counts = mine["status"].value_counts()
        assert (len(mine), counts.get("ok", 0), counts.get("diverged", 0), counts.get("failed", 0)) == \
            (int(n), int(ok), int(diverged), int(failed)), task


def test_seed_covers_the_suite_and_leaves_the_held_out_task_out(seed: KnowledgeBase) -> None:
    names = set(seed.tasks()["name"])
    assert not names & set(HELD_OUT)
    per_task = seed.trials().groupby("task")["config"].apply(lambda c: len({str(x) for x in c}))
    assert per_task.min() >= 48  # the space-filling design and the refinement of every task
    assert (seed.trials()["source"] == "runner").all()


def test_default_store_loads_the_seed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: KnowledgeBase) -> None:
    monkeypatch.setenv("METAHP_KB", str(tmp_path / "kb.duckdb"))
    monkeypatch.delenv("METAHP_BUNDLED_KB", raising=False)
    assert KnowledgeBase().content_hash() == seed.content_hash()


def test_build_trains_the_plan_and_resumes(tmp_path: Path) -> None:
    kb = KnowledgeBase(tmp_path / "kb.duckdb")
    report = build(kb, tasks=["markov-high"], n_design=1, n_refine=0, n_repeat=1, executor="inline", budget=4,
                   progress=False, log=lambda _: None)
    assert report["complete"] and report["trained"] == 2 and kb.count_trials() == 2
    assert set(kb.trials()["seed"]) == {0, 1}
    design, refine = plan_build(kb, [tasks.get("markov-high")], n_design=1, n_refine=0, n_repeat=1)
    assert len(design) == 0 and design.skipped == 2 and len(refine) == 0
