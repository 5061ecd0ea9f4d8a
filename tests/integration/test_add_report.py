"""A report added to an item that already tracks the same problem (the duplicate warning's third answer), on
SQLite and PostgreSQL, through the use case and the CLI."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from db.models import Event
from improvement.access import Actor, Forbidden, Role
from improvement.domain import DomainError
from improvement.services import BacklogService
from improvement.validation import ValidationFailed
from tests.integration.test_cli import run

VIEWER = Actor("Vera Viewer", "vera@example.com", Role.VIEWER)
AGENT = Actor("Ana Agent", "ana@example.com", Role.AGENT)


@pytest.fixture
def service(sessions, offline_classifier) -> BacklogService:  # type: ignore[no-untyped-def]
    return BacklogService(sessions, classifier_provider=lambda: offline_classifier)


def events(sessions) -> list[tuple[str, dict]]:  # type: ignore[no-untyped-def, type-arg]
    with sessions() as session:
        return [(e.type, json.loads(e.body)) for e in session.scalars(select(Event).order_by(Event.seq))]


def test_a_report_joins_the_item_with_its_totals_history_and_event(service: BacklogService, sessions) -> None:  # type: ignore[no-untyped-def]
    first = service.log_problem(
        {"description": "The parcel card has no depot address", "value_at_risk": 300, "customers_affected": 4},
        actor=AGENT,
    )
    before = service.get_item(first.improvement_id).item
    added = service.add_report(
        first.improvement_id,
        {
            "description": "Missed-delivery cards never say which depot holds the parcel",
            "value_at_risk": 200,
            "customers_affected": 6,
            "customer_story": "Mr Lee drove to the wrong depot twice.",
        },
        actor=AGENT,
    )
    detail = service.get_item(first.improvement_id)
    assert added.item.id == first.improvement_id and added.item.report_count == 2
    assert (detail.item.value_at_risk, detail.item.customers_affected, detail.item.report_count) == (500.0, 10, 2)
    assert detail.item.kind == before.kind and detail.item.version == before.version + 1  # the kind stays
    assert {p.id for p in detail.problems} == {first.problem_id, added.problem_id}
    report = next(p for p in detail.problems if p.id == added.problem_id)
    assert report.reporter == AGENT.label and report.customer_story == "Mr Lee drove to the wrong depot twice."
    assert [(c.field, c.new_value, c.changed_by) for c in detail.history][-1] == (
        "report_added",
        f"problem {added.problem_id}",
        AGENT.label,
    )
    kinds = [t for t, _ in events(sessions)]
    assert kinds == ["item.created", "item.report_added"]
    body = events(sessions)[-1][1]
    assert body["item"]["id"] == first.improvement_id and body["item"]["report_count"] == 2
    assert body["change"] == {"report": f"problem {added.problem_id}"}
    assert service.list_items().total == 1  # no new item


def test_adding_a_report_is_refused_for_a_viewer_a_merged_item_and_another_currency(
    service: BacklogService,
    sessions,  # type: ignore[no-untyped-def]
) -> None:
    a = service.log_problem({"description": "The parcel card has no depot address"}, actor="ana").improvement_id
    b = service.log_problem({"description": "Refunds take a month across four teams"}, actor="ana").improvement_id
    text = {"description": "Missed-delivery cards never say which depot holds the parcel"}
    with pytest.raises(Forbidden):
        service.add_report(a, text, actor=VIEWER)
    service.merge(b, [a], actor="omar")
    with pytest.raises(DomainError, match=f"merged into item {b}"):
        service.add_report(a, text, actor=AGENT)
    with pytest.raises(ValidationFailed, match="counts its money in EUR"):
        service.add_report(b, {**text, "value_at_risk": 90, "currency": "USD"}, actor=AGENT)
    with pytest.raises(ValidationFailed):
        service.add_report(b, {"description": "  "}, actor=AGENT)
    assert service.get_item(b).item.report_count == 2  # the merge's two, nothing else
    assert "item.report_added" not in [t for t, _ in events(sessions)]


def test_the_cli_adds_a_report_to_an_item() -> None:
    created = run("add", "The parcel card has no depot address", "--value", "300", "--json")
    assert created.returncode == 0, created.stderr
    item_id = json.loads(created.stdout)["improvement_id"]
    added = run("add", "Delivery cards never say where the depot is", "--to-item", str(item_id), "--json")
    assert added.returncode == 0, added.stderr
    data = json.loads(added.stdout)
    assert (
        data["improvement_id"] == item_id
        and data["report_count"] == 2
        and data["kind"] in ("kaizen", "kaikaku", "kakushin")
    )
    refused = run("add", "Delivery cards never say where the depot is", "--to-item", str(item_id), "--kind", "kaizen")
    assert refused.returncode == 2 and "--kind" in refused.stderr and "Traceback" not in refused.stderr
    missing = run("add", "Delivery cards never say where the depot is", "--to-item", "999")
    assert missing.returncode == 2 and "999" in missing.stderr
    shown = json.loads(run("list", "--json").stdout)
    assert len(shown) == 1 and shown[0]["report_count"] == 2
