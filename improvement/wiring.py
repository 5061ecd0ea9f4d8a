"""Build the services from settings. The CLI and the Streamlit app both start here.

Heavy pieces (embedding model, classifier, Chroma, LLM) are created lazily, on first use, so that
commands such as ``backlog list`` start fast and never import them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from db.engine import make_engine, make_session_factory, upgrade
from improvement.settings import Settings, get_settings

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

    from assistant.knowledge_base import KnowledgeBase
    from assistant.models import LocalModel
    from assistant.playbook import Playbook
    from assistant.vectorstore import ProblemCollection, VectorStore
    from improvement.classification import Classifier, OfflineClassifier
    from improvement.delivery import Deliverer
    from improvement.llm_classification import LLMClassifier
    from improvement.model_trial import ModelTrial
    from improvement.people import People
    from improvement.retraining import ClassifierModels
    from improvement.services import BacklogService


@dataclass
class Backend:
    """Everything a command or a page needs, created once per process."""

    settings: Settings
    # Long-lived processes (the app) trial a chat model in a background thread on first use; one-shot CLI
    # commands leave that to `backlog trial-model`, and until a verdict exists the offline classifier decides.
    trial_in_background: bool = False
    # The app with sign-in on: every change must come from a signed-in person (the CLI has direct access).
    signed_in_only: bool = False

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
        offline = self.offline_classifier()
        if self.settings.llm.split(":", 1)[0] == "none":
            return offline
        return self.llm_classifier(offline)

    def offline_classifier(self) -> OfflineClassifier:
        from improvement.classification import get_offline_classifier

        return get_offline_classifier(
            self.settings.classifier_cache_dir, self.settings.review_threshold, self.settings.models_dir
        )

    def classifier_models(self) -> ClassifierModels:
        """Refit the classifier from the team's decisions, list and restore its versions."""
        from assistant.embeddings import get_embedder
        from improvement.classification import OfflineClassifier
        from improvement.model_store import ModelStore
        from improvement.retraining import ClassifierModels, team_decisions
        from improvement.transfer import export_labels

        return ClassifierModels(
            store=ModelStore(self.settings.models_dir),
            embedder=get_embedder,
            shipped=lambda: OfflineClassifier.load_or_fit(
                get_embedder(), self.settings.classifier_cache_dir, threshold=self.settings.review_threshold
            ),
            active=self.offline_classifier,
            decisions=lambda: team_decisions(export_labels(self.sessions)),
        )

    def llm_classifier(self, offline: OfflineClassifier) -> LLMClassifier:
        """The chat model as a classifier, gated by its trial on held-out examples."""
        from improvement.llm_classification import LLMClassifier

        classifier = LLMClassifier(
            fallback=offline,
            model_name=self.describe_model(),
            model_factory=self.chat_model,
            trial=lambda: self.model_trial(classifier, background=self.trial_in_background),
        )
        return classifier

    def model_trial(self, classifier: LLMClassifier, *, background: bool) -> ModelTrial | None:
        """The configured model's verdict (cached per model); runs the trial if asked and none exists."""
        from assistant.embeddings import get_embedder
        from improvement.model_trial import TrialCache, offline_correct_on_held_out, run_trial

        name = self.describe_model()
        cache = TrialCache(self.settings.cache_dir, self.trial_key())

        def run() -> ModelTrial:
            offline = offline_correct_on_held_out(get_embedder(), self.settings.review_threshold)
            return run_trial(name, classifier.kinds, offline)

        return cache.run_once(run, background=background)

    def trial_key(self) -> str:
        """Which model a cached trial verdict belongs to."""
        return f"{self.settings.llm}|{self.settings.local_model or ''}|{self.describe_model()}"

    def describe_model(self) -> str:
        from assistant.models import model_label

        return model_label(self.settings.llm, self.local_model())

    def local_model(self) -> LocalModel:
        """Which GGUF file ``BACKLOG_LLM=local`` serves, and how."""
        from assistant.models import LocalModel

        return LocalModel(
            path=self.settings.local_model,
            threads=self.settings.local_threads,
            log_path=self.settings.cache_dir / "local-model.log",
        )

    def chat_model(self) -> BaseChatModel | None:
        from assistant.models import load_chat_model

        return load_chat_model(self.settings.llm, timeout=self.settings.llm_timeout_seconds, local=self.local_model())

    @cached_property
    def vector_store(self) -> VectorStore:
        from assistant.vectorstore import VectorStore

        return VectorStore.from_settings(self.settings)

    def problem_index(self) -> ProblemCollection:
        return self.vector_store.problems

    @cached_property
    def playbook(self) -> Playbook:
        from assistant.playbook import Playbook

        self.settings.ensure_dirs()
        return Playbook.load(self.settings.classifier_cache_dir)

    def backlog(self, *, with_models: bool = True) -> BacklogService:
        """The backlog service with every capability; the heavy ones (embedding model, classifier, Chroma,
        playbook) load on first use, so reads stay fast and a merge still re-points the index.

        ``with_models`` is kept for callers that say they only read; it no longer removes anything.
        """
        from improvement.services import BacklogService

        del with_models
        return BacklogService(
            self.sessions,
            classifier_provider=self.classifier,
            problem_index=_LazyIndex(self),
            suggester=lambda facts: self.playbook.suggest(facts),
            embed=_embed_one,
            signed_in_only=self.signed_in_only,
        )

    @cached_property
    def knowledge(self) -> KnowledgeBase:
        from assistant.knowledge_base import KnowledgeBase

        return KnowledgeBase(
            self.sessions,
            self.vector_store,
            starter=self.settings.starter_knowledge,
            originals=self.settings.data_dir / "originals",
        )

    def people(self) -> People:
        from improvement.access import parse_role
        from improvement.people import People

        return People(
            self.sessions, admins=self.settings.admin_emails, default_role=parse_role(self.settings.default_role)
        )

    def deliverer(self) -> Deliverer:
        """The outbox worker for the configured channels; a malformed channel URL is refused here."""
        from improvement.delivery import Channels, Deliverer

        return Deliverer(self.sessions, Channels.from_settings(self.settings))

    def describe(self) -> dict[str, str]:
        """What the sidebar shows: which database, knowledge base and model are in use (no secrets)."""
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
        return {"database": database, "knowledge": knowledge, "model": self.describe_model()}


