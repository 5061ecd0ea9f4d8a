"""The app listens on loopback unless configured otherwise, and a store that is down gives a clear message
and a log entry, never a traceback with hosts or paths."""

from __future__ import annotations

import logging
import tomllib
from pathlib import Path

import pytest

from tests.app.test_pages import app
from tests.conftest import free_port

CONFIG = Path(__file__).resolve().parents[2] / ".streamlit" / "config.toml"


def test_the_app_binds_to_loopback_and_shows_no_error_details_by_default() -> None:
    config = tomllib.loads(CONFIG.read_text())
    assert config["server"]["address"] == "127.0.0.1"
    assert config["client"]["showErrorDetails"] == "none"


@pytest.mark.parametrize(
    "page", ["app_pages/backlog.py", "app_pages/review.py", "app_pages/knowledge.py", "app_pages/assistant.py"]
)
def test_a_database_that_refuses_connections_gives_a_clear_message(
    page: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    port = free_port()
    monkeypatch.setenv("BACKLOG_DATABASE_URL", f"postgresql+psycopg://postgres@127.0.0.1:{port}/backlog")
    from improvement.settings import get_settings

    get_settings.cache_clear()
    with caplog.at_level(logging.ERROR, logger="improvement.app"):
        at = app(page)
    assert not at.exception, at.exception
    messages = [e.value for e in at.error]
    assert any("database is not reachable" in m for m in messages), messages
    shown = " ".join(messages)
    for secret in (str(port), "127.0.0.1", "psycopg", "sqlalchemy", "Traceback", str(Path.cwd())):
        assert secret not in shown
    reference = messages[0].rsplit("reference ", 1)[1].rstrip(")")
    assert any(reference in r.getMessage() and r.exc_info for r in caplog.records)
