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
