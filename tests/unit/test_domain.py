from __future__ import annotations

import ast
from pathlib import Path

import pytest

from improvement import domain
from improvement.domain import InvalidQuarter, InvalidTransition, Kind, Status, UnknownKind, UnknownStatus
from improvement.validation import ValidationFailed, validate_problem

ROOT = Path(__file__).resolve().parents[2]


def test_every_status_can_be_reached_and_left_sensibly() -> None:
    assert Status.DONE in domain.TRANSITIONS[Status.IN_PROGRESS]
    with pytest.raises(InvalidTransition, match="from new to done"):
        domain.check_transition(Status.NEW, Status.DONE)
    with pytest.raises(InvalidTransition):
        domain.check_transition(Status.DONE, Status.NEW)
    domain.check_transition(Status.DONE, Status.DONE)  # staying put is not a move


@pytest.mark.parametrize("value", ["2026-Q9", "2026-Q0", "26-Q1", "2026Q1", "", "1999-Q4", "2026-Q4 extra"])
def test_impossible_quarters_are_refused(value: str) -> None:
    with pytest.raises(InvalidQuarter):
        domain.parse_quarter(value)


def test_quarters_are_normalised_and_shifted() -> None:
    assert domain.parse_quarter(" 2026-q4 ") == "2026-Q4"
    assert domain.shift_quarter("2026-Q1", -1) == "2025-Q4"
    assert domain.shift_quarter("2025-Q4", 1) == "2026-Q1"
    assert domain.quarters_back("2026-Q2", 3) == ["2025-Q4", "2026-Q1", "2026-Q2"]


def test_unknown_enum_values_name_the_allowed_ones() -> None:
    with pytest.raises(UnknownKind, match="kaizen, kaikaku, kakushin"):
        domain.parse_kind("kaizan")
    with pytest.raises(UnknownStatus, match="in_progress"):
        domain.parse_status("finished")
    assert domain.parse_status("In progress") == Status.IN_PROGRESS
    assert domain.parse_kind(" KAIKAKU ") == Kind.KAIKAKU


@pytest.mark.parametrize("text", ["", "   ", "\x00\x01\x02", "\u200b\u200b", "\n\t\r"])
def test_empty_or_control_only_text_is_refused(text: str) -> None:
    with pytest.raises(ValidationFailed) as info:
        validate_problem({"description": text})
    assert "description" in info.value.errors


def test_text_over_the_limit_is_refused_and_html_is_kept_as_data() -> None:
    with pytest.raises(ValidationFailed, match="20,000"):
        validate_problem({"description": "x" * 20_001})
    new = validate_problem({"description": "<script>alert(1)</script> our bill\x07 is wrong"})
    assert new.description == "<script>alert(1)</script> our bill is wrong"


def test_every_bad_field_is_reported_at_once() -> None:
    with pytest.raises(ValidationFailed) as info:
        validate_problem(
            {
                "description": "ok text",
                "customers_affected": "-4",
                "value_at_risk": "lots",
                "quarter": "2026-Q9",
                "kind": "radical",
                "currency": "euros",
                "evidence": "hearsay",
            }
        )
    assert set(info.value.errors) == {"customers_affected", "value_at_risk", "quarter", "kind", "currency", "evidence"}


@pytest.mark.parametrize("value", ["nan", "inf", "-1", "1e20"])
def test_absurd_money_is_refused(value: str) -> None:
    with pytest.raises(domain.DomainError):
        domain.parse_money(value)


def test_priority_puts_value_at_risk_first() -> None:
    big_hard = domain.priority_score(value_at_risk=1_000_000, customers_affected=1, impact=1, effort=5)
    small_easy = domain.priority_score(value_at_risk=100_000, customers_affected=10_000, impact=5, effort=1)
    assert big_hard > small_easy
    same_value_easy = domain.priority_score(value_at_risk=50_000, customers_affected=0, impact=5, effort=1)
    same_value_hard = domain.priority_score(value_at_risk=50_000, customers_affected=0, impact=1, effort=5)
    assert same_value_easy > same_value_hard


def test_title_defaults_to_the_first_line_of_the_description() -> None:
    new = validate_problem({"description": "Refunds are slow\nThey take three weeks."})
    assert new.title == "Refunds are slow"


FORBIDDEN = {"streamlit", "sqlalchemy", "langchain", "langchain_core", "chromadb"}


@pytest.mark.parametrize(
    "module", ["improvement/domain.py", "improvement/rubric.py", "improvement/validation.py", "improvement/models.py"]
)
def test_domain_modules_import_no_framework(module: str) -> None:
    tree = ast.parse((ROOT / module).read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert not imported & FORBIDDEN


def test_no_page_talks_to_storage_or_models_directly() -> None:
    for page in (ROOT / "app_pages").glob("*.py"):
        source = page.read_text()
        for forbidden in ("sqlalchemy", "chromadb", "langchain", "from db"):
            assert forbidden not in source, f"{page.name} uses {forbidden}"
