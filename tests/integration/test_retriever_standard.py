"""LangChain's own standard tests for retrievers (langchain-tests), run against the real knowledge base."""

from __future__ import annotations

from typing import Any

from langchain_tests.integration_tests import RetrieversIntegrationTests

from assistant.retrieval import HybridRetriever
from improvement.wiring import make_backend


class TestHybridRetrieverStandard(RetrieversIntegrationTests):
    @property
    def retriever_constructor(self) -> type[HybridRetriever]:
        return HybridRetriever

    @property
    def retriever_constructor_params(self) -> dict[str, Any]:
        # Built per test, inside the test's own data folder (the autouse fixture has already set it).
        return {"knowledge": make_backend().knowledge}

    @property
    def retriever_query_example(self) -> str:
        return "why report customer experience in money"
