"""The app loads its models in the background when it starts, so the first person does not wait for them."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from improvement.settings import get_settings

APP = str(Path(__file__).resolve().parents[2] / "streamlit_app.py")


def _start_app() -> AppTest:
    from app_pages.common import backend, warm_in_background

    backend.clear()
    warm_in_background.clear()
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    assert not at.exception, at.exception
    return at


def test_the_first_page_starts_loading_the_playbook_and_the_knowledge_base(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BACKLOG_WARM_UP", "true")
    get_settings.cache_clear()
    _start_app()
    from app_pages.common import backend, warm_in_background

    thread = warm_in_background()  # the one thread this server process started
    assert thread is not None and thread.name == "backlog-warm-up"
    thread.join(timeout=900)  # a bound so a hang fails the test instead of stalling CI, not a speed claim
    assert not thread.is_alive()
    shared = backend()
    # Loaded by the warm-up, not by a page: cached properties sit in the instance's dict once computed.
    assert "playbook" in vars(shared) and shared.playbook.ranker is not None
    assert "knowledge" in vars(shared) and shared.knowledge.chunk_count() > 0


def test_warm_up_can_be_turned_off() -> None:
    _start_app()  # the test settings say BACKLOG_WARM_UP=false
    from app_pages.common import backend, warm_in_background

    assert warm_in_background() is None
    assert "playbook" not in vars(backend())
