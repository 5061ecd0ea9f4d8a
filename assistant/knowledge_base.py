"""The knowledge base: documents registered in SQL, their chunks embedded in Chroma, hybrid search.

Writes go in an order that a crash cannot turn into silent loss: the chunks of a document are
replaced in Chroma first, then its SQL row is committed. ``backlog doctor`` finds and repairs any
drift between the two (chunks without a row, rows without chunks).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy.orm import Session, sessionmaker

from assistant.ingest import (
    IngestError,
    ParsedDocument,
    expand_paths,
    parse_bytes,
    read_file,
    read_regular,
    split_text,
)
from assistant.vectorstore import VectorStore
from db import repository
from db.models import Document, utcnow
from improvement.access import Action, Actor, as_actor

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
    documents: int = 0  # distinct documents written by this run
    chunks: int = 0
    failed: list[dict[str, str]] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)  # sources that already existed and were replaced


@dataclass(frozen=True)
class UploadResult:
    source: str
    chunks: int
    replaced: bool


UPLOAD_PREFIX = "uploads/"  # an upload never takes the key of a starter note or of a folder's file


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


def _may_change_knowledge(actor: Actor | str | None) -> None:
    """Adding and removing articles is an admin's job when people sign in; the CLI (no actor) has direct access."""
    if actor is not None:
        as_actor(actor).require(Action.ADMINISTER)


class KnowledgeBase:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        store: VectorStore,
        *,
        starter: bool = True,
        originals: Path | None = None,
    ) -> None:
        self._sessions = sessions
        self._store = store
        self._starter = starter
        # Where the bytes of every ingested file are kept (by sha256), so a lost index can be rebuilt.
        self._originals = originals
        self._bm25_lock = threading.Lock()
        self._bm25: tuple[int, Any, list[str]] | None = None
        self._starter_checked = False
        self._generation: tuple[Any, ...] | None = None  # the knowledge base as this process last saw it

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

    def reload_starter_knowledge(self, *, actor: Actor | str | None = None) -> int:
        """(Re-)ingest the shipped notes; each replaces its earlier copy. Returns the chunks written."""
        _may_change_knowledge(actor)
        return sum(self.add_document(read_file(path), starter=True) for path in sorted(STARTER_DIR.glob("*.md")))

    def has_document(self, source: str) -> bool:
        with self._sessions() as session:
            return repository.get_document_by_source(session, source) is not None

    def keep_original(self, sha256: str, data: bytes) -> None:
        """Keep the file's bytes in the data folder (written whole or not at all)."""
        if self._originals is None:
            return
        self._originals.mkdir(parents=True, exist_ok=True)
        target = self._originals / sha256
        if target.exists():
            return
        partial = target.with_name(f"{sha256}.{os.getpid()}.partial")
        partial.write_bytes(data)
        os.replace(partial, target)

    def original(self, sha256: str) -> bytes | None:
        if self._originals is None or not sha256:
            return None
        path = self._originals / sha256
        return path.read_bytes() if path.is_file() else None

    def add_document(
        self,
        doc: ParsedDocument,
        *,
        starter: bool = False,
        progress: Callable[[str], None] | None = None,
        original: bytes | None = None,
    ) -> int:
        """Add or replace one document; re-ingesting the same source replaces its chunks."""
        chunks = split_text(doc.text)
        if not chunks:
            raise IngestError(f"{doc.source}: no text to index")
        if original is not None:
            self.keep_original(doc.sha256, original)
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
        """Ingest files and folders; each bad file is reported and the others are still ingested."""
        files, failed = expand_paths(paths)
        report = IngestReport(failed=failed)
        written: set[str] = set()
        for found in files:
            try:
                data = read_regular(found.path, follow=not found.in_folder)
                doc = parse_bytes(data, found.path.name)
                doc = ParsedDocument(found.source, doc.title, doc.author, doc.url, doc.text, doc.sha256)
                existed = found.source in written or self.has_document(found.source)
                report.chunks += self.add_document(doc, progress=progress, original=data)
                if existed:
                    report.replaced.append(found.source)
                written.add(found.source)
            except IngestError as error:
                report.failed.append({"path": str(found.path), "error": str(error)})
            except Exception as error:  # one bad file never stops the batch
                log.exception("ingesting %s failed", found.path)
                report.failed.append(
                    {"path": str(found.path), "error": f"could not be ingested ({type(error).__name__}: {error})"}
                )
        report.documents = len(written)
        return report

    def ingest_upload(self, name: str, data: bytes, *, actor: Actor | str | None = None) -> UploadResult:
        """Ingest an uploaded file under ``uploads/<name>``; its bytes are kept for a repair."""
        _may_change_knowledge(actor)
        base = Path(name).name
        try:
            parsed = parse_bytes(data, base)
        except IngestError:
            raise
        except Exception as error:
            log.exception("parsing the upload %s failed", base)
            raise IngestError(f"{base}: could not be read ({type(error).__name__})") from None
        source = UPLOAD_PREFIX + base
        doc = ParsedDocument(source, parsed.title, parsed.author, parsed.url, parsed.text, parsed.sha256)
        replaced = self.has_document(source)
        return UploadResult(source, self.add_document(doc, original=data), replaced)

    def rebuild_document(self, source: str) -> bool:
        """Re-index one document from what was kept: the shipped starter note, or the kept original bytes.
        Returns False (and changes nothing) when neither is available."""
        with self._sessions() as session:
            row = repository.get_document_by_source(session, source)
            if row is None:
                return False
            starter, sha256 = row.starter, row.sha256
        if starter and (STARTER_DIR / source).is_file():
            self.add_document(read_file(STARTER_DIR / source), starter=True)
            return True
        data = self.original(sha256)
        if data is None:
            return False
        parsed = parse_bytes(data, Path(source).name)
        self.add_document(ParsedDocument(source, parsed.title, parsed.author, parsed.url, parsed.text, parsed.sha256))
        return True

    def remove(self, source: str, *, actor: Actor | str | None = None) -> bool:
        _may_change_knowledge(actor)
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

    def notice_changes(self) -> bool:
        """Catch up with documents other processes added, replaced or removed (``backlog ingest`` while the
        app runs, a repair): a cheap fingerprint query in SQL; when it changed, the word index is rebuilt
        and the embedded vector store is read again from disk. Returns True when something changed."""
        with self._sessions() as session:
            generation = repository.knowledge_generation(session)
        with self._bm25_lock:
            if generation == self._generation:
                return False
            self._generation = generation
            self._bm25 = None
            self._store.refresh()
        return True

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
        self.notice_changes()
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
