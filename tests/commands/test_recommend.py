"""``metahp recommend`` from meta-features alone; read-only commands refuse a --kb that does not exist."""

from __future__ import annotations

import json

import pytest

from metahp.cli import main


@pytest.fixture(autouse=True)
def _metahp_home(tmp_path, monkeypatch):
    monkeypatch.setenv("METAHP_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("METAHP_KB", raising=False)


@pytest.mark.parametrize("command", [["recommend", "--meta", "model_params=1e8"], ["kb", "stats"], ["kb", "tasks"]])
def test_read_only_commands_refuse_a_missing_store(tmp_path, capsys, command):
    missing = tmp_path / "typo.duckdb"
    code = main([*command, "--kb", str(missing)])
    assert code != 0
    assert "does not exist" in capsys.readouterr().err
    assert not missing.exists()  # nothing was created


@pytest.mark.slow  # seeds the default store from the bundle and fits on it (about 30 s on a shared 2-core machine)
def test_recommend_from_meta_features_alone_names_sources_and_refuses_misspellings(capsys):
    code = main(["recommend", "--meta", "model_params_nonembedding=2e6,budget_tokens=2e7", "-k", "2", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    first = out["recommendations"][0]
    assert "learning_rate" in first["config"] and first["sources"].startswith(f"{first['sources'].split()[0]} source")
    assert main(["recommend", "--meta", "params=2e6"]) != 0
    assert "did you mean 'model_params'" in capsys.readouterr().err
    assert main(["recommend", "--meta", "model_params=2e6", "--family", "lm-txt"]) != 0
    assert "did you mean 'lm-text'" in capsys.readouterr().err
