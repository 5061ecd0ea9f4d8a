"""A working day in the app (issue 17): no traceback after merges, safe merges, a table that behaves."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[2] / "streamlit_app.py")


def app(page: str | None = None) -> AppTest:
    from app_pages.common import backend

    backend.clear()  # a fresh backend for this test's data folder
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    if page:
        at.switch_page(page)
        at.run()
    return at


def service():  # type: ignore[no-untyped-def]
    from improvement.wiring import make_backend

    return make_backend().backlog(with_models=False)


def log_in_form(at: AppTest, text: str) -> None:
    at.text_area(key="log_description").set_value(text)
    at.button(key="FormSubmitter:log_problem-Log and classify").click().run()
    assert not at.exception, at.exception


def test_logging_a_problem_similar_to_a_merged_item_shows_no_traceback() -> None:
    from improvement.cli import main

    assert main(["add", "Parcel cards don't say which depot holds the parcel"]) == 0
    assert main(["add", "The missed-delivery card has no depot address on it"]) == 0
    assert main(["merge", "1", "2"]) == 0  # item 1 now holds two similar reports
    at = app()
    log_in_form(at, "Delivery cards never say where the depot is")
    # Item 1 appears once, with one merge button, however many of its reports are alike.
    merge_buttons = [b for b in at.button if b.label.startswith("Merge into")]
    assert len(merge_buttons) == 1, [b.key for b in merge_buttons]
    similar = [m.value for m in at.markdown if m.value.startswith("#1:")]
    assert len(similar) == 1 and "2 similar reports" in similar[0]


def test_merge_from_the_log_page_is_previewed_confirmed_and_can_be_undone() -> None:
    from improvement.cli import main

    assert main(["add", "Parcel cards don't say which depot holds the parcel", "--value", "300"]) == 0
    at = app()
    log_in_form(at, "The missed-delivery card has no depot address on it")
    at.button(key="merge_1").click().run()  # the first click opens the confirmation
    assert not at.exception
    preview = " ".join(m.value for m in at.markdown)
    assert "Merge this problem (item #2) into item #1?" in preview and "2 reports" in preview
    assert service().get_item(2).item.merged_into_id is None  # nothing merged yet
    at.button(key="log_merge_confirm").click().run()
    assert not at.exception
    assert service().get_item(2).item.merged_into_id == 1
    assert any("Merged item #2 into item #1" in s.value for s in at.success)
    at.button(key="log_unmerge_2").click().run()
    assert not at.exception
    assert service().get_item(2).item.merged_into_id is None
    assert service().get_item(1).item.report_count == 1


def test_cancel_merges_nothing() -> None:
    from improvement.cli import main

    assert main(["add", "Parcel cards don't say which depot holds the parcel"]) == 0
    at = app()
    log_in_form(at, "The missed-delivery card has no depot address on it")
    at.button(key="merge_1").click().run()
    at.button(key="log_merge_cancel").click().run()
    assert not at.exception and not [b for b in at.button if b.key == "log_merge_confirm"]
    assert service().get_item(2).item.merged_into_id is None


def test_the_form_clears_after_saving_and_a_repeat_is_warned_before_saving() -> None:
    text = "Customers aren't told when their delivery slot moves to the next day"
    at = app()
    log_in_form(at, text)
    assert at.text_area(key="log_description").value == ""  # pressing the button again logs nothing
    assert service().list_items().total == 1
    log_in_form(at, text)  # the same problem typed again
    assert any("very similar problem was logged" in w.value for w in at.warning)
    assert service().list_items().total == 1  # not saved yet
    assert at.text_area(key="log_description").value == text
    at.button(key="log_dup_cancel").click().run()
    assert service().list_items().total == 1
    log_in_form(at, text)
    at.button(key="log_dup_anyway").click().run()
    assert not at.exception
    assert service().list_items().total == 2
    assert at.text_area(key="log_description").value == ""


def click(at: AppTest, *, cell: tuple[int, str] | None = None, rows: list[int] | None = None) -> None:
    """What the browser sends when a person clicks a cell or ticks rows of the backlog table."""
    key = at.session_state["backlog_table_key"]
    at.session_state[key] = {"selection": {"rows": rows or [], "columns": [], "cells": [list(cell)] if cell else []}}
    at.run()
    assert not at.exception, at.exception


def test_clicking_a_row_opens_its_item() -> None:
    from improvement.cli import main

    main(["add", "The tracking page shows in transit for a week", "--value", "100"])
    main(["add", "Mortgage approval passes five departments over eight weeks", "--value", "90000"])
    at = app("app_pages/backlog.py")
    assert at.subheader[0].value.startswith("#2 ")  # the highest priority first
    click(at, cell=(1, "title"))
    assert at.subheader[0].value.startswith("#1 ")
    assert not [s for s in at.selectbox if s.key == "selected_item"]  # no dropdown to open items


def test_bulk_change_across_two_pages_with_a_count_and_a_confirmation() -> None:
    from improvement.cli import main

    assert main(["seed-demo", "--count", "120", "--no-index"]) == 0
    at = app("app_pages/backlog.py")
    first_page = service().list_items(limit=50).items
    second_page = service().list_items(limit=50, offset=50).items
    on_first = [n for n, i in enumerate(first_page) if i.status == "new"][:2]
    on_second = [n for n, i in enumerate(second_page) if i.status == "new"][:1]
    assert len(on_first) == 2 and len(on_second) == 1
    click(at, rows=on_first)
    assert any("2 item(s) selected" in m.value for m in at.markdown)
    at.number_input(key="f_page").set_value(2).run()
    click(at, rows=on_second)
    assert any("3 item(s) selected" in m.value for m in at.markdown)
    at.number_input(key="f_page").set_value(1).run()  # back on page 1, its ticks are still there
    assert sorted(at.session_state[at.session_state["backlog_table_key"]]["selection"]["rows"]) == on_first
    at.selectbox(key="bulk_status").set_value("triaged")
    at.text_input(key="bulk_owner").set_value("Kim").run()
    at.button(key="bulk_go").click().run()
    assert any("Change 3 item(s)" in w.value for w in at.warning)
    chosen = [first_page[n].id for n in on_first] + [second_page[n].id for n in on_second]
    assert service().get_item(chosen[0]).item.status == "new"  # not before the confirmation
    at.button(key="bulk_confirm").click().run()
    assert not at.exception
    assert [service().get_item(i).item.status for i in chosen] == ["triaged"] * 3
    assert [service().get_item(i).item.owner for i in chosen] == ["Kim"] * 3
    assert any("Updated 3 item(s)" in s.value for s in at.success)
    # The table is read again: the page shows the new values, not the old ones.
    table = at.dataframe[0].value.set_index("id")
    assert (table.loc[chosen[0], "status"], table.loc[chosen[0], "owner"]) == ("Triaged", "Kim")
    assert not any("item(s) selected" in m.value for m in at.markdown)


def test_merge_on_the_backlog_page_is_previewed_and_can_be_split_back() -> None:
    from improvement.cli import main

    main(["add", "Parcel cards don't say which depot holds the parcel", "--value", "5000"])
    main(["add", "The missed-delivery card has no depot address on it", "--value", "100"])
    at = app("app_pages/backlog.py")
    assert at.subheader[0].value.startswith("#1 ")
    at.text_input(key="merge_ids_1").set_value("2").run()
    assert any("#2 The missed-delivery card" in m.value.replace("\\", "") for m in at.markdown)  # the preview
    assert service().get_item(2).item.merged_into_id is None
    at.button(key="merge_go_1").click().run()  # one click merges
    assert not at.exception
    assert service().get_item(2).item.merged_into_id == 1
    assert any("now has 2 report(s)" in s.value for s in at.success)
    assert not any("Someone else saved" in w.value for w in at.warning)  # it was my own merge
    at.button(key="unmerge_2").click().run()
    assert not at.exception
    assert service().get_item(2).item.merged_into_id is None
    assert service().get_item(1).item.report_count == 1
    assert not any("Someone else saved" in w.value for w in at.warning)


def test_the_saved_message_is_next_to_the_form_and_history_is_readable() -> None:
    from improvement.cli import main

    main(["add", "The tracking page shows in transit for a week"])
    at = app("app_pages/backlog.py")
    at.selectbox(key="edit_status_1_1").set_value("triaged")
    at.button(key="FormSubmitter:edit_item_1-Save").click().run()
    assert not at.exception
    assert any("Saved item #1" in s.value for s in at.success)
    assert "Triaged" in at.dataframe[0].value["status"].tolist()  # the table shows the saved value
    history = [m.value for m in at.markdown if "status:" in m.value]
    assert history and "New → Triaged" in history[0]


def test_word_search_saved_views_and_the_board() -> None:
    from improvement.cli import main

    main(["add", "The app logs customers out after every update", "--quarter", "2026-Q4"])
    main(["add", "Refunds take a month to reach the card", "--quarter", "2026-Q4"])
    at = app("app_pages/backlog.py")
    at.text_input(key="f_search").set_value("logs out").run()
    assert at.dataframe[0].value["id"].tolist() == [1]
    at.text_input(key="view_name").set_value("Log-outs")
    at.button(key="view_save").click().run()
    assert any("Saved the view" in s.value for s in at.success)
    at.text_input(key="f_search").set_value("").run()
    assert len(at.dataframe[0].value) == 2
    at.selectbox(key="saved_view").set_value("Log-outs").run()
    assert at.text_input(key="f_search").value == "logs out"
    assert at.dataframe[0].value["id"].tolist() == [1]
    at.text_input(key="f_search").set_value("").run()
    at.button_group(key="view_mode").set_value("board").run()
    assert not at.exception
    assert [m.value for m in at.markdown if m.value.startswith("**New**")] == ["**New** · 2"]
    at.button(key="board_open_1").click().run()
    assert at.subheader[0].value.startswith("#1 ")


def test_knowledge_upload_refreshes_the_table_and_remove_asks_first() -> None:
    at = app("app_pages/knowledge.py")
    assert any("4 document(s)" in c.value for c in at.caption)
    from app_pages.common import backend

    # An upload through the same call the Ingest button makes, then the page is shown again.
    backend().knowledge.ingest_upload("proactive.md", b"# Proactive service\\n\\nCall customers before they call.\\n")
    at.run()
    assert any("5 document(s)" in c.value for c in at.caption)
    at.selectbox(key="kb_remove_choice").set_value("uploads/proactive.md")  # uploads are keyed uploads/<name>
    at.button(key="kb_remove").click().run()
    assert any("Remove" in w.value and "chunks?" in w.value for w in at.warning)
    assert any("5 document(s)" in c.value for c in at.caption)  # nothing removed yet
    at.button(key="kb_remove_cancel").click().run()
    assert any("5 document(s)" in c.value for c in at.caption)
    at.button(key="kb_remove").click().run()
    at.button(key="kb_remove_confirm").click().run()
    assert not at.exception
    assert any("4 document(s)" in c.value for c in at.caption)  # the table is read again
    assert any("Removed" in s.value for s in at.success)  # and the message is still there


def test_assistant_shows_headings_as_plain_text_and_no_empty_citation() -> None:
    from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
    from langchain_core.messages import AIMessage

    at = app("app_pages/assistant.py")
    at.session_state["assistant_chat_model"] = GenericFakeChatModel(
        messages=iter([AIMessage(content="- # Pre-empt problems ## for all customers [1]\n- [2]\n")])
    )
    at.chat_input(key="chat_question").set_value("How do leaders pre-empt problems?").run()
    assert not at.exception
    shown = [m.value for m in at.markdown if "Pre" in m.value]
    assert shown and shown[0].replace("\\", "") == "Pre-empt problems for all customers [1] [2]"
    assert not any(m.value.strip().replace("\\", "") in ("- [2]", "[2]") for m in at.markdown)


def test_an_off_topic_question_lists_no_sources_and_no_cards() -> None:
    at = app("app_pages/assistant.py")
    at.chat_input(key="chat_question").set_value("What is the boiling point of tungsten in kelvin?").run()
    assert not at.exception
    assert not [e for e in at.expander if e.label.startswith("[")]
    assert not any(m.value in ("**Sources**", "**Proactive fixes**", "**Cross-industry ideas**") for m in at.markdown)