def _embed_one(text: str) -> Any:
    from assistant.embeddings import get_embedder

    return get_embedder().embed_one(text)


class _LazyIndex:
    """The similar-problem index, opened on first use (listing items never opens Chroma)."""

    def __init__(self, backend: Backend) -> None:
        self._backend = backend

    def upsert(self, problems: Sequence[tuple[int, int, str, str]], vectors: Any = None) -> None:
        self._backend.problem_index().upsert(problems, vectors)

    def delete(self, problem_ids: Sequence[int]) -> None:
        self._backend.problem_index().delete(problem_ids)

    def query(self, text: str, k: int, vector: Any = None) -> list[tuple[int, int, str, float]]:
        return list(self._backend.problem_index().query(text, k, vector))

    def count(self) -> int:
        return self._backend.problem_index().count()


def make_backend(settings: Settings | None = None) -> Backend:
    return Backend(settings or get_settings())


def outage_message(error: BaseException) -> str | None:
    """What to tell a person when a store is down (the database refuses connections, the knowledge store
    fails); ``None`` when the error is not an outage. Never names hosts, paths or SQL: those go to the log."""
    from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

    # Only a failing connection is an outage; a ProgrammingError or IntegrityError is a bug and is raised.
    if isinstance(error, OperationalError | InterfaceError) or (
        isinstance(error, DBAPIError) and error.connection_invalidated
    ):
        return (
            "The database is not reachable right now, so this page cannot be shown. Nothing you saved is lost; "
            "try again in a moment. The details are in the server log."
        )
    try:
        from chromadb.errors import ChromaError
    except ImportError:  # pragma: no cover - chromadb is a dependency
        return None
    if isinstance(error, ChromaError):
        return (
            "The knowledge base is not available right now (an administrator can run `backlog doctor --repair`). "
            "The details are in the server log."
        )
    return None
