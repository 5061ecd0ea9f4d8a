"""Word search (full-text, stemmed) and saved views on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from improvement.domain import DomainError, NotFound
from improvement.models import ItemFilter
from improvement.services import BacklogService


@pytest.fixture
def service(sessions, offline_classifier) -> BacklogService:  # type: ignore[no-untyped-def]
    return BacklogService(sessions, classifier_provider=lambda: offline_classifier)


def log(service: BacklogService, text: str) -> int:
    return service.log_problem({"description": text, "quarter": "2026-Q4"}, actor="ana").improvement_id


def test_words_match_in_any_order_with_stemming(service: BacklogService) -> None:
    logs_out = log(service, "The app logs customers out after every update")
    log(service, "Refunds take a month to reach the card")
    log(service, "Customers cannot log in with their card number")
    found = lambda words: [i.id for i in service.list_items(ItemFilter(words=words)).items]  # noqa: E731
    assert found("logs out") == [logs_out]  # not a substring of the text, still found
    assert found("out logging") == [logs_out]  # any order, stemmed
    assert found("UPDATES customer") == [logs_out]
    assert service.list_items(ItemFilter(text="logs out")).total == 0  # the substring search is unchanged
    assert found('"out" OR card*') == []  # query syntax is taken as words: 'out', 'or', 'card'
    assert found("!!!") == []
    assert service.list_items(ItemFilter(words="card")).total == 2
    # Edits are searchable at once (triggers on SQLite, the expression index on PostgreSQL).
    service.edit_item(logs_out, {"title": "Session timeout"}, actor="ana")
    assert found("timeouts") == [logs_out]


def test_saved_views_are_named_reopened_replaced_and_deleted(service: BacklogService) -> None:
    flt = ItemFilter(
        kinds=["kaizen"],
        statuses=["new", "triaged"],
        quarters=[],
        owners=["Kim"],
        words="delivery slot",
        needs_review=True,
    )
    service.save_view("My kaizen triage", flt, sort="value_at_risk", actor="ana")
    service.save_view("Everything", ItemFilter(), actor="ben")
    views = {v.name: v for v in service.saved_views()}
    assert list(views) == ["Everything", "My kaizen triage"]
    mine = views["My kaizen triage"]
    assert (mine.filters, mine.sort, mine.created_by) == (flt, "value_at_risk", "ana")
    service.save_view("My kaizen triage", ItemFilter(kinds=["kaikaku"]), actor="ana")
    assert [v.filters.kinds for v in service.saved_views() if v.name == "My kaizen triage"] == [["kaikaku"]]
    service.delete_view("Everything")
    assert [v.name for v in service.saved_views()] == ["My kaizen triage"]
    with pytest.raises(NotFound):
        service.delete_view("Everything")
    with pytest.raises(DomainError):
        service.save_view("   ", ItemFilter(), actor="ana")
