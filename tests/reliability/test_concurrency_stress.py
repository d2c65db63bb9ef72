"""Several processes write one store at once, mixing every kind of write, while another reads.

Every trial must arrive exactly once (the same content hashes as the same operations run
one after another), and a reader never sees part of a batch.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from _harness import SPACE, batch, make_bundle, start

from metahp import KnowledgeBase

SHARED = "stress/shared"
BATCH = 17
BATCHES = 5


def plan(tmp_path: Path, external: Path, writers: int, batches: int) -> tuple[list[list[list[Any]]], list[Path]]:
    """Operations per writer: batches into one shared task and an own task, two bundles and a public
    source imported by two writers each (so duplicates race), in a different order per writer."""
    bundles = [make_bundle(tmp_path / f"bundle{b}", f"bundle{b}", 3, 400, tag=100 * (b + 1)) for b in range(2)]
    steplaw = str(external / "steplaw" / "dense_lr_bs_loss.csv")
    ops: list[list[list[Any]]] = []
    for w in range(writers):
        mine: list[list[Any]] = [
            ["add", SHARED, w, batches, BATCH],
            ["add", f"stress/own{w}", 50 + w, 3, 40],
            ["import", str(bundles[w % 2])],
        ]
        if w < 2:
            mine.append(["source", "steplaw", steplaw])
        ops.append(mine if w % 2 == 0 else mine[::-1])
    return ops, bundles


def replay(ops: list[list[list[Any]]], writers: int) -> KnowledgeBase:
    """The same operations, one after another, in an in-memory store (repeats skipped: they add nothing)."""
    kb = KnowledgeBase(":memory:")
    _tasks(kb, writers)
    done: set[str] = set()
    for mine in ops:
        for op in mine:
            if json.dumps(op) in done:
                continue
            done.add(json.dumps(op))
            if op[0] == "add":
                for k in range(op[3]):
                    kb.add_trials(op[1], batch(op[2], k, op[4]))
            elif op[0] == "import":
                kb.import_(op[1])
            else:
                kb.import_source(op[1], op[2])
    return kb


def _tasks(kb: KnowledgeBase, writers: int) -> None:
    for name in (SHARED, *(f"stress/own{w}" for w in range(writers))):
        kb.add_task(name, family="stress", space=SPACE)


@pytest.mark.slow
@pytest.mark.parametrize("writers", [4])
def test_mixed_concurrent_writers_deliver_every_trial_once(tmp_path: Path, external: Path, writers: int) -> None:
    ops, _ = plan(tmp_path, external, writers, batches=BATCHES)
    path = tmp_path / "stress.duckdb"
    _tasks(KnowledgeBase(path), writers)
    stop = tmp_path / "stop"
    reader = start("reader", path=str(path), task=SHARED, stop=str(stop), interval=0.05)
    reader.wait_for("ready")
    # Writers pause 20 ms between batches: the file lock is not fair, and four writers handing it to each
    # other can keep a reader out until they are all done (seen once in CI: the reader saw 0, then 340).
    children = [start("ops", path=str(path), ops=mine, pause=0.02) for mine in ops]
    began = time.perf_counter()
    codes = [child.finish(timeout=300) for child in children]
    print(f"{writers} writers finished in {time.perf_counter() - began:.1f} s")
    stop.touch()
    assert reader.finish(timeout=60) == 0, reader.stderr()
    assert codes == [0] * writers, [c.stderr()[-2000:] for c in children]

    kb = KnowledgeBase(path)
    expected = replay(ops, writers)
    got, want = kb.trials(), expected.trials()
    assert len(got) == len(want) == expected.count_trials()
    assert sorted(got["content_hash"]) == sorted(want["content_hash"]), "a trial was lost or stored twice"
    assert got["content_hash"].is_unique
    assert got.groupby("task").size().to_dict() == want.groupby("task").size().to_dict()
    assert sorted(kb.tasks()["name"]) == sorted(expected.tasks()["name"])

    seen = json.loads(next(line for line in reader.lines if line.startswith("seen")).split(" ", 1)[1])
    assert len(seen) >= 3, "the reader did not poll while the writers ran"
    assert all(n % BATCH == 0 for n in seen), f"a reader saw part of a batch: {[n for n in seen if n % BATCH]}"
    assert seen == sorted(seen) and seen[-1] == writers * BATCHES * BATCH
    assert len(set(seen)) > 2, "the reader saw no batch arrive; it did not overlap the writers"
