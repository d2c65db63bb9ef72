"""The store's memo of its content hash and families: kept while the files are unchanged, and only then."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

import metahp
from metahp import Float, KnowledgeBase, SearchSpace
from metahp.kb import store as store_module

SPACE = SearchSpace([Float("learning_rate", 1e-5, 1e-1, log=True), Float("weight_decay", 0.0, 0.3)])


def _filled(path: Path, n_tasks: int = 6) -> KnowledgeBase:
    kb = KnowledgeBase(path)
    for i in range(n_tasks):
        kb.add_task(f"t{i}", family="fam", kind="causal-lm", space=SPACE, objective_name="val_loss",
                    meta_features={"model_params": 10.0 ** (6 + i / 2), "budget_tokens": 10.0 ** (8 + i / 2)})
        configs = SPACE.sample(8, seed=i)
        kb.add_trials(f"t{i}", [{**c, "objective": 3.0 + abs(c["learning_rate"] - 1e-3 * (i + 1)) * 100}
                                for c in configs])
    return kb


@pytest.fixture
def settled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[KnowledgeBase, str]:
    """A filled store whose memo is trusted at once (no settling time), and its content hash, kept."""
    monkeypatch.setattr(store_module, "_SETTLED_NS", 0)
    kb = _filled(tmp_path / "kb.duckdb")
    kb.content_hash()  # computed and stored: the write makes this connection's reading untrusted
    return kb, kb.content_hash()  # read from the stored row: kept


class _Opens:
    """Counts ``duckdb.connect`` calls of the store module."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.n = 0
        real = duckdb.connect

        def counting(*args: object, **kwargs: object) -> duckdb.DuckDBPyConnection:
            self.n += 1
            return real(*args, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(store_module.duckdb, "connect", counting)


def test_an_unchanged_store_answers_hash_and_families_without_opening(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_module, "_SETTLED_NS", 0)
    kb = _filled(tmp_path / "kb.duckdb")
    first = kb.content_hash()
    kb.content_hash()  # read from the stored row this time: kept
    families = kb.families()
    again = KnowledgeBase(tmp_path / "kb.duckdb")  # opening checks the schema: one connection
    opens = _Opens(monkeypatch)
    assert kb.content_hash() == first
    assert kb.families() == families == ["fam"]
    assert again.content_hash() == first  # another object on the same path shares what was kept
    assert opens.n == 0


def test_a_write_from_this_process_is_seen(tmp_path: Path, settled: tuple[KnowledgeBase, str]) -> None:
    kb, before = settled
    other = KnowledgeBase(tmp_path / "kb.duckdb")
    other.add_task("new", family="other", kind="causal-lm", space=SPACE, objective_name="val_loss",
                   meta_features={"model_params": 1e9})
    other.add_trials("new", [{**c, "objective": 2.0} for c in SPACE.sample(3, seed=9)])
    assert kb.content_hash() != before
    assert kb.families() == ["fam", "other"]


def test_a_write_from_another_process_is_seen(tmp_path: Path, settled: tuple[KnowledgeBase, str]) -> None:
    kb, before = settled
    path, families = tmp_path / "kb.duckdb", kb.families()
    script = (
        "import sys\n"
        "from metahp import Float, KnowledgeBase, SearchSpace\n"
        "kb = KnowledgeBase(sys.argv[1])\n"
        "kb.add_task('far', family='elsewhere', kind='causal-lm', objective_name='val_loss',\n"
        "            space=SearchSpace([Float('learning_rate', 1e-5, 1e-1, log=True)]),\n"
        "            meta_features={'model_params': 1e10})\n"
        "kb.add_trials('far', [{'learning_rate': 1e-3, 'objective': 2.5}])\n"
    )
    subprocess.run([sys.executable, "-c", script, str(path)], check=True, timeout=120)
    assert kb.content_hash() != before
    assert kb.families() == sorted([*families, "elsewhere"])


def test_a_store_written_just_now_is_not_trusted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Within the settling time of a write, every ask opens the store (a write in the same
    timestamp tick could not be told apart)."""
    kb = _filled(tmp_path / "kb.duckdb")
    monkeypatch.setattr(store_module, "_SETTLED_NS", 3_600 * 10**9)
    kb.content_hash()
    kb.content_hash()
    opens = _Opens(monkeypatch)
    kb.content_hash()
    kb.families()
    assert opens.n == 2


def test_inside_a_session_the_store_is_asked(settled: tuple[KnowledgeBase, str]) -> None:
    """A session may hold this thread's own writes the files do not show yet."""
    kb, before = settled
    with kb.session():
        kb.add_task("late", family="fam", kind="causal-lm", space=SPACE, objective_name="val_loss",
                    meta_features={"model_params": 1e7})
        kb.add_trials("late", [{**c, "objective": 3.0} for c in SPACE.sample(2, seed=3)])
        assert kb.content_hash() != before


@pytest.mark.slow
def test_a_warm_recommend_on_a_settled_store_opens_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With the real settling time: a store left alone for it answers a warm call without a connection,
    with the same answer as a call that opened the store."""
    kb = _filled(tmp_path / "kb.duckdb")
    question = {"model_params": 3e7, "budget_tokens": 3e9}
    opened = metahp.recommend(question, kb=kb, k=3)
    time.sleep(store_module._SETTLED_NS / 1e9 + 0.2)
    metahp.recommend(question, kb=kb, k=3)  # reads the hash again from the now settled file: kept
    opens = _Opens(monkeypatch)
    warm = metahp.recommend(question, kb=kb, k=3)
    assert opens.n == 0
    assert [r.config for r in warm] == [r.config for r in opened]
