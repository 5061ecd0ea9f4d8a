"""``backlog doctor``: find and repair drift between the record (the items in SQL) and what is derived
from it: the similar-problem and knowledge indexes in Chroma, and the rollup tables in SQL."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select

from db import rollups
from db.models import Document, Problem
from improvement.validation import problem_text

INDEX_BATCH = 2000
log = logging.getLogger(__name__)


def _knowledge_sources(collection: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    offset = 0
    while True:
        batch = collection.get(include=["metadatas"], limit=5000, offset=offset)
        if not batch["ids"]:
            return counts
        for meta in batch["metadatas"]:
            source = str((meta or {}).get("source", ""))
            counts[source] = counts.get(source, 0) + 1
        offset += len(batch["ids"])


def _index(store: Any, problems: dict[int, tuple[int, str, str]], problem_ids: list[int]) -> None:
    for start in range(0, len(problem_ids), INDEX_BATCH):
        store.problems.upsert(
            [
                (pid, problems[pid][0], problems[pid][1], problem_text(problems[pid][1], problems[pid][2]))
                for pid in problem_ids[start : start + INDEX_BATCH]
            ]
        )


def _problems_in_sql(backend: Any) -> dict[int, tuple[int, str, str]]:
    with backend.sessions() as session:
        return {
            pid: (iid, title, desc)
            for pid, iid, title, desc in session.execute(
                select(Problem.id, Problem.improvement_id, Problem.title, Problem.description)
            )
        }


def index_missing_problems(backend: Any) -> int:
    """Add every problem the similar-problem index lacks (after a bulk load such as seed-demo)."""
    problems = _problems_in_sql(backend)
    missing = sorted(set(problems) - backend.vector_store.problems.ids())
    _index(backend.vector_store, problems, missing)
    return len(missing)


def check(backend: Any, *, repair: bool = False) -> dict[str, Any]:
    store = backend.vector_store
    problems = _problems_in_sql(backend)
    with backend.sessions() as session:
        rollup_report = rollups.check(session)
        documents = {d.source: d.chunk_count for d in session.scalars(select(Document))}
    indexed = store.problems.ids()
    missing_problems = sorted(set(problems) - indexed)
    orphan_problems = sorted(indexed - set(problems))
    chunks = _knowledge_sources(store.knowledge)
    orphan_chunks = sorted(s for s in chunks if s not in documents)
    documents_without_chunks = sorted(s for s, n in documents.items() if chunks.get(s, 0) != n)
    report: dict[str, Any] = {
        "problems_in_sql": len(problems),
        "problems_indexed": len(indexed),
        "problems_missing_from_index": len(missing_problems),
        "index_entries_without_problem": len(orphan_problems),
        "documents_in_sql": len(documents),
        "chunk_sources_in_store": len(chunks),
        "chunks_without_document": orphan_chunks,
        "documents_with_wrong_chunk_count": documents_without_chunks,
        "rollups": rollup_report,
    }
    report["ok"] = rollup_report["ok"] and not (
        missing_problems or orphan_problems or orphan_chunks or documents_without_chunks
    )
    if repair and not report["ok"]:
        if not rollup_report["ok"]:
            with backend.sessions.begin() as session:
                rollups.rebuild(session)
        _index(store, problems, missing_problems)
        store.problems.delete(orphan_problems)
        for source in orphan_chunks:
            store.knowledge.delete(where={"source": source})
        rebuilt: list[str] = []
        not_rebuilt: list[str] = []
        for source in documents_without_chunks:
            # Re-indexed from the kept original (or the shipped starter note); never deleted: a document
            # that cannot be rebuilt keeps its SQL row and is reported, for someone to re-ingest.
            try:
                (rebuilt if backend.knowledge.rebuild_document(source) else not_rebuilt).append(source)
            except Exception as error:  # an unreadable original: report it, delete nothing
                log.warning("cannot rebuild %s: %s", source, error)
                not_rebuilt.append(source)
        report["repaired"] = {
            "problems_indexed": len(missing_problems),
            "index_entries_removed": len(orphan_problems),
            "orphan_chunk_sources_removed": len(orphan_chunks),
            "documents_reindexed": rebuilt,
            "documents_not_rebuilt": not_rebuilt,
            "rollups_rebuilt": not rollup_report["ok"],
        }
    return report
