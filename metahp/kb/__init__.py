"""The knowledge base: DuckDB store, Parquet bundles and importers."""

from metahp.kb.bundle import ImportResult
from metahp.kb.store import AddResult, KnowledgeBase, TaskInfo

__all__ = ["KnowledgeBase", "AddResult", "ImportResult", "TaskInfo"]
