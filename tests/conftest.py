"""Shared fixtures: an isolated metahp home and the external meta-datasets beside the checkout.

Without the public meta-datasets (``../shared/external``, or ``$METAHP_EXTERNAL``) the tests that
read them skip and say how to get them. In CI (``$CI`` set) nothing may skip: a skip is reported
as a failure, so a CI run whose data went missing cannot pass by running fewer tests.
"""

from __future__ import annotations

import os
import re
from collections.abc import Generator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXTERNAL = Path(os.environ.get("METAHP_EXTERNAL", ROOT.parent / "shared" / "external"))
IN_CI = os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")
RAY_WORD = re.compile(r"(^|_)ray(_|$)")


def external_or_skip() -> Path:
    """The folder of public meta-datasets, or a skip whose reason says where it looked and how to get them."""
    if not EXTERNAL.is_dir():
        pytest.skip(f"needs the public meta-datasets, not found at {EXTERNAL}: copy shared/external beside the "
                    "checkout or set $METAHP_EXTERNAL to it (docs/benchmarks.md, 'The public meta-datasets')")
    return EXTERNAL


@pytest.fixture(autouse=True, scope="session")
def _isolated_home(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Keep the user's default knowledge base and caches out of the tests (one home per xdist worker)."""
    home = tmp_path_factory.mktemp("metahp-home")
    os.environ["METAHP_HOME"] = str(home)
    os.environ.pop("METAHP_KB", None)


@pytest.fixture(scope="session")
def external() -> Path:
    """The folder of public meta-datasets (``../shared/external``); the test skips without it."""
    return external_or_skip()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Choose the xdist groups that ``-n 2 --dist loadgroup`` keeps on one worker.

    Every Ray test goes to one group, so one local Ray cluster runs at a time (two on one machine
    contend for the same worker ports): a test of ``test_ray.py`` or one whose name has the word
    ``ray`` (``test_ray_local_matches_inline``). The tests of a module that share a module- or
    class-scoped fixture go to one group per module, so the fixture is built once and not once
    per worker (``test_training_faults.py``'s pool run: 170-200 s each time on a loaded machine).
    """
    for item in items:
        name = getattr(item, "originalname", item.name)
        if item.path.name == "test_ray.py" or RAY_WORD.search(name):
            item.add_marker(pytest.mark.xdist_group("ray"))
            continue
        info = getattr(item, "_fixtureinfo", None)
        defs = info.name2fixturedefs.values() if info is not None else ()
        if any(d and d[-1].scope in ("module", "class") for d in defs):
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::")[0]))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, None, None]:
    """In CI, turn a skip into a failure that keeps the skip's reason."""
    outcome = yield
    report = outcome.get_result()
    if IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped in CI ($CI is set), where every test must run: {reason}"
