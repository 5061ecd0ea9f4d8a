"""Every page through Streamlit's AppTest: empty database, demo data, and the main actions."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[2] / "streamlit_app.py")
PAGES = [
    "app_pages/log_problem.py",
    "app_pages/backlog.py",
    "app_pages/review.py",
    "app_pages/assistant.py",
    "app_pages/knowledge.py",
]


def app(page: str | None = None) -> AppTest:
    from app_pages.common import backend

    backend.clear()  # a fresh backend for this test's data folder
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    if page:
        at.switch_page(page)
        at.run()
    return at


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_on_an_empty_database(page: str) -> None:
    at = app(page)
    assert not at.exception, at.exception


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_with_demo_data(page: str) -> None:
    from improvement.cli import main

    assert main(["seed-demo", "--count", "300"]) == 0
    at = app(page)
    assert not at.exception, at.exception


def test_log_a_problem_and_see_it_classified() -> None:
    at = app()
    at.text_area(key="log_description").set_value("Claims pass through four departments and take two months")
    at.number_input(key="log_value").set_value(5000.0)
    at.button[0].click().run()  # the form's submit button
    assert not at.exception
    assert any("kaikaku" in m.value for m in at.subheader)
    assert any("Confidence" in str(p.proto) for p in at.get("progress"))


def test_log_refuses_empty_text_keeps_input_and_escapes_html() -> None:
    at = app()
    at.text_input(key="log_title").set_value("<b>bold</b> title")
    at.text_area(key="log_description").set_value("   ")
    at.button[0].click().run()
    assert any("Description" in e.value for e in at.error)
    assert at.text_input(key="log_title").value == "<b>bold</b> title"  # nothing the user typed is lost
    at.text_area(key="log_description").set_value("<script>alert(1)</script> the [link](javascript:alert(1)) is wrong")
    at.button[0].click().run()
    rendered = " ".join(m.value for m in at.markdown)
    assert "<script>" not in rendered and "](javascript:" not in rendered


def test_a_bad_field_gets_its_message_and_the_rest_is_kept() -> None:
    at = app()
    at.text_area(key="log_description").set_value("Invoices show the wrong VAT number")
    at.text_input(key="log_currency").set_value("€€")
    at.button[0].click().run()
    assert not at.exception
    assert [e.value for e in at.error if "Currency" in e.value]
    assert at.text_area(key="log_description").value == "Invoices show the wrong VAT number"
    at.text_input(key="log_currency").set_value("USD")
    at.button[0].click().run()
    assert not at.error and any("This calls for" in s.value for s in at.subheader)


def test_backlog_filter_and_status_change() -> None:
    from improvement.cli import main

    main(["add", "The tracking page shows in transit for a week", "--quarter", "2026-Q4"])
    main(["add", "Mortgage approval passes five departments over eight weeks", "--quarter", "2026-Q3"])
    at = app("app_pages/backlog.py")
    at.multiselect(key="f_quarter").set_value(["2026-Q4"]).run()
    assert any("1 item(s) match" in c.value for c in at.caption)
    item_id = 1  # the first row is open until another row is clicked
    at.text_input(key=f"edit_owner_{item_id}_1").set_value("Kim")
    at.selectbox(key=f"edit_status_{item_id}_1").set_value("triaged")
    at.button(key=f"FormSubmitter:edit_item_{item_id}-Save").click().run()
    assert not at.exception
    assert any("Saved" in s.value for s in at.success)
    # One save is one transaction and one new version; the form shows the saved values.
    assert at.selectbox(key=f"edit_status_{item_id}_2").value == "triaged"
    assert at.text_input(key=f"edit_owner_{item_id}_2").value == "Kim"


def test_a_concurrent_edit_is_refused_and_the_form_keeps_what_was_typed() -> None:
    from improvement.cli import main

    main(["add", "The tracking page shows in transit for a week", "--quarter", "2026-Q4"])
    at = app("app_pages/backlog.py")
    item_id = 1
    assert main(["edit", str(item_id), "--owner", "Someone Else"]) == 0  # another person saves first
    at.text_input(key=f"edit_owner_{item_id}_1").set_value("Me")
    at.button(key=f"FormSubmitter:edit_item_{item_id}-Save").click().run()
    assert not at.exception
    assert any("changed by someone else" in e.value for e in at.error)
    assert at.text_input(key=f"edit_owner_{item_id}_1").value == "Me"
    from improvement.wiring import make_backend

    assert make_backend().backlog(with_models=False).get_item(item_id).item.owner == "Someone Else"


def test_quarterly_review_shows_the_balance() -> None:
    from improvement.cli import main

    main(["seed-demo", "--count", "200"])
    at = app("app_pages/review.py")
    assert not at.exception
    labels = [m.label for m in at.metric]
    assert labels[:4] == ["Items", "Value at risk", "Marked done in the quarter", "Needs review"]
    assert "Still at risk" in labels


def test_a_leader_sets_the_target_mix_and_sees_the_gap_and_the_items_that_close_it() -> None:
    from improvement.cli import main
    from improvement.domain import quarter_of

    quarter = quarter_of(datetime.now(UTC))
    for n in range(3):
        main(["add", f"Receipt {n} misses the store phone number", "--kind", "kaizen", "--quarter", quarter])
        main(["edit", str(n + 1), "--status", "planned"])
    main(["add", "Members want to pause instead of cancel", "--kind", "kakushin", "--quarter", quarter])
    at = app("app_pages/review.py")
    assert not at.exception
    assert any("70 / 20 / 10 is a starting point" in c.value for c in at.caption)
    at.selectbox(key=f"target_basis_{quarter}").set_value("items")
    at.number_input(key=f"target_kaizen_{quarter}").set_value(50)
    at.number_input(key=f"target_kaikaku_{quarter}").set_value(0)
    at.number_input(key=f"target_kakushin_{quarter}").set_value(40)
    at.button(key=f"FormSubmitter:target_form_{quarter}-Save the target").click().run()
    assert not at.exception
    assert any("add up to 90%" in e.value for e in at.error)  # refused, nothing saved
    at.number_input(key=f"target_kakushin_{quarter}").set_value(50)
    at.button(key=f"FormSubmitter:target_form_{quarter}-Save the target").click().run()
    assert not at.exception
    assert any(f"Target for {quarter} saved" in s.value for s in at.success)
    assert not any("starting point" in c.value for c in at.caption)
    assert any("kakushin** is 50 pts below its target" in m.value for m in at.markdown)
    gap = next(d.value for d in at.dataframe if "closes gap" in d.value.columns)
    assert list(gap["id"]) == [4] and bool(gap["closes gap"].iloc[0])
    assert "RICE" in " ".join(c.value for c in at.caption)
    assert {b.label for b in at.get("download_button")} >= {"The meeting report (PDF)", "The quarter's items (CSV)"}


def test_quarterly_review_never_adds_currencies_together() -> None:
    from improvement.cli import main
    from improvement.domain import quarter_of

    quarter = quarter_of(datetime.now(UTC))
    main(["add", "Refunds take a month", "--value", "1000", "--quarter", quarter])
    main(["add", "Gate changes are not pushed", "--value", "250", "--currency", "USD", "--quarter", quarter])
    at = app("app_pages/review.py")
    assert not at.exception
    assert at.metric[1].label == "Value at risk (2 currencies)" and at.metric[1].value == "1.0 k EUR"
    assert any("1.0 k EUR + 250 USD" in c.value for c in at.caption)


def test_ask_a_question_with_a_fake_chat_model() -> None:
    at = app("app_pages/assistant.py")
    at.session_state["assistant_chat_model"] = GenericFakeChatModel(
        messages=iter([AIMessage(content="Pre-empt it for every customer [1].")])
    )
    at.chat_input(key="chat_question").set_value("How do leaders pre-empt problems?").run()
    assert not at.exception
    # The model's words are shown escaped (nothing in them renders as Markdown): compare without the escapes.
    assert any("Pre-empt it for every customer" in m.value.replace("\\", "") for m in at.markdown)
    assert any(e.label.replace("\\", "").startswith("[1]") for e in at.expander)


def test_knowledge_base_lists_the_starter_notes() -> None:
    at = app("app_pages/knowledge.py")
    assert not at.exception
    assert any("4 document(s)" in c.value for c in at.caption)
    at.button(key="kb_reload_starter").click().run()
    assert not at.exception and any("Reloaded" in s.value for s in at.success)
    assert any("4 document(s)" in c.value for c in at.caption)


def test_backlog_sidebar_retrains_from_the_teams_decisions_and_restores(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    from improvement.settings import get_settings

    monkeypatch.setenv("BACKLOG_USER", "Ana")  # local mode: who the history records
    get_settings.cache_clear()

    from improvement.cli import main
    from tests.integration.test_retraining import marina_problems

    at = app("app_pages/backlog.py")
    at.button(key="retrain_classifier").click().run()
    assert not at.exception
    assert any("a refit needs at least" in e.value for e in at.sidebar.error)  # nothing decided yet: said plainly
    rows = [{"description": t, "kind": "kaikaku", "industry": "marina"} for t in marina_problems(12)]
    (tmp_path / "team.json").write_text(json.dumps(rows))
    assert main(["import", str(tmp_path / "team.json")]) == 0
    at.button(key="retrain_classifier").click().run()
    assert not at.exception
    assert any("Replaced the active model" in s.value for s in at.sidebar.success)
    assert any("`v1` by Ana" in c.value for c in at.sidebar.caption)
    at.selectbox(key="restore_version").set_value("shipped").run()
    at.button(key="restore_classifier").click().run()
    assert any("Model shipped is active again (was v1)" in s.value for s in at.sidebar.success)


def test_the_backlog_page_imports_a_file_through_the_same_use_case() -> None:
    """Upload, progress, the same summary as the CLI; the same file again adds nothing; a bad row writes nothing."""
    good = b"description,kind,quarter\nParcels arrive late,kaizen,2026-Q4\nRefunds pass four teams,kaikaku,2026-Q4\n"
    at = app("app_pages/backlog.py")
    at.file_uploader(key="import_upload").set_value(("backlog.csv", good, "text/csv")).run()
    at.button(key="import_file").click().run()
    assert not at.exception, at.exception
    assert any("Imported 2 item(s), 2 problem(s)" in s.value for s in at.success), [s.value for s in at.success]
    at.file_uploader(key="import_upload").set_value(("backlog.csv", good, "text/csv")).run()
    at.button(key="import_file").click().run()
    assert any("skipped 2 already imported" in s.value for s in at.success), [s.value for s in at.success]
    bad = good + b"A third with a bad kind,kaizan,2026-Q4\n"
    at.file_uploader(key="import_upload").set_value(("bad.csv", bad, "text/csv")).run()
    at.button(key="import_file").click().run()
    assert not at.exception, at.exception
    assert any("Nothing was imported" in e.value and "row 3, field kind" in e.value for e in at.error)
    from improvement.wiring import make_backend

    assert make_backend().backlog().list_items().total == 2
