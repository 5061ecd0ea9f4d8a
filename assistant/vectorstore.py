"""Chroma, embedded by default or a server when ``BACKLOG_CHROMA_HOST`` is set.

Every collection is opened with our offline embedding function: a collection opened without it
would fall back to Chroma's default, which downloads a model and fails offline.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from chromadb import Documents, EmbeddingFunction, Embeddings
from chromadb.utils.embedding_functions import register_embedding_function

from assistant.embeddings import MODEL_ID, get_embedder
from improvement.settings import Settings

KNOWLEDGE = "knowledge"
PROBLEMS = "problems"


@register_embedding_function
class OfflineMiniLM(EmbeddingFunction[Documents]):
    """all-MiniLM-L6-v2 (int8 ONNX) from the installed package; never downloads anything."""

    def __init__(self) -> None:
        self._embedder = get_embedder()

    def __call__(self, input: Documents) -> Embeddings:  # noqa: A002 (Chroma's signature)
        # Batches repeat texts (the same complaint reported many times, demo data): embed each once.
        texts = list(input)
        unique = list(dict.fromkeys(texts))
        vectors = dict(zip(unique, self._embedder.embed(unique), strict=True))
        return [vectors[text] for text in texts]

    @staticmethod
    def name() -> str:
        return "improvement-backlog-minilm-int8"

    def get_config(self) -> dict[str, Any]:
        return {"model": MODEL_ID}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> OfflineMiniLM:
        return OfflineMiniLM()

    def default_space(self) -> str:  # type: ignore[override]
        return "cosine"


def make_client(settings: Settings) -> Any:
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
    if settings.chroma_host:
        return chromadb.HttpClient(host=settings.chroma_host, port=settings.chroma_port, settings=chroma_settings)
    settings.chroma_path.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(settings.chroma_path), settings=chroma_settings)


class ProblemCollection:
    """Logged problems, for 'similar problems already logged'. Ids are problem ids."""

    def __init__(self, collection: Any) -> None:
        self._collection = collection

    def upsert(self, problems: Sequence[tuple[int, int, str, str]], vectors: Any = None) -> None:
        """Add or replace problems; ``vectors`` (one per problem) spares embedding texts already embedded."""
        self._collection.upsert(
            ids=[str(pid) for pid, _, _, _ in problems],
            documents=[text for _, _, _, text in problems],
            metadatas=[{"improvement_id": iid, "title": title[:200]} for _, iid, title, _ in problems],
            **({"embeddings": [list(map(float, v)) for v in vectors]} if vectors is not None else {}),
        )

    def delete(self, problem_ids: Sequence[int]) -> None:
        if problem_ids:
            self._collection.delete(ids=[str(p) for p in problem_ids])

    def query(self, text: str, k: int, vector: Any = None) -> list[tuple[int, int, str, float]]:
        if self._collection.count() == 0:
            return []
        query: dict[str, Any] = (
            {"query_embeddings": [list(map(float, vector))]} if vector is not None else {"query_texts": [text]}
        )
        result = self._collection.query(**query, n_results=k, include=["metadatas", "distances"])
        hits = []
        for pid, meta, distance in zip(result["ids"][0], result["metadatas"][0], result["distances"][0], strict=True):
            hits.append((int(pid), int(meta["improvement_id"]), str(meta.get("title", "")), 1.0 - float(distance)))
        return hits

    def ids(self) -> set[int]:
        out: set[int] = set()
        offset = 0
        while True:
            batch = self._collection.get(include=[], limit=5000, offset=offset)["ids"]
            if not batch:
                return out
            out.update(int(i) for i in batch)
            offset += len(batch)

    def count(self) -> int:
        return int(self._collection.count())


class VectorStore:
    def __init__(self, client: Any, *, reopen: Callable[[], Any] | None = None) -> None:
        """``reopen`` makes a fresh client over the same store; given for the embedded store, whose
        process keeps its vector index in memory and so misses what other processes write."""
        self._reopen = reopen
        self._open(client)

    def _open(self, client: Any) -> None:
        self.client = client
        embedding = OfflineMiniLM()
        space = {"hnsw:space": "cosine"}
        self.knowledge = client.get_or_create_collection(KNOWLEDGE, embedding_function=embedding, metadata=space)
        self.problems = ProblemCollection(
            client.get_or_create_collection(PROBLEMS, embedding_function=embedding, metadata=space)
        )

    def refresh(self) -> bool:
        """Read the embedded store again from disk, so chunks another process (``backlog ingest``, a
        repair) wrote are found. A Chroma server is shared by every process: nothing to do. Returns True
        when the store was reopened.

        Chroma keeps one system per folder and process; it is dropped from Chroma's cache (not stopped:
        a search in another thread may still be using it) so the new client loads the folder afresh.
        """
        if self._reopen is None:
            return False
        from chromadb.api.shared_system_client import SharedSystemClient

        identifier = getattr(self.client, "_identifier", None)
        if identifier is not None:
            SharedSystemClient._identifier_to_system.pop(identifier, None)
        self._open(self._reopen())
        return True

    @classmethod
    def from_settings(cls, settings: Settings) -> VectorStore:
        embedded = not settings.chroma_host
        return cls(make_client(settings), reopen=(lambda: make_client(settings)) if embedded else None)
