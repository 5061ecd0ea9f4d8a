"""Found in a browser review: what a reader misunderstood or could not see, checked in-process with AppTest."""

from __future__ import annotations

import json

from tests.app.test_working_day import app, log_in_form, service

# The main area next to an open sidebar in a 1,400 px wide window (measured in chromium).
MAIN_AREA_AT_1400 = 900
ROW_TICK_BOX = 34


def test_the_backlog_table_shows_priority_and_confidence_at_1400_px() -> None:
    from improvement.cli import main

    assert main(["add", "The tracking page shows in transit for a week"]) == 0
    at = app("app_pages/backlog.py")
    table = at.dataframe[0]
    columns = list(table.value.columns)
    config = json.loads(table.proto.columns)
    assert all(isinstance(config[c].get("width"), int) for c in columns), config  # nothing sized by its content
    through_confidence = columns[: columns.index("confidence") + 1]
    assert "priority" in through_confidence and columns.index("title") < columns.index("priority")
    assert ROW_TICK_BOX + sum(config[c]["width"] for c in through_confidence) <= MAIN_AREA_AT_1400 - 200


def test_the_review_says_why_the_money_and_the_done_counts_do_not_add_up() -> None:
    from improvement.cli import main

    assert main(["seed-demo", "--count", "200", "--no-index"]) == 0
    at = app("app_pages/review.py")
    assert not at.exception
    captions = " ".join(c.value for c in at.caption)
    # At risk - protected != still at risk by design: said in one sentence under the three figures.
    assert "So at risk minus protected is not meant to equal still at risk." in captions
    # "Done" at the top and "Done" in the status chart count different things: both are labelled.
    assert "Marked done in the quarter" in [m.label for m in at.metric]
    assert any(s.value.startswith("Status of ") and s.value.endswith("'s items") for s in at.subheader)
    assert "the quarter's own items that are done today" in captions
    # The balance chart's legend ("2026-Q4 to date (25 Nov 2026)", "2026-Q3 (full)") is never cut short.
    specs = [json.loads(c.proto.spec) for c in at.get("vega_lite_chart")]
    balance = [
        s for s in specs if any("period" in json.dumps(layer.get("encoding", {})) for layer in s.get("layer", []))
    ]
    assert balance, "no balance chart"
    assert balance[0]["config"]["legend"]["labelLimit"] == 0
    assert balance[0]["layer"][0]["encoding"]["opacity"]["legend"]["columns"] == 1


def test_an_empty_similarity_index_is_said_instead_of_this_looks_new() -> None:
    from improvement.cli import main

    assert main(["seed-demo", "--count", "200", "--no-index"]) == 0  # demo items, none in the similarity index
    at = app()
    log_in_form(at, "Customers aren't told when their delivery slot moves to the next day")
    assert not at.exception
    said = " ".join(w.value for w in at.warning)
    assert "the similar-problems index is empty" in said and "backlog doctor --repair" in said
    assert not any("looks new" in c.value for c in at.caption)


def test_with_the_index_built_nothing_similar_still_reads_as_new() -> None:
    from improvement.cli import main

    assert main(["add", "Refunds wait for a weekly finance batch across three teams"]) == 0
    at = app()
    log_in_form(at, "The hotel lobby smells of fresh paint")
    assert any("None found: this looks new." in c.value for c in at.caption)
    assert not any("similar-problems index" in w.value for w in at.warning)


def test_a_duplicate_can_be_added_as_a_report_to_the_item_it_repeats() -> None:
    text = "Customers aren't told when their delivery slot moves to the next day"
    at = app()
    log_in_form(at, text)
    log_in_form(at, "Nobody tells customers when their delivery slot moves to the next day")
    assert any("very similar problem was logged" in w.value for w in at.warning)
    at.button(key="log_dup_add_1").click().run()
    assert not at.exception
    item = service().get_item(1)
    assert service().list_items().total == 1  # no second item
    assert item.item.report_count == 2 and item.history[-1].field == "report_added"
    assert any("Your report is on item #1" in s.value and "2 reports" in s.value for s in at.success)
    assert at.text_area(key="log_description").value == ""  # the form empties, as after a save
    assert not [b for b in at.button if b.key == "log_dup_add_1"]  # the warning is gone


def test_an_empty_quarter_shows_no_red_arrow_for_no_change() -> None:
    at = app("app_pages/review.py")
    value = next(m for m in at.metric if m.label == "Value at risk")
    assert not value.proto.delta  # "0 vs 2026-Q3" with a rising red arrow, before
