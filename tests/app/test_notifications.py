"""The app and the outbox (issue 16): it delivers in the background and says when a channel is misconfigured."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from streamlit.testing.v1 import AppTest
from werkzeug import Request, Response

APP = str(Path(__file__).resolve().parents[2] / "streamlit_app.py")


def app() -> AppTest:
    from app_pages.common import backend, start_delivery

    backend.clear()
    start_delivery.clear()
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    return at


def test_a_malformed_channel_is_named_in_the_sidebar_and_the_app_still_works(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BACKLOG_NOTIFY_URLS", "nonsense://what")
    at = app()
    assert not at.exception
    assert any("BACKLOG_NOTIFY_URLS" in w.value.replace("\\", "") for w in at.sidebar.warning)


def test_a_problem_logged_in_the_app_reaches_the_webhook_receiver(
    monkeypatch: pytest.MonkeyPatch, httpserver: HTTPServer
) -> None:
    received: list[dict] = []  # type: ignore[type-arg]

    def handle(request: Request) -> Response:
        received.append(json.loads(request.get_data()))
        return Response("ok")

    httpserver.expect_request("/hook", method="POST").respond_with_handler(handle)
    monkeypatch.setenv("BACKLOG_WEBHOOK_URLS", httpserver.url_for("/hook"))
    monkeypatch.setenv("BACKLOG_WEBHOOK_SECRET", "k")
    at = app()
    at.text_area(key="log_description").set_value("Members cannot pause their gym contract online")
    at.button[0].click().run()
    assert not at.exception
    deadline = time.monotonic() + 60
    while not received and time.monotonic() < deadline:
        time.sleep(0.5)
    assert [e["type"] for e in received] == ["item.created"]


def test_the_backlog_flags_untriaged_items_and_the_review_shows_the_promise() -> None:
    from datetime import UTC, datetime, timedelta

    from improvement.wiring import make_backend

    service = make_backend().backlog()
    now = datetime.now(UTC)
    old = service.log_problem(
        {"description": "Nobody answers the claims hotline"}, actor="a", now=now - timedelta(hours=60)
    )
    fresh = service.log_problem({"description": "The chatbot forgets the order number"}, actor="a", now=now)
    service.change_status(fresh.improvement_id, "triaged", actor="owner")
    at = app()
    at.switch_page("app_pages/backlog.py")
    at.run()
    assert not at.exception
    assert any("1 item(s) have waited more than 48 hours" in w.value for w in at.warning)
    at.checkbox(key="f_overdue").check().run()
    assert not at.exception
    assert list(at.dataframe[0].value["id"]) == [old.improvement_id]
    at.switch_page("app_pages/review.py")
    at.run()
    assert not at.exception
    heard = [m for m in at.metric if m.label.startswith("Heard back within 48")]
    assert heard and heard[0].value == "50%"  # one heard back at once, one still waiting past the promise
