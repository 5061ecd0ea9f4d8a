"""Found in a browser review: what a reader misunderstood or could not see, checked in-process with AppTest."""

from __future__ import annotations

import json

from tests.app.test_working_day import app

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
