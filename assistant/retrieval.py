"""The knowledge base as a LangChain retriever, for chains that want ``retriever | format_docs | prompt``."""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever

from assistant.knowledge_base import KnowledgeBase


class HybridRetriever(BaseRetriever):
    """BM25 + vector search fused by reciprocal rank fusion (see ``KnowledgeBase.search``)."""

    knowledge: Any
    k: int = 4

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun, k: int | None = None
    ) -> list[Document]:
        """``k`` given at call time (``retriever.invoke(q, k=1)``) wins over the one set at construction."""
        return [
            Document(
                page_content=h.text,
                metadata={
                    "source": h.source,
                    "title": h.title,
                    "url": h.url,
                    "author": h.author,
                    "score": h.score,
                    "id": h.chunk_id,
                },
            )
            for h in self.knowledge.search(query, k=k if k is not None else self.k)
        ]


def make_retriever(knowledge: KnowledgeBase, k: int = 4) -> HybridRetriever:
    return HybridRetriever(knowledge=knowledge, k=k)
