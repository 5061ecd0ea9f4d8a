"""Property-based tests: whatever a user or a file throws at the parsers, the answer is clean data or a
DomainError with a message, never another exception."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from improvement import domain
from improvement.domain import DomainError
from improvement.transfer import decode, parse_rows
from improvement.validation import ValidationFailed, validate_problem

CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@given(st.text())
def test_clean_text_returns_clean_text_or_a_domain_error(value: str) -> None:
    try:
        cleaned = domain.clean_text(value, field="description", required=True)
    except DomainError:
        return
    assert cleaned and cleaned == cleaned.strip() and not CONTROL.search(cleaned)


@given(
    st.dictionaries(
        st.sampled_from(
            [
                "title",
                "description",
                "customers_affected",
                "value_at_risk",
                "quarter",
                "kind",
                "status",
                "currency",
                "evidence",
                "owner",
                "bogus",
            ]
        ),
        st.one_of(st.text(max_size=50), st.integers(), st.floats(), st.none()),
    )
)
def test_validate_problem_never_raises_anything_but_validation_failed(raw: dict[str, object]) -> None:
    try:
        new = validate_problem(raw)
    except ValidationFailed as error:
        assert error.errors
        return
    assert new.description and new.value_at_risk >= 0 and new.customers_affected >= 0


@settings(max_examples=200)
@given(st.binary(max_size=400), st.sampled_from(["csv", "json"]))
def test_any_file_content_parses_or_fails_with_a_message(data: bytes, fmt: str) -> None:
    try:
        rows = parse_rows(decode(data, f"upload.{fmt}"), fmt)
    except DomainError as error:
        assert str(error)
        return
    assert isinstance(rows, list)


@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=20))
def test_quarter_parser_accepts_only_real_quarters(value: str) -> None:
    try:
        quarter = domain.parse_quarter(value)
    except DomainError:
        return
    assert re.fullmatch(r"\d{4}-Q[1-4]", quarter)
