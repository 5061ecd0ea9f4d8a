"""Hermetic tests: every test gets its own data folder; nothing touches the network.

Storage tests run on SQLite and on the PostgreSQL server at 127.0.0.1:5432 (each run creates and
drops its own database). Set BACKLOG_TEST_POSTGRES_URL to point elsewhere.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from db.engine import make_engine, make_session_factory, upgrade
from improvement.settings import get_settings

POSTGRES_ADMIN_URL = os.environ.get(
    "BACKLOG_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def free_port() -> int:
    """A loopback port nobody is listening on, for a server a test starts."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float = 90.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout:.0f} s")


@pytest.fixture(autouse=True)
def _isolated_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, classifier_cache: Path) -> Iterator[None]:
    for name in list(os.environ):
        if name.startswith("BACKLOG_") and name not in ("BACKLOG_TEST_POSTGRES_URL",):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("BACKLOG_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("BACKLOG_LLM", "none")
    # No background warm-up thread racing a test's own database (tests/app/test_warm_up.py turns it on).
    monkeypatch.setenv("BACKLOG_WARM_UP", "false")
    monkeypatch.setenv("BACKLOG_CLASSIFIER_CACHE", str(classifier_cache))
    monkeypatch.chdir(tmp_path)  # no stray .env from the developer's folder
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def classifier_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fitted classifier is cached once per test session (fitting takes a few seconds)."""
    return tmp_path_factory.mktemp("classifier-cache")


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    name = f"backlog_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"))
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


def _truncate(factory: sessionmaker[Session]) -> None:
    with factory.begin() as session:
        tables = (
            "changes, problems, improvements, documents, events, mail_preferences, people, quarter_targets, "
            "priority_weights, saved_views"
        )
        session.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.db'}"
        return
    url = request.getfixturevalue("postgres_database")
    engine = make_engine(url)
    upgrade(engine)
    _truncate(make_session_factory(engine))
    engine.dispose()
    yield url


@pytest.fixture
def sessions(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[sessionmaker[Session]]:
    monkeypatch.setenv("BACKLOG_DATABASE_URL", database_url)
    get_settings.cache_clear()
    engine = make_engine(database_url)
    upgrade(engine)
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture(scope="session")
def embedder():  # type: ignore[no-untyped-def]
    from assistant.embeddings import get_embedder

    return get_embedder()


@pytest.fixture(scope="session")
def offline_classifier(embedder, classifier_cache: Path):  # type: ignore[no-untyped-def]
    from improvement.classification import OfflineClassifier

    return OfflineClassifier.load_or_fit(embedder, classifier_cache)
