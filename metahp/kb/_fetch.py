"""``metahp kb fetch NAME``: download a public source from its pinned upstream and import it.

Nothing here runs unless the user asks: :func:`fetch` is called by ``metahp kb fetch`` and
by code that calls it by name. Every file is pinned to an upstream URL at a fixed commit or
release and to its SHA-256 (:mod:`metahp.kb._catalogue`). All files are downloaded and
checked before anything is written where the importer reads, and before anything is
imported: a file that does not match its checksum raises :class:`~metahp.errors.FetchError`
and the knowledge base is left as it was.

``$METAHP_FETCH_BASE_URL`` (or ``base_url=``) replaces the upstream hosts by a mirror that
serves ``<base>/<name>/<file>``; the checksums still apply, so a mirror cannot change what
is imported. metahp's own tests point it at a local HTTP server.
"""

from __future__ import annotations

import difflib
import hashlib
import io
import os
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from metahp._paths import cache_dir
from metahp.errors import FetchError
from metahp.kb._catalogue import PUBLIC_SOURCES, PublicSource, RemoteFile
from metahp.kb.importers import _sha256 as _file_sha256  # the importers' provenance hash of a file
from metahp.kb.store import KnowledgeBase

if TYPE_CHECKING:  # pragma: no cover
    from metahp.kb.bundle import ImportResult

__all__ = ["fetch", "fetchable", "FetchResult", "BASE_URL_ENV"]

#: Environment variable naming a mirror that replaces the upstream hosts.
BASE_URL_ENV = "METAHP_FETCH_BASE_URL"
_MAX_BYTES = 512 * 1024**2


@dataclass
class FetchResult:
    """What :func:`fetch` did."""

    name: str
    folder: Path
    downloaded: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    imported: ImportResult | None = None


def fetchable() -> list[str]:
    """Names of the sources ``metahp kb fetch`` can download."""
    return sorted(name for name, source in PUBLIC_SOURCES.items() if source.files)


def _source(name: str) -> PublicSource:
    if name not in PUBLIC_SOURCES:
        close = difflib.get_close_matches(name, list(PUBLIC_SOURCES), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise FetchError(f"unknown source {name!r}; metahp kb fetch can download {fetchable()}.{hint}")
    source = PUBLIC_SOURCES[name]
    if not source.files:
        raise FetchError(f"source {name!r} cannot be fetched: {source.fetch_note}")
    return source


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()




def _url(source: PublicSource, remote: RemoteFile, base_url: str | None) -> str:
    if not base_url:
        return remote.url
    name = remote.url.rsplit("/", 1)[-1] if remote.member else remote.save_as
    return f"{base_url.rstrip('/')}/{source.name}/{name}"


def _download(url: str, timeout: float) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (pinned https URLs or a mirror)
            data = response.read(_MAX_BYTES + 1)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise FetchError(f"cannot download {url}: {exc}; check the connection (or ${BASE_URL_ENV}) and run "
                         "`metahp kb fetch` again; nothing was imported") from exc
    if len(data) > _MAX_BYTES:
        raise FetchError(f"{url} is larger than {_MAX_BYTES} bytes; refusing it (nothing was imported)")
    return data


def _checked(source: PublicSource, remote: RemoteFile, data: bytes, url: str) -> bytes:
    """The bytes to write for ``remote``: ``data`` itself, or its archive member; raise on a mismatch."""
    got = _sha256(data)
    if got != remote.sha256:
        raise FetchError(
            f"{url} does not match its pinned SHA-256 (expected {remote.sha256}, got {got}): the download is "
            f"damaged or the file was altered. Nothing of {source.name!r} was imported."
        )
    if remote.member is None:
        return data
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            member = archive.read(remote.member)
    except (zipfile.BadZipFile, KeyError) as exc:
        raise FetchError(f"{url} holds no {remote.member!r}: {exc}; nothing was imported") from exc
    if remote.member_sha256 is not None and _sha256(member) != remote.member_sha256:
        raise FetchError(f"{remote.member} in {url} does not match its pinned SHA-256; nothing was imported")
    return member


def _verified(path: Path, remote: RemoteFile) -> bool:
    expected = remote.member_sha256 if remote.member else remote.sha256
    return path.is_file() and expected is not None and _file_sha256(path) == expected


def fetch(name: str, to: str | os.PathLike[str] | None = None, *, kb: KnowledgeBase | None = None,
          base_url: str | None = None, timeout: float = 60.0, import_: bool = True) -> FetchResult:
    """Download the public source ``name``, check every file's SHA-256 and import it.

    Files already in ``to`` with the pinned checksum are not downloaded again.

    Args:
        name: A source of :func:`fetchable` (``nmt``, ``opda``, ``scan-bench``).
        to: Folder to keep the files in (default: ``<metahp data dir>/cache/sources/<name>``).
        kb: The store to import into (default: the user's default store).
        base_url: A mirror serving ``<base_url>/<name>/<file>`` instead of the upstream hosts
            (default ``$METAHP_FETCH_BASE_URL``; the checksums still apply).
        timeout: Seconds to wait for each download.
        import_: Import after downloading (``False``: only download and check).

    Returns:
        The folder, the files downloaded or reused, and what the import added.

    Raises:
        FetchError: An unknown or unfetchable source, a failed download, or a file that does
            not match its checksum (then nothing is written where the importer reads and
            nothing is imported).
    """
    source = _source(name)
    if base_url is None:
        base_url = os.environ.get(BASE_URL_ENV) or None
    if to is None:
        folder = cache_dir() / "sources" / name
    else:
        folder = Path(to).expanduser()
    if folder.exists() and not folder.is_dir():
        raise FetchError(f"{folder} is a file; give a folder to keep the downloaded source in")
    folder.mkdir(parents=True, exist_ok=True)
    result = FetchResult(name=name, folder=folder)
    with tempfile.TemporaryDirectory(dir=folder, prefix=".fetch-") as tmp:
        staged: list[tuple[Path, Path]] = []
        for remote in source.files:
            target = folder / remote.save_as
            if _verified(target, remote):
                result.reused.append(remote.save_as)
                continue
            url = _url(source, remote, base_url)
            content = _checked(source, remote, _download(url, timeout), url)
            part = Path(tmp) / remote.save_as
            part.parent.mkdir(parents=True, exist_ok=True)
            part.write_bytes(content)
            staged.append((part, target))
            result.downloaded.append(remote.save_as)
        for part, target in staged:  # only once every file is checked
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(part), str(target))
    (folder / "SOURCE.txt").write_text(_source_note(source, base_url), encoding="utf-8")
    if import_:
        if kb is None:
            kb = KnowledgeBase()
        result.imported = kb.import_source(name, folder / source.import_path)
    return result


def _source_note(source: PublicSource, base_url: str | None) -> str:
    lines = [
        f"Fetched by `metahp kb fetch {source.name}`" + (f" from the mirror {base_url}" if base_url else ""),
        f"Upstream: {source.upstream}",
        f"Licence: {source.licence}",
        f"Attribution: {source.attribution}",
        "Files (URL, SHA-256):",
        *[f"  {f.url}{' :: ' + f.member if f.member else ''}  {f.member_sha256 or f.sha256}" for f in source.files],
    ]
    return "\n".join(lines) + "\n"
