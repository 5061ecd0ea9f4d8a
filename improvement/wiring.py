"""Build the services from settings. The CLI and the Streamlit app both start here.

Heavy pieces (embedding model, classifier, Chroma, LLM) are created lazily, on first use, so that
commands such as ``backlog list`` start fast and never import them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from db.engine import make_engine, make_session_factory, upgrade
from improvement.settings import Settings, get_settings

if TYPE_CHECKING:
    from improvement.classification import Classifier
    from improvement.services import BacklogService


@dataclass
class Backend:
    """Everything a command or a page needs, created once per process."""

    settings: Settings

    @cached_property
    def engine(self) -> Engine:
        self.settings.ensure_dirs()
        engine = make_engine(self.settings.resolved_database_url)
        upgrade(engine)
        return engine

    @cached_property
    def sessions(self) -> sessionmaker[Session]:
        return make_session_factory(self.engine)

    def classifier(self) -> Classifier:
        from improvement.classification import get_offline_classifier

        offline = get_offline_classifier(self.settings.classifier_cache_dir, self.settings.review_threshold)
        provider = self.settings.llm.split(":", 1)[0]
        if provider in ("ollama", "openai"):
            from improvement.llm_classification import LLMClassifier

            return LLMClassifier(self.chat_model(), fallback=offline, model_name=self.settings.llm)
        return offline

    def chat_model(self) -> Any:
        from assistant.models import load_chat_model

        return load_chat_model(self.settings.llm, timeout=self.settings.llm_timeout_seconds)

    @cached_property
    def vector_store(self) -> Any:
        from assistant.vectorstore import VectorStore

        return VectorStore.from_settings(self.settings)

    def problem_index(self) -> Any:
        return self.vector_store.problems

    def suggester(self) -> Callable[..., Any]:
        return self.playbook.suggest

    @cached_property
    def playbook(self) -> Any:
        from assistant.playbook import Playbook

        return Playbook.load()

    def backlog(self, *, with_models: bool = True) -> BacklogService:
        """The backlog service; ``with_models=False`` for reads that need no classifier or index."""
        from improvement.services import BacklogService

        if not with_models:
            return BacklogService(self.sessions)
        return BacklogService(
            self.sessions,
            classifier_provider=self.classifier,
            problem_index=self.problem_index(),
            suggester=self.suggester(),
        )

    @cached_property
    def knowledge(self) -> Any:
        from assistant.knowledge_base import KnowledgeBase

        return KnowledgeBase(self.sessions, self.vector_store, starter=self.settings.starter_knowledge)

    def describe(self) -> dict[str, str]:
        """What the sidebar shows: which database, knowledge base and model are in use (no secrets)."""
        from assistant.models import model_label

        url = self.engine.url
        database = (
            f"SQLite ({url.database})"
            if url.get_backend_name() == "sqlite"
            else f"{url.get_backend_name()} on {url.host}:{url.port or ''}/{url.database}"
        )
        settings = self.settings
        knowledge = (
            f"Chroma server {settings.chroma_host}:{settings.chroma_port}"
            if settings.chroma_host
            else f"embedded Chroma ({settings.chroma_path})"
        )
        return {"database": database, "knowledge": knowledge, "model": model_label(settings.llm)}


def make_backend(settings: Settings | None = None) -> Backend:
    return Backend(settings or get_settings())
