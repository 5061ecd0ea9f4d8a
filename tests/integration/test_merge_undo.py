"""Merge preview and unmerge on a real database (SQLite and PostgreSQL): the reports split back."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from improvement.domain import DomainError
from improvement.models import ItemFilter
from improvement.services import BacklogService


@pytest.fixture
def service(sessions, offline_classifier) -> BacklogService:  # type: ignore[no-untyped-def]
    return BacklogService(sessions, classifier_provider=lambda: offline_classifier)


def log(service: BacklogService, text: str, **extra: object):  # type: ignore[no-untyped-def]
    return service.log_problem({"description": text, "quarter": "2026-Q4", **extra}, actor="ana")


def test_preview_says_what_a_merge_combines_and_writes_nothing(service: BacklogService) -> None:
    a = log(service, "Parcel cards don't say which depot has the parcel", value_at_risk="1000", customers_affected="5")
    b = log(service, "Missed-delivery card has no depot address", value_at_risk="500", customers_affected="3")
    preview = service.merge_preview(a.improvement_id, [b.improvement_id, a.improvement_id])
    assert preview.target.id == a.improvement_id and [s.id for s in preview.sources] == [b.improvement_id]
    assert (preview.report_count, preview.value_at_risk, preview.customers_affected) == (2, 1500.0, 8)
    assert service.get_item(b.improvement_id).item.merged_into_id is None
    with pytest.raises(DomainError, match="at least one other item"):
        service.merge_preview(a.improvement_id, [a.improvement_id])


def test_unmerge_splits_the_reports_back_and_restores_the_totals(service: BacklogService) -> None:
    a = log(service, "Parcel cards don't say which depot has the parcel", value_at_risk="1000", customers_affected="5")
    b = log(service, "Missed-delivery card has no depot address", value_at_risk="500", customers_affected="3")
    c = log(service, "The depot closes before the card says", value_at_risk="200", customers_affected="1")
    service.merge(b.improvement_id, [c.improvement_id], actor="lead")  # b now holds c's report
    service.merge(a.improvement_id, [b.improvement_id], actor="lead")  # a holds all three
    assert service.get_item(a.improvement_id).item.report_count == 3
    with pytest.raises(DomainError, match=f"unmerge item {b.improvement_id} first"):
        service.unmerge(c.improvement_id, actor="lead")

    restored = service.unmerge(b.improvement_id, actor="owner")
    assert restored.merged_into_id is None and restored.report_count == 2 and restored.value_at_risk == 700.0
    target = service.get_item(a.improvement_id)
    assert {p.id for p in target.problems} == {a.problem_id}
    assert (target.item.value_at_risk, target.item.customers_affected) == (1000.0, 5)
    assert any(h.field == "unmerged" and h.changed_by == "owner" for h in target.history)
    # Undo all the way: c comes back out of b with its own report.
    service.unmerge(c.improvement_id, actor="owner")
    assert {p.id for p in service.get_item(c.improvement_id).problems} == {c.problem_id}
    assert service.list_items(ItemFilter()).total == 3
    assert service.get_item(b.improvement_id).item.report_count == 1
    with pytest.raises(DomainError, match="not merged"):
        service.unmerge(c.improvement_id, actor="owner")
    # The rollups (kept by triggers) agree with the items again.
    assert service.list_items(ItemFilter(quarters=["2026-Q4"])).total == 3
    # Merged again, then unmerged again: the latest merge's reports are the ones that move.
    service.merge(a.improvement_id, [c.improvement_id], actor="lead")
    assert service.unmerge(c.improvement_id, actor="lead").report_count == 1


def test_unmerge_refuses_a_merge_that_recorded_no_reports(service: BacklogService, sessions) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import delete

    from db.models import Change
    from improvement.services import MERGED_REPORTS

    a = log(service, "Receipts miss the phone number")
    b = log(service, "The receipt has no shop phone number")
    service.merge(a.improvement_id, [b.improvement_id], actor="lead")
    with sessions.begin() as session:  # as a merge made before this release left it
        session.execute(delete(Change).where(Change.field == MERGED_REPORTS))
    with pytest.raises(DomainError, match="cannot be told apart"):
        service.unmerge(b.improvement_id, actor="lead")
    assert service.get_item(a.improvement_id).item.report_count == 2  # nothing moved


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "improvement", *args], capture_output=True, text=True, timeout=300, check=False
    )


def test_backlog_unmerge_on_the_command_line() -> None:
    first = json.loads(run("add", "Parcel cards don't say which depot holds the parcel", "--json").stdout)
    second = json.loads(run("add", "The missed-delivery card has no depot address on it", "--json").stdout)
    assert run("merge", str(first["improvement_id"]), str(second["improvement_id"])).returncode == 0
    done = run("unmerge", str(second["improvement_id"]), "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["report_count"] == 1 and json.loads(done.stdout)["merged_into_id"] is None
    again = run("unmerge", str(second["improvement_id"]))
    assert again.returncode == 2 and "not merged" in again.stderr and "Traceback" not in again.stderr
    # The similar-problems index points at the item that holds the report again.
    third = json.loads(run("add", "The missed-delivery card never has the depot address", "--json").stdout)
    assert second["improvement_id"] in {s["improvement_id"] for s in third["similar"]}
