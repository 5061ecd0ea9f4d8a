"""Sign-in in the app (issue 15), through AppTest's simulated st.user; the real provider is in tests/e2e."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[2] / "streamlit_app.py")


def app(user: dict[str, object] | None, page: str | None = None) -> AppTest:
    from app_pages.common import backend, start_delivery

    backend.clear()
    start_delivery.clear()
    at = AppTest.from_file(APP, default_timeout=120)
    if user is not None:
        at.user = user
    at.run()
    if page:
        at.switch_page(page)
        at.run()
    return at


def signed_in(email: str, name: str) -> dict[str, object]:
    return {"is_logged_in": True, "email": email, "name": name}


@pytest.fixture
def oidc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BACKLOG_AUTH", "oidc")
    monkeypatch.setenv("BACKLOG_ADMINS", "ada@example.com")


def test_local_mode_says_so_and_records_the_local_user(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BACKLOG_USER", "Lou Local")
    at = app(None)
    assert not at.exception
    assert any("Local mode: no sign-in" in c.value and "Lou Local" in c.value for c in at.sidebar.caption)


@pytest.mark.usefixtures("oidc")
def test_a_visitor_who_has_not_signed_in_sees_only_the_sign_in_page() -> None:
    at = app({"is_logged_in": False})
    assert not at.exception
    assert [b.label for b in at.button] == ["Sign in"]
    assert not at.sidebar.caption and not at.text_area and not at.dataframe  # no data, no form, no model


@pytest.mark.usefixtures("oidc")
def test_a_signed_in_agent_logs_a_problem_under_their_own_name() -> None:
    from improvement.wiring import make_backend

    at = app(signed_in("ana@example.com", "Ana Agent"))
    assert not at.exception
    assert any("Ana Agent" in m.value and "agent" in m.value for m in at.sidebar.markdown)
    at.text_area(key="log_description").set_value("Refunds take a month because finance batches them weekly")
    at.button[0].click().run()
    assert not at.exception
    item = make_backend().backlog().list_items().items[0]
    detail = make_backend().backlog().get_item(item.id)
    assert detail.history[0].changed_by == "Ana Agent <ana@example.com>"
    assert detail.problems[0].reporter == "Ana Agent <ana@example.com>"


@pytest.mark.usefixtures("oidc")
def test_a_viewer_is_refused_by_the_service_even_on_a_page_that_offers_the_form() -> None:
    from improvement.wiring import make_backend

    make_backend().people().grant("setup", "vera@example.com", "viewer")
    at = app(signed_in("vera@example.com", "Vera"))
    at.text_area(key="log_description").set_value("The loyalty app logs people out every hour")
    at.button[0].click().run()
    assert not at.exception
    assert any("may not log problems" in e.value for e in at.error)
    assert make_backend().backlog().list_items().total == 0


@pytest.mark.usefixtures("oidc")
def test_an_admin_grants_a_role_on_the_people_page() -> None:
    from improvement.wiring import make_backend

    at = app(signed_in("ada@example.com", "Ada Admin"), page="app_pages/people.py")
    assert not at.exception
    at.text_input(key="grant_email").set_value("omar@example.com")
    at.selectbox(key="grant_role").set_value("owner")
    at.button[0].click().run()
    assert not at.exception
    assert {p.email: p.role for p in make_backend().people().everyone()}["omar@example.com"] == "owner"


@pytest.mark.usefixtures("oidc")
def test_a_person_whose_access_was_revoked_sees_why_and_nothing_else() -> None:
    from improvement.wiring import make_backend

    people = make_backend().people()
    people.grant("setup", "ada@example.com", "admin")
    people.grant("setup", "gone@example.com", "agent")
    people.revoke("setup", "gone@example.com")
    at = app(signed_in("gone@example.com", "Gone"))
    assert not at.exception
    assert any("no access" in e.value for e in at.error)
    assert not at.text_area


@pytest.mark.usefixtures("oidc")
def test_an_agent_sees_the_articles_but_not_the_admin_actions() -> None:
    at = app(signed_in("ana@example.com", "Ana Agent"), page="app_pages/knowledge.py")
    assert not at.exception
    assert any("Only admins" in c.value for c in at.caption)
    assert not [b for b in at.button if b.key in ("kb_ingest", "kb_remove", "kb_reload_starter")]


@pytest.mark.usefixtures("oidc")
def test_an_owner_picks_an_owner_among_the_people_not_free_text() -> None:
    from improvement.wiring import make_backend

    backend = make_backend()
    backend.people().grant("setup", "omar@example.com", "owner")
    item = backend.backlog().log_problem({"description": "Invoices show the wrong VAT number"}, actor="setup")
    at = app(signed_in("omar@example.com", "Omar Owner"), page="app_pages/backlog.py")
    at.session_state["open_item"] = item.improvement_id
    at.run()
    assert not at.exception
    picker = at.selectbox(key=f"edit_owner_{item.improvement_id}_1")
    assert picker.options == ["nobody", "Omar Owner <omar@example.com>"]


def test_a_shared_link_opens_its_item_on_the_backlog_page() -> None:
    from improvement.wiring import make_backend

    item = make_backend().backlog().log_problem({"description": "Boarding passes fail at the gate"}, actor="a")
    from app_pages.common import backend, start_delivery

    backend.clear()
    start_delivery.clear()
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["item"] = str(item.improvement_id)
    at.run()
    assert not at.exception
    assert at.session_state["open_item"] == item.improvement_id
    assert any(s.value.startswith(f"#{item.improvement_id} ") for s in at.subheader)  # the item is open
