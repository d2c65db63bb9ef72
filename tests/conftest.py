"""Shared fixtures: an isolated metahp home and the external meta-datasets beside the checkout."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXTERNAL = Path(os.environ.get("METAHP_EXTERNAL", ROOT.parent / "shared" / "external"))


@pytest.fixture(autouse=True, scope="session")
def _isolated_home(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Keep the user's default knowledge base and caches out of the tests."""
    home = tmp_path_factory.mktemp("metahp-home")
    os.environ["METAHP_HOME"] = str(home)
    os.environ.pop("METAHP_KB", None)


@pytest.fixture(scope="session")
def external() -> Path:
    """The folder of public meta-datasets (``../shared/external``); tests need it present."""
    if not EXTERNAL.is_dir():
        raise FileNotFoundError(f"the external meta-datasets are missing: expected them at {EXTERNAL}")
    return EXTERNAL
