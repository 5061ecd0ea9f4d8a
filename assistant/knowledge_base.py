"""The knowledge base: documents registered in SQL, their chunks embedded in Chroma, hybrid search.

Writes go in an order that a crash cannot turn into silent loss: the chunks of a document are
replaced in Chroma first, then its SQL row is committed. ``backlog doctor`` finds and repairs any
drift between the two (chunks without a row, rows without chunks).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy.orm import Session, sessionmaker

from assistant.ingest import IngestError, ParsedDocument, expand_paths, parse_bytes, read_file, split_text
from assistant.vectorstore import VectorStore
from db import repository
from db.models import Document, utcnow

log = logging.getLogger(__name__)
STARTER_DIR = Path(__file__).parent / "knowledge"
RRF_K = 60
CANDIDATES = 30


@dataclass(frozen=True)
class SearchHit:
    chunk_id: str
    source: str
    title: str
    author: str
    url: str
    text: str
    score: float
    similarity: float = 0.0  # cosine similarity of the vector match; 0 when only BM25 found it


@dataclass
class IngestReport:
    documents: int = 0
    chunks: int = 0
    failed: list[dict[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class DocumentInfo:
    source: str
    title: str
    author: str
    url: str
    chunk_count: int
    characters: int
    starter: bool
    ingested_at: Any


class KnowledgeBase:
    def __init__(self, sessions: sessionmaker[Session], store: VectorStore, *, starter: bool = True) -> None:
        self._sessions = sessions
        self._store = store
        self._starter = starter
        self._bm25_lock = threading.Lock()
        self._bm25: tuple[int, Any, list[str]] | None = None
        self._starter_checked = False

    # Writing ------------------------------------------------------------------------------------
    def ensure_starter_knowledge(self) -> int:
        """Load the shipped notes into an empty knowledge base (unless turned off). Returns chunks added."""
        if self._starter_checked or not self._starter:
            return 0
        self._starter_checked = True
        with self._sessions() as session:
            if repository.count_documents(session):
                return 0
        return self.reload_starter_knowledge()

    def reload_starter_knowledge(self) -> int:
        """(Re-)ingest the shipped notes; each replaces its earlier copy. Returns the chunks written."""
        return sum(self.add_document(read_file(path), starter=True) for path in sorted(STARTER_DIR.glob("*.md")))

    def add_document(
        self, doc: ParsedDocument, *, starter: bool = False, progress: Callable[[str], None] | None = None
    ) -> int:
        """Add or replace one document; re-ingesting the same source replaces its chunks."""
        chunks = split_text(doc.text)
        if not chunks:
            raise IngestError(f"{doc.source}: no text to index")
        collection = self._store.knowledge
        ids = [f"{doc.sha256[:16]}-{i:05d}" for i in range(len(chunks))]
        metadatas = [
            {
                "source": doc.source,
                "title": doc.title,
                "author": doc.author,
                "url": doc.url,
                "sha256": doc.sha256,
                "position": i,
            }
            for i in range(len(chunks))
        ]
        collection.delete(where={"source": doc.source})
        for start in range(0, len(chunks), 256):
            collection.add(
                ids=ids[start : start + 256],
                documents=chunks[start : start + 256],
                metadatas=metadatas[start : start + 256],
            )
            if progress:
                progress(f"{doc.source}: {min(start + 256, len(chunks))}/{len(chunks)} chunks")
        with self._sessions.begin() as session:
            row = repository.get_document_by_source(session, doc.source)
            if row is None:
                row = Document(source=doc.source)
                session.add(row)
            row.title, row.author, row.url, row.sha256 = doc.title, doc.author, doc.url, doc.sha256
            row.chunk_count, row.characters, row.starter, row.ingested_at = (
                len(chunks),
                len(doc.text),
                starter,
                utcnow(),
            )
        self._bm25 = None
        return len(chunks)

    def ingest_paths(self, paths: list[Path], progress: Callable[[str], None] | None = None) -> IngestReport:
        files, failed = expand_paths(paths)
        report = IngestReport(failed=failed)
        for path in files:
            try:
                report.chunks += self.add_document(read_file(path), progress=progress)
                report.documents += 1
            except IngestError as error:
                report.failed.append({"path": str(path), "error": str(error)})
        return report

    def ingest_upload(self, name: str, data: bytes) -> int:
        return self.add_document(parse_bytes(data, Path(name).name))

    def remove(self, source: str) -> bool:
        self._store.knowledge.delete(where={"source": source})
        with self._sessions.begin() as session:
            row = repository.get_document_by_source(session, source)
            if row is None:
                return False
            session.delete(row)
        self._bm25 = None
        return True

    # Reading ------------------------------------------------------------------------------------
    def documents(self) -> list[DocumentInfo]:
        with self._sessions() as session:
            return [
                DocumentInfo(d.source, d.title, d.author, d.url, d.chunk_count, d.characters, d.starter, d.ingested_at)
                for d in repository.list_documents(session)
            ]

    def chunk_count(self) -> int:
        return int(self._store.knowledge.count())

    def _bm25_index(self) -> tuple[Any, list[str]]:
        import bm25s

        count = self.chunk_count()
        with self._bm25_lock:
            if self._bm25 is None or self._bm25[0] != count:
                ids: list[str] = []
                texts: list[str] = []
                offset = 0
                while True:
                    batch = self._store.knowledge.get(include=["documents"], limit=5000, offset=offset)
                    if not batch["ids"]:
                        break
                    ids.extend(batch["ids"])
                    texts.extend(batch["documents"])
                    offset += len(batch["ids"])
                retriever = bm25s.BM25()
                if texts:
                    retriever.index(bm25s.tokenize(texts, stopwords="en", show_progress=False), show_progress=False)
                self._bm25 = (count, retriever, ids)
            return self._bm25[1], self._bm25[2]

    def search(self, query: str, k: int = 5) -> list[SearchHit]:
        """Hybrid search: BM25 and vector ranks fused by reciprocal rank fusion."""
        self.ensure_starter_knowledge()
        total = self.chunk_count()
        if total == 0 or not query.strip():
            return []
        n = min(CANDIDATES, total)
        vector = self._store.knowledge.query(query_texts=[query], n_results=n, include=["distances"])
        similarity = {cid: 1.0 - float(d) for cid, d in zip(vector["ids"][0], vector["distances"][0], strict=True)}
        ranks: dict[str, float] = {}
        for rank, chunk_id in enumerate(vector["ids"][0]):
            ranks[chunk_id] = ranks.get(chunk_id, 0.0) + 1.0 / (RRF_K + rank + 1)
        bm25, ids = self._bm25_index()
        if ids:
            import bm25s

            tokens = bm25s.tokenize([query], stopwords="en", show_progress=False)
            if tokens.vocab:
                docs, scores = bm25.retrieve(tokens, k=min(n, len(ids)), show_progress=False)
                for rank, (index, score) in enumerate(zip(docs[0], scores[0], strict=True)):
                    if score > 0:
                        chunk_id = ids[int(index)]
                        ranks[chunk_id] = ranks.get(chunk_id, 0.0) + 1.0 / (RRF_K + rank + 1)
        best = sorted(ranks.items(), key=lambda kv: -kv[1])[:k]
        if not best:
            return []
        got = self._store.knowledge.get(ids=[c for c, _ in best], include=["documents", "metadatas"])
        by_id = {
            cid: (doc, meta) for cid, doc, meta in zip(got["ids"], got["documents"], got["metadatas"], strict=True)
        }
        top = max(s for _, s in best)
        hits = []
        for chunk_id, score in best:
            if chunk_id not in by_id:
                continue
            doc, meta = by_id[chunk_id]
            hits.append(
                SearchHit(
                    chunk_id,
                    str(meta.get("source", "")),
                    str(meta.get("title", "")),
                    str(meta.get("author", "")),
                    str(meta.get("url", "")),
                    doc,
                    float(np.round(score / top, 4)),
                    round(similarity.get(chunk_id, 0.0), 4),
                )
            )
        return hits
