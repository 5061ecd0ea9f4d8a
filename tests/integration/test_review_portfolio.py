"""The leaders' quarterly review on a real database (SQLite and PostgreSQL): target mixes, priority by kind,
the money, done items credited to the quarter they were done in, and the PDF/HTML/CSV report."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from improvement import domain
from improvement.domain import DomainError
from improvement.prioritisation import ItemInputs, Weights, score
from improvement.review import quarterly_review, set_target, set_weights
from improvement.services import BacklogService

NOW = datetime.now(UTC)
THIS_QUARTER = domain.quarter_of(NOW)
LAST_QUARTER = domain.shift_quarter(THIS_QUARTER, -1)


@pytest.fixture
def service(sessions, offline_classifier) -> BacklogService:  # type: ignore[no-untyped-def]
    return BacklogService(sessions, classifier_provider=lambda: offline_classifier)


def add(service: BacklogService, text: str, kind: str, quarter: str = THIS_QUARTER, **extra: object) -> int:
    result = service.log_problem({"description": text, "kind": kind, "quarter": quarter, **extra}, actor="ana")
    return result.improvement_id


def plan(service: BacklogService, item_id: int, owner: str | None = None) -> None:
    service.update_item(item_id, {"owner": owner} if owner else {}, status="planned", actor="lead")


def finish(service: BacklogService, item_id: int, outcome: str = "Complaints down by half") -> None:
    service.update_item(item_id, {}, status="in_progress", actor="lead")
    service.update_item(item_id, {"outcome": outcome}, status="done", actor="lead")


def inputs(service: BacklogService, item_id: int) -> ItemInputs:
    item = service.get_item(item_id).item
    return ItemInputs(
        kind=item.kind,
        value_at_risk=item.value_at_risk,
        customers_affected=item.customers_affected,
        effort=item.effort,
        impact=item.impact,
        urgency=item.urgency,
        risk_reduction=item.risk_reduction,
        reach=item.reach,
        rice_confidence=item.rice_confidence,
    )


def test_a_target_is_stored_and_the_gap_names_the_items_that_close_it(service: BacklogService, sessions) -> None:  # type: ignore[no-untyped-def]
    for n in range(3):
        plan(service, add(service, f"Receipt {n} misses the store phone number", "kaizen", value_at_risk="100"))
    ideas = [
        add(service, f"Commuters want to pay per ride, idea {n}", "kakushin", customers_affected=str(10**n))
        for n in range(1, 5)
    ]
    review = quarterly_review(sessions, THIS_QUARTER)
    assert review.target is not None and review.target.is_default
    assert review.target.shares == {"kaizen": 70, "kaikaku": 20, "kakushin": 10}
    assert review.actual_mix["items"] == {"kaizen": 1.0, "kaikaku": 0.0, "kakushin": 0.0}

    with pytest.raises(DomainError, match="add up to 90%"):
        set_target(sessions, THIS_QUARTER, "items", {"kaizen": 50, "kaikaku": 0, "kakushin": 40}, actor="lead")
    assert quarterly_review(sessions, THIS_QUARTER).target.is_default  # type: ignore[union-attr]
    set_target(sessions, THIS_QUARTER, "items", {"kaizen": 50, "kaikaku": 0, "kakushin": 50}, actor="lead")

    review = quarterly_review(sessions, THIS_QUARTER)
    assert review.target is not None and not review.target.is_default and review.target.set_by == "lead"
    assert review.gap == {"kaizen": -50.0, "kaikaku": 0.0, "kakushin": 50.0}
    candidates = review.candidates["kakushin"]
    # Best RICE first (the widest reach); three of them planned would make kakushin 3 of 6 items: 50%.
    assert [c.item.id for c in candidates] == list(reversed(ideas))
    assert [c.closes_gap for c in candidates] == [True, True, True, False]
    assert review.needed == {"kakushin": 3}
    assert candidates[0].method == "RICE" and "reach" in candidates[0].formula
    assert "kaizen" not in review.candidates and "kaikaku" not in review.candidates

    data = review.as_json()
    assert data["target"]["kakushin"] == 50 and data["target"]["basis"] == "items"
    assert data["actual_mix"]["items"]["kaizen"] == 1.0 and data["gap"]["kakushin"] == 50.0
    json.dumps(data)  # plain JSON: no datetimes or dataclasses left

    # An effort basis counts effort points, not items: one kakushin of effort 5 outweighs 3 kaizen of 1.
    for item in service.list_items(domain_filter(kinds=["kaizen"])).items:
        service.edit_item(item.id, {"effort": 1}, actor="lead")
    service.edit_item(ideas[0], {"effort": 5}, actor="lead")
    plan(service, ideas[0])
    set_target(sessions, THIS_QUARTER, "effort", {"kaizen": 35, "kaikaku": 0, "kakushin": 65}, actor="lead")
    review = quarterly_review(sessions, THIS_QUARTER)
    assert review.actual_mix["effort"] == {"kaizen": 0.375, "kaikaku": 0.0, "kakushin": 0.625}
    # One more kakushin item of effort 3 makes 8 of 11 effort points (73%): the first candidate is enough.
    assert [c.closes_gap for c in review.candidates["kakushin"]] == [True, False, False]
    assert review.needed == {"kakushin": 1}
    assert list(review.candidates) == ["kakushin"]


def domain_filter(**kwargs: object):  # type: ignore[no-untyped-def]
    from improvement.models import ItemFilter

    return ItemFilter(**kwargs)  # type: ignore[arg-type]


def test_priority_fits_the_kind_is_stored_and_follows_every_change(service: BacklogService, sessions) -> None:  # type: ignore[no-untyped-def]
    quick = add(service, "The welcome email links to a deleted help page", "kaizen", value_at_risk="5000")
    bet = add(service, "Members want to pause instead of cancel", "kakushin", customers_affected="400")
    for item_id in (quick, bet):
        assert service.get_item(item_id).item.priority == score(inputs(service, item_id)).value

    before = service.get_item(quick).item.priority
    service.edit_item(quick, {"effort": 1}, actor="lead")  # a quick win gets quicker
    assert service.get_item(quick).item.priority > before

    before = service.get_item(bet).item.priority
    service.edit_item(bet, {"rice_confidence": "80%", "reach": 4000}, actor="lead")
    item = service.get_item(bet).item
    assert (item.rice_confidence, item.reach) == (80, 4000)
    assert item.priority > before and item.priority == score(inputs(service, bet)).value

    service.override_kind(bet, "kaikaku", actor="lead")  # another kind, another formula (WSJF)
    before = service.get_item(bet).item.priority
    assert before == score(inputs(service, bet)).value
    service.edit_item(bet, {"urgency": 5, "risk_reduction": 5}, actor="lead")
    assert service.get_item(bet).item.priority > before
    service.edit_item(bet, {"urgency": ""}, actor="lead")  # blank: back to the formula's default
    assert service.get_item(bet).item.urgency is None

    with pytest.raises(DomainError, match="urgency"):
        service.edit_item(bet, {"urgency": 9}, actor="lead")

    # A leader doubles the weight of value in the quick-win formula: the item is rescored in SQL.
    before = service.get_item(quick).item.priority
    assert set_weights(sessions, "kaizen", {"value": 2, "customers": 0}, actor="lead") == 1
    after = service.get_item(quick).item.priority
    weights = Weights(by_kind={"kaizen": {"value": 2.0, "customers": 0.0}})
    assert after == score(inputs(service, quick), weights).value != before
    # New items are scored under the weights in force.
    other = add(service, "Receipts miss the VAT number", "kaizen", value_at_risk="5000")
    expected = score(inputs(service, other), weights).value
    assert service.get_item(other).item.priority == expected != score(inputs(service, other)).value
    with pytest.raises(DomainError, match="no weight 'reach'"):
        set_weights(sessions, "kaizen", {"reach": 1}, actor="lead")
    with pytest.raises(DomainError, match="from 0 to 10"):
        set_weights(sessions, "kaikaku", {"urgency": -1}, actor="lead")


def test_done_items_count_in_the_quarter_they_were_done_in_and_the_money_keeps_currencies_apart(
    service: BacklogService, sessions
) -> None:  # type: ignore[no-untyped-def]
    late = add(service, "Refunds take a month across four teams", "kaikaku", LAST_QUARTER, value_at_risk="9000")
    plan(service, late, owner="Rosa Jimenez")
    finish(service, late)
    add(service, "The bill does not explain the pro-rata charge", "kaizen", value_at_risk="1000")
    usd = add(service, "Gate changes are not pushed to the app", "kaizen", value_at_risk="250", currency="USD")
    plan(service, usd, owner="Ben Fischer")
    finish(service, usd)
    service.edit_item(usd, {"value_protected": "200"}, actor="lead")
    add(service, "A new channel nobody serves", "kakushin", value_at_risk="400", currency="USD")

    now = quarterly_review(sessions, THIS_QUARTER)
    assert {i.id for i in now.done_in_quarter} == {late, usd}  # done today: credited to this quarter
    assert late not in {i.id for i in quarterly_review(sessions, LAST_QUARTER).done_in_quarter}
    credit = {p["owner"]: p for p in now.done_credit}
    assert credit["Rosa Jimenez"]["protected"] == {"EUR": 9000.0}
    assert credit["Ben Fischer"]["protected"] == {"USD": 200.0}

    totals = {r.currency: r for r in now.money_totals()}
    assert set(totals) == {"EUR", "USD"}  # never one sum across currencies
    assert (totals["EUR"].at_risk, totals["EUR"].protected, totals["EUR"].still_at_risk) == (1000.0, 9000.0, 1000.0)
    assert (totals["USD"].at_risk, totals["USD"].protected, totals["USD"].still_at_risk) == (650.0, 200.0, 400.0)
    by_kind = {(r.key, r.currency): r for r in now.money if r.by == "kind"}
    assert by_kind[("kaikaku", "EUR")].protected == 9000.0
    assert by_kind[("kakushin", "USD")].still_at_risk == 400.0
    by_owner = {(r.key, r.currency): r for r in now.money if r.by == "owner"}
    assert by_owner[("Ben Fischer", "USD")].protected == 200.0
    assert now.running and now.label.startswith(f"{THIS_QUARTER} to date")
    assert not quarterly_review(sessions, LAST_QUARTER).running


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="needs poppler-utils")
def test_the_pdf_report_reads_the_quarter_the_kinds_the_target_and_who_did_the_work(
    service: BacklogService, sessions, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    from improvement.cli import main

    done = add(service, "Customers aren't told when their delivery slot moves", "kaizen", value_at_risk="1200")
    plan(service, done, owner="Amara Okafor")
    finish(service, done)
    add(service, "Connecting a new house takes four months across four companies", "kaikaku")
    long_title = "Commuters want to pay only for the days they travel " + "and more words " * 10
    add(service, long_title, "kakushin", title=long_title[:190])
    set_target(sessions, THIS_QUARTER, "items", {"kaizen": 60, "kaikaku": 25, "kakushin": 15}, actor="lead")

    pdf = tmp_path / "review.pdf"
    assert main(["report", "--quarter", THIS_QUARTER.lower(), "--format", "pdf", "-o", str(pdf)]) == 0
    assert pdf.read_bytes().startswith(b"%PDF")
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert THIS_QUARTER in text
    for kind in ("kaizen", "kaikaku", "kakushin"):
        assert kind in text
    assert "60%" in text and "25%" in text and "15%" in text  # the target
    assert "Amara Okafor" in text  # a done item's owner, credited
    assert "…" in text  # the long title is cut with an ellipsis
    assert "Traceback" not in text

    html = tmp_path / "review.html"
    assert main(["report", "--quarter", THIS_QUARTER, "--format", "html", "-o", str(html)]) == 0
    page = html.read_text()
    assert page.count("<svg") >= 5  # the charts are in the report
    assert "#2E86AB" in page  # the kaizen colour, as on the screen

    items_csv = tmp_path / "items.csv"
    assert main(["report", "--quarter", THIS_QUARTER, "--format", "csv", "-o", str(items_csv)]) == 0
    rows = list(csv.DictReader(io.StringIO(items_csv.read_text())))
    assert len(rows) == 3 and {r["kind"] for r in rows} == {"kaizen", "kaikaku", "kakushin"}
    assert [r["owner"] for r in rows if r["status"] == "done"] == ["Amara Okafor"]

    assert main(["report", "--quarter", "2026-Q5", "--format", "pdf", "-o", str(pdf)]) == 2
    assert main(["report", "--quarter", THIS_QUARTER, "-o", str(tmp_path / "missing" / "r.pdf")]) == 2


def test_the_cli_sets_and_shows_targets_and_weights(sessions, capsys) -> None:  # type: ignore[no-untyped-def]
    from improvement.cli import main

    assert main(["target", "--quarter", "2026-Q4", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["is_default"] and shown["kaizen"] == 70
    args = ["target", "--quarter", "2026-Q4", "--basis", "value", "--kaizen", "50", "--kaikaku", "30"]
    assert main([*args, "--kakushin", "20", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["basis"] == "value"
    assert main([*args, "--kakushin", "30"]) == 2
    assert "add up to 110%" in capsys.readouterr().err
    assert main(["review", "--quarter", "2026-Q4", "--json"]) == 0
    review = json.loads(capsys.readouterr().out)
    assert review["target"]["kaizen"] == 50 and set(review["actual_mix"]) == {"items", "effort", "value"}
    assert set(review["gap"]) == {"kaizen", "kaikaku", "kakushin"}
    assert main(["weights", "--kind", "kakushin", "reach=2", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["kakushin"]["weights"]["reach"] == 2.0
    assert main(["weights", "--kind", "kakushin", "reach"]) == 2


def test_migration_0006_rescores_existing_items_by_their_kind_and_keeps_the_rollup_triggers(tmp_path: Path) -> None:
    from alembic import command
    from sqlalchemy import text

    from db.engine import alembic_config, make_engine, upgrade

    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    config = alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0005")
    columns = (
        "title, description, kind, kind_decided_by, classifier, confidence, rationale, needs_review, proposed_fix, "
        "proactive_action, cross_industry_idea, status, quarter, effort, impact, value_at_risk, currency, "
        "customers_affected, report_count, priority, target, outcome, created_at, updated_at, version"
    )
    with engine.begin() as connection:
        for kind in ("kaizen", "kaikaku", "kakushin"):
            connection.execute(
                text(
                    f"INSERT INTO improvements ({columns}) VALUES ('t', 'd', :kind, 'model', 'offline', 0.9, '', 0, "
                    "'', '', '', 'new', '2026-Q4', 2, 4, 24000, 'EUR', 150, 1, 99.0, '', '', "
                    "'2026-11-01', '2026-11-01', 1)"
                ),
                {"kind": kind},
            )
    upgrade(engine)
    with engine.begin() as connection:
        rows = connection.execute(text("SELECT kind, priority FROM improvements ORDER BY id")).all()
        for kind, priority in rows:
            expected = score(ItemInputs(kind, value_at_risk=24000, customers_affected=150, effort=2, impact=4))
            assert priority == expected.value
        connection.execute(text("UPDATE improvements SET status = 'triaged' WHERE kind = 'kaizen'"))
        triaged = connection.execute(
            text("SELECT sum(item_count) FROM rollup_by_kind WHERE status = 'triaged'")
        ).scalar()
    assert triaged == 1  # adding columns did not drop SQLite's rollup triggers
    engine.dispose()
