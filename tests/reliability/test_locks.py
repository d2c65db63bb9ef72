"""One lock per store file per process: re-entrant in a thread, shared by every object, safe across threads.

Issue 20, item 7: two ``KnowledgeBase`` objects on one path in one thread waited out
``lock_timeout`` and blamed another process; one object used by several threads handed one
thread's connection to another.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from _harness import SPACE, TASK, batch, prepare_store, start

from metahp import KnowledgeBase
from metahp.errors import KnowledgeBaseError


def test_two_objects_on_one_path_nest_in_one_thread_without_waiting(tmp_path: Path) -> None:
    path = tmp_path / "kb.duckdb"
    outer = prepare_store(path)
    began = time.perf_counter()
    with outer.session():
        inner = KnowledgeBase(path, lock_timeout=5.0)  # as Study(kb="path") inside the caller's session
        inner.add_trials(TASK, batch(1, 0, 4))
        assert outer.count_trials(TASK) == 4  # the outer object sees the inner one's write at once
        with inner.session():
            outer.add_trials(TASK, batch(1, 1, 4))
    assert time.perf_counter() - began < 4.0, "the nested object waited for a lock this thread holds"
    assert KnowledgeBase(path).count_trials(TASK) == 8


def test_one_object_used_by_many_threads_loses_nothing(tmp_path: Path) -> None:
    path = tmp_path / "kb.duckdb"
    kb = prepare_store(path)
    errors: list[BaseException] = []

    def work(tag: int) -> None:
        try:
            for k in range(6):
                with kb.session():  # the session shortcut must not hand this connection to other threads
                    kb.add_trials(TASK, batch(tag, k, 3))
                    kb.count_trials(TASK)
                kb.trials(TASK)
        except BaseException as exc:  # noqa: BLE001 - collected and reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, f"{len(errors)} thread errors, first: {errors[0]!r}"
    assert KnowledgeBase(path).count_trials(TASK) == 4 * 6 * 3


def test_objects_on_one_path_in_different_threads_take_turns(tmp_path: Path) -> None:
    path = tmp_path / "kb.duckdb"
    prepare_store(path)
    errors: list[BaseException] = []

    def work(tag: int) -> None:
        try:
            own = KnowledgeBase(path, lock_timeout=60)
            for k in range(5):
                own.add_trials(TASK, batch(tag, k, 2))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, repr(errors[:1])
    assert KnowledgeBase(path).count_trials(TASK) == 30


def test_a_lock_held_by_another_thread_names_that_thread(tmp_path: Path) -> None:
    path = tmp_path / "kb.duckdb"
    kb = prepare_store(path)
    entered, leave = threading.Event(), threading.Event()

    def hold() -> None:
        with kb.session():
            entered.set()
            leave.wait(30)

    holder = threading.Thread(target=hold, name="holder-thread")
    holder.start()
    try:
        assert entered.wait(30)
        with pytest.raises(KnowledgeBaseError, match="holder-thread") as info:
            KnowledgeBase(path, lock_timeout=0.5).count_trials()
        assert "another process" not in str(info.value)
    finally:
        leave.set()
        holder.join(30)


def test_a_lock_held_by_another_process_names_its_pid_and_the_cli_option(tmp_path: Path) -> None:
    path = tmp_path / "held.duckdb"
    prepare_store(path)
    child = start("hold", path=str(path))
    try:
        child.wait_for("locked")
        with pytest.raises(KnowledgeBaseError, match="stayed locked") as info:
            KnowledgeBase(path, lock_timeout=0.5)
        message = str(info.value)
        assert f"process {child.proc.pid}" in message
        assert "--lock-timeout" in message and "lock_timeout" in message
    finally:
        child.kill()


def test_a_read_only_session_refuses_a_nested_write_with_a_typed_error(tmp_path: Path) -> None:
    path = tmp_path / "kb.duckdb"
    prepare_store(path)
    reader = KnowledgeBase(path, read_only=True)
    with reader.session():
        assert reader.count_trials() == 10
        with pytest.raises(KnowledgeBaseError, match="read-only"):
            KnowledgeBase(path).add_task("new", family="crash", space=SPACE)
    assert KnowledgeBase(path).count_trials() == 10
