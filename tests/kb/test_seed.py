"""The bundled seed knowledge base: its datasheet tells the truth, and the default store loads it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from metahp import KnowledgeBase, tasks
from metahp._paths import bundled_kb_dir
from metahp.app import HELD_OUT, build, plan_build

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
    trials = seed.trials()
    origin = trials["source"].str.replace("import:", "", regex=False)
    section = sheet.split("## Sources", 1)[1].split("\n## ", 1)[0]
    sources = re.findall(r"^\| (\S+) \| [^|]+ \| ([a-z, ]+) \| (\d+) \| (\d+) \| ([^|]+) \|", section, re.M)
    assert {s[0] for s in sources} == {"runner", "nmt", "scan-bench", "tinker-sft", "opda"}
    for source, _, n_tasks, n_trials, _licence in sources:
        mine = trials[origin == source]
        assert (mine["task"].nunique(), len(mine)) == (int(n_tasks), int(n_trials)), source
    assert sum(int(s[3]) for s in sources) == stats["trials"]
    rows = re.findall(r"^\| (\S+) \| (\S+) \| \S+ \| (\d+) \| (\d+) \| (\d+) \| (\d+) \|", sheet, re.M)
    assert len(rows) == trials.loc[origin == "runner", "task"].nunique() >= 16
    for task, family, n, ok, diverged, failed in rows:
        mine = trials[trials["task"] == task]
        assert mine["family"].iloc[0] == family
        counts = mine["status"].value_counts()
        assert (len(mine), counts.get("ok", 0), counts.get("diverged", 0), counts.get("failed", 0)) == \
            (int(n), int(ok), int(diverged), int(failed)), task


def test_seed_covers_the_suite_and_leaves_the_held_out_task_out(seed: KnowledgeBase) -> None:
    names = set(seed.tasks()["name"])
    assert not names & set(HELD_OUT)
    trials = seed.trials()
    runner = trials[trials["source"] == "runner"]
    assert set(runner["task"]) <= set(tasks.names())
    per_task = runner.groupby("task")["config"].apply(lambda c: len({str(x) for x in c}))
    assert len(per_task) >= 16 and per_task.min() >= 48  # the space-filling design and the refinement of every task
    assert set(trials["source"]) == {"runner", "import:nmt", "import:scan-bench", "import:tinker-sft", "import:opda"}


def test_seed_holds_only_licensed_sources_in_small_shards(seed: KnowledgeBase) -> None:
    families = set(seed.families())
    assert {"scan-bench", "tinker-sft", "opda-deberta", "nmt"} <= families
    assert not families & {"steplaw-dense", "svm", "hpobench-mlp", "fcnet"}  # import-only
    manifest = json.loads((SEED / "manifest.json").read_text())
    for name in manifest["files"]:
        assert (SEED / name).stat().st_size < 5 * 1024**2, name
    sheet = (SEED / "DATASHEET.md").read_text()
    assert "CC BY-SA 4.0" in sheet and "Nicholas Lourie" in sheet and "share-alike" in sheet
    assert "Apache-2.0" in sheet and "MIT" in sheet


def test_every_seeded_task_has_a_regime_that_agrees_with_model_pretrained(seed: KnowledgeBase) -> None:
    frame = seed.tasks()
    assert set(frame["kind"]) == {"pretrain", "finetune", "lora"}
    pretrained = frame["model_pretrained"].to_numpy(dtype=float)
    assert np.isfinite(pretrained).all()
    assert ((frame["kind"] == "pretrain").to_numpy() == (pretrained == 0.0)).all()
    assert set(frame.loc[frame["family"] == "tinker-sft", "kind"]) == {"lora"}
    assert set(frame.loc[frame["family"] == "opda-deberta", "kind"]) == {"finetune"}
    runner = frame[frame["family"].isin(tasks.families())]
    assert set(runner["kind"]) == {"pretrain"}  # the bundled runner tasks all train from scratch


@pytest.mark.slow
def test_rebuilding_the_bundle_reproduces_it(tmp_path: Path, seed: KnowledgeBase, external: Path) -> None:
    from metahp.app import build_default_bundle

    report = build_default_bundle(external, tmp_path / "kb", runner_bundle=SEED)
    rebuilt = KnowledgeBase(":memory:")
    rebuilt.import_(tmp_path / "kb")
    assert rebuilt.content_hash() == seed.content_hash()
    assert report["sources"]["scan-bench"] == {"tasks": 1189, "trials": 1194}


def test_default_store_loads_the_seed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: KnowledgeBase) -> None:
    monkeypatch.setenv("METAHP_KB", str(tmp_path / "kb.duckdb"))
    monkeypatch.delenv("METAHP_BUNDLED_KB", raising=False)
    assert KnowledgeBase().content_hash() == seed.content_hash()


def test_default_store_made_without_the_seed_gets_it_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          seed: KnowledgeBase) -> None:
    # A default store whose file was made before it was ever seeded (for instance by a
    # study that opened it by path) holds the user's own trials only.
    path = tmp_path / "kb.duckdb"
    mine = KnowledgeBase(path)
    space = seed.space(seed.tasks()["name"].iloc[0])
    mine.add_task("my-task", family="mine", space=space, meta_features={"model_params": 1e6})
    config = {p.name: p.default_value() for p in space.params}
    mine.add_trials("my-task", [{**config, "objective": 1.0}])
    mine.close()
    monkeypatch.setenv("METAHP_KB", str(path))
    monkeypatch.delenv("METAHP_BUNDLED_KB", raising=False)
    assert KnowledgeBase(read_only=True).stats()["tasks"] == 1  # a read-only open writes nothing
    kb = KnowledgeBase()
    assert set(kb.tasks()["name"]) == set(seed.tasks()["name"]) | {"my-task"}
    assert kb.count_trials() == seed.count_trials() + 1
    before = kb.content_hash()
    kb.close()
    assert KnowledgeBase().content_hash() == before  # the same bundle is not imported again

    # An upgrade that ships a different bundle adds what it brings that is new.
    newer = KnowledgeBase(":memory:")
    newer.import_(SEED)
    newer.add_task("shipped-later", family="mine", space=space, meta_features={"model_params": 2e6})
    newer.add_trials("shipped-later", [{**config, "objective": 2.0}])
    newer.export(tmp_path / "bundle")
    monkeypatch.setenv("METAHP_BUNDLED_KB", str(tmp_path / "bundle"))
    kb = KnowledgeBase()
    assert "shipped-later" in set(kb.tasks()["name"])
    assert kb.count_trials() == seed.count_trials() + 2


def test_build_trains_the_plan_and_resumes(tmp_path: Path) -> None:
    kb = KnowledgeBase(tmp_path / "kb.duckdb")
    report = build(kb, tasks=["markov-high"], n_design=1, n_refine=0, n_repeat=1, executor="inline", budget=4,
                   progress=False, log=lambda _: None)
    assert report["complete"] and report["trained"] == 2 and kb.count_trials() == 2
    assert set(kb.trials()["seed"]) == {0, 1}
    design, refine = plan_build(kb, [tasks.get("markov-high")], n_design=1, n_refine=0, n_repeat=1)
    assert len(design) == 0 and design.skipped == 2 and len(refine) == 0
