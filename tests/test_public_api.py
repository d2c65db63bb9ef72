"""The public API stays what it says after every submodule has been imported."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import subprocess
import sys

import metahp


def _import_everything() -> list[str]:
    names = []
    for info in pkgutil.walk_packages(metahp.__path__, "metahp."):
        importlib.import_module(info.name)
        names.append(info.name)
    return names


def test_exported_functions_survive_importing_every_submodule():
    modules = _import_everything()
    assert "metahp.recommender" in modules and "metahp.app" in modules
    for name in metahp.__all__:
        value = getattr(metahp, name)
        assert value is not None, name
    # The functions keep being functions: a submodule import must not shadow them.
    assert inspect.isfunction(metahp.recommend)
    assert inspect.isfunction(metahp.verify)
    assert inspect.isfunction(metahp.describe_task)
    assert inspect.isfunction(metahp.run_trial)
    assert inspect.isclass(metahp.Study)
    assert inspect.isclass(metahp.KnowledgeBase)


def test_submodule_import_first_then_public_names_in_a_fresh_interpreter():
    # The order of the report in issue 21: a submodule imported before the lazy export is used.
    code = (
        "import metahp, inspect\n"
        "import metahp.study, metahp.recommender, metahp.app\n"
        "assert inspect.isfunction(metahp.recommend), metahp.recommend\n"
        "assert inspect.isfunction(metahp.verify), metahp.verify\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_every_name_in_all_resolves():
    for name in metahp.__all__:
        assert hasattr(metahp, name), name
    for package in ("metahp.kb", "metahp.meta", "metahp.bo", "metahp.runner", "metahp.app", "metahp.integrations"):
        module = importlib.import_module(package)
        for name in getattr(module, "__all__", ()):
            assert hasattr(module, name), f"{package}.{name}"
