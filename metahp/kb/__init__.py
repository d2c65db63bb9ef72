"""The knowledge base: DuckDB store, Parquet bundles and importers."""

from metahp.kb._catalogue import PUBLIC_SOURCES, PublicSource, RemoteFile
from metahp.kb._fetch import FetchResult, fetch, fetchable
from metahp.kb.bundle import ImportResult
from metahp.kb.store import AddResult, KnowledgeBase, TaskInfo

__all__ = ["KnowledgeBase", "AddResult", "ImportResult", "TaskInfo", "PUBLIC_SOURCES", "PublicSource", "RemoteFile",
           "fetch", "fetchable", "FetchResult"]
