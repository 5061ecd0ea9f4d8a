"""Import and export the backlog as CSV or JSON: one row per reported problem, with its item's fields.

Import is all-or-nothing: every row is validated first and every error reported with its row number
and field; only a file without errors is written, in one transaction.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload, sessionmaker

from db.models import Improvement, Problem
from db.transactions import run_in_transaction
from improvement import domain
from improvement.access import Action, Actor
from improvement.domain import DomainError
from improvement.items import KindDecision, new_item_values
from improvement.services import BacklogService, _recompute_totals, new_problem_row, record_changes
from improvement.spreadsheet import SafeDictWriter, restore_cell
from improvement.validation import NewProblem, ValidationFailed, problem_text, validate_problem

MAX_IMPORT_BYTES = 50 * 1024 * 1024
MAX_IMPORT_ROWS = 200_000

ITEM_FIELDS = [
    "item_ref",
    "item_title",
    "kind",
    "kind_decided_by",
    "kind_decided_by_name",
    "confidence",
    "needs_review",
    "rationale",
    "status",
    "quarter",
    "owner",
    "effort",
    "impact",
    "proposed_fix",
    "proactive_action",
    "cross_industry_idea",
    "target",
    "outcome",
    "item_created_at",
]
PROBLEM_FIELDS = [
    "title",
    "description",
    "customer_story",
    "touchpoint",
    "segment",
    "industry",
    "customers_affected",
    "value_at_risk",
    "currency",
    "evidence",
    "root_cause",
    "reporter",
    "created_at",
]
COLUMNS = ITEM_FIELDS + PROBLEM_FIELDS


class ImportFailed(DomainError):
    def __init__(self, errors: list[str]) -> None:
        self.errors = errors
        shown = "; ".join(errors[:20]) + (f"; and {len(errors) - 20} more" if len(errors) > 20 else "")
        super().__init__(f"import refused, nothing was written: {len(errors)} error(s): {shown}")


def _iso(moment: datetime | None) -> str:
    if moment is None:
        return ""
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()


def export_rows(session_factory: sessionmaker[Session], batch: int = 2000) -> Iterator[dict[str, Any]]:
    """Rows in item order, streamed in batches so a 100,000-item export never loads everything at once."""
    last_id = 0
    with session_factory() as session:
        while True:
            items = list(
                session.scalars(
                    select(Improvement)
                    .where(Improvement.merged_into_id.is_(None), Improvement.id > last_id)
                    .order_by(Improvement.id)
                    .limit(batch)
                    .options(selectinload(Improvement.problems))
                )
            )
            if not items:
                return
            for item in items:
                for problem in item.problems:
                    yield {
                        "item_ref": item.id,
                        "item_title": item.title,
                        "kind": item.kind,
                        "kind_decided_by": item.kind_decided_by,
                        "kind_decided_by_name": item.kind_decided_by_name or "",
                        "confidence": round(item.confidence, 4),
                        "needs_review": item.needs_review,
                        "rationale": item.rationale,
                        "status": item.status,
                        "quarter": item.quarter,
                        "owner": item.owner or "",
                        "effort": item.effort,
                        "impact": item.impact,
                        "proposed_fix": item.proposed_fix,
                        "proactive_action": item.proactive_action,
                        "cross_industry_idea": item.cross_industry_idea,
                        "target": item.target,
                        "outcome": item.outcome,
                        "item_created_at": _iso(item.created_at),
                        "title": problem.title,
                        "description": problem.description,
                        "customer_story": problem.customer_story,
                        "touchpoint": problem.touchpoint,
                        "segment": problem.segment,
                        "industry": problem.industry,
                        "customers_affected": problem.customers_affected,
                        "value_at_risk": float(problem.value_at_risk or 0),
                        "currency": problem.currency,
                        "evidence": problem.evidence,
                        "root_cause": problem.root_cause,
                        "reporter": problem.reporter,
                        "created_at": _iso(problem.created_at),
                    }
            last_id = items[-1].id
            session.expunge_all()


def export_to(session_factory: sessionmaker[Session], fmt: str, out: io.TextIOBase | Any) -> int:
    count = 0
    if fmt == "csv":
        writer = SafeDictWriter(out, COLUMNS)  # no cell can act as a spreadsheet formula
        writer.writeheader()
        for row in export_rows(session_factory):
            writer.writerow(row)
            count += 1
    elif fmt == "json":
        out.write("[")
        for row in export_rows(session_factory):
            out.write(("," if count else "") + "\n" + json.dumps(row, ensure_ascii=False))
            count += 1
        out.write("\n]\n")
    else:
        raise DomainError(f"unknown export format {fmt!r}: use csv or json", field="format")
    return count


def decode(data: bytes, name: str) -> str:
    if len(data) > MAX_IMPORT_BYTES:
        raise DomainError(f"{name} is {len(data) / 1e6:.0f} MB; the import limit is {MAX_IMPORT_BYTES // 2**20} MB")
    if b"\x00" in data[:8192]:
        raise DomainError(f"{name} looks like a binary file, not CSV or JSON text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise DomainError(
            f"{name} is not UTF-8 text (bad byte at offset {error.start}); save it as UTF-8 and try again"
        ) from None


def parse_rows(text: str, fmt: str) -> list[dict[str, Any]]:
    if fmt == "json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise DomainError(f"malformed JSON at line {error.lineno}, column {error.colno}: {error.msg}") from None
        except RecursionError:
            raise DomainError("the JSON is nested too deeply: an import is an array of flat objects") from None
        if isinstance(data, dict) and isinstance(data.get("items"), list):
            data = data["items"]
        if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
            raise DomainError("JSON import must be an array of objects, one per problem")
        return data
    if fmt == "csv":
        try:
            reader = csv.DictReader(io.StringIO(text, newline=""), strict=True)
            rows = []
            for row in reader:
                if None in row:
                    raise DomainError(f"malformed CSV: row {reader.line_num - 1} has more cells than the header")
                rows.append({key: restore_cell(value) for key, value in row.items()})
        except csv.Error as error:
            raise DomainError(f"malformed CSV near line {reader.line_num}: {error}") from None
        if reader.fieldnames is None:
            raise DomainError("the CSV file is empty: it needs a header row and at least one problem")
        if "description" not in reader.fieldnames and "text" not in reader.fieldnames:
            raise DomainError("the CSV header has no 'description' (or 'text') column")
        return rows
    raise DomainError(f"unknown import format {fmt!r}: use .csv or .json")


@dataclass
class _Planned:
    ref: str
    problems: list[tuple[int, NewProblem, datetime | None]]
    item: dict[str, Any]


def _parse_datetime(value: Any, *, field: str) -> datetime | None:
    if value in (None, ""):
        return None
    try:
        moment = datetime.fromisoformat(str(value).strip())
    except ValueError:
        raise DomainError(f"{field} must be an ISO date-time such as 2026-11-23T10:00:00+00:00", field=field) from None
    if not 2000 <= moment.year <= 2100:
        raise DomainError(f"{field} {value!r} is not a plausible date", field=field)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _plan(rows: Sequence[dict[str, Any]]) -> tuple[list[_Planned], list[str]]:
    planned: dict[str, _Planned] = {}
    errors: list[str] = []
    known = set(COLUMNS) | {"text", "id"}
    for number, raw in enumerate(rows, start=1):
        row = {str(k).strip(): v for k, v in raw.items() if k is not None}
        unknown = set(row) - known
        if unknown:
            errors.append(f"row {number}: unknown column(s) {', '.join(sorted(unknown))}")
            continue
        problem_raw = {k: row[k] for k in PROBLEM_FIELDS + ["text"] if k in row and k != "created_at"}
        for key in ("quarter", "owner", "kind", "status"):
            if row.get(key) not in (None, ""):
                problem_raw[key] = row[key]
        item_extra: dict[str, Any] = {}
        try:
            new = validate_problem(problem_raw)
            created = _parse_datetime(row.get("created_at"), field="created_at")
            item_extra["item_created_at"] = _parse_datetime(row.get("item_created_at"), field="item_created_at")
            for name in ("effort", "impact"):
                if row.get(name) not in (None, ""):
                    item_extra[name] = domain.parse_scale(row[name], field=name)
            if row.get("kind_decided_by") not in (None, ""):
                item_extra["kind_decided_by"] = domain.DecidedBy(str(row["kind_decided_by"]).strip().lower()).value
            if row.get("confidence") not in (None, ""):
                confidence = float(row["confidence"])
                if not 0 <= confidence <= 1:
                    raise DomainError("confidence must be between 0 and 1", field="confidence")
                item_extra["confidence"] = confidence
            if row.get("needs_review") not in (None, ""):
                flag = str(row["needs_review"]).strip().lower()
                if flag not in ("true", "false", "1", "0", "yes", "no"):
                    raise DomainError("needs_review must be true or false", field="needs_review")
                item_extra["needs_review"] = flag in ("true", "1", "yes")
            for name in (
                "item_title",
                "kind_decided_by_name",
                "rationale",
                "proposed_fix",
                "proactive_action",
                "cross_industry_idea",
                "target",
                "outcome",
            ):
                if row.get(name) not in (None, ""):
                    limit = domain.MAX_TITLE if name == "item_title" else domain.MAX_TEXT
                    item_extra[name] = domain.clean_text(row[name], field=name, required=False, limit=limit)
        except ValidationFailed as error:
            errors.extend(f"row {number}, field {f}: {m}" for f, m in error.errors.items())
            continue
        except (DomainError, ValueError) as error:
            field = getattr(error, "field", None) or "value"
            errors.append(f"row {number}, field {field}: {error}")
            continue
        ref = str(row.get("item_ref") or row.get("id") or f"row-{number}")
        plan = planned.setdefault(ref, _Planned(ref, [], item_extra))
        plan.problems.append((number, new, created))
    return list(planned.values()), errors


def import_rows(
    service: BacklogService,
    session_factory: sessionmaker[Session],
    rows: Sequence[dict[str, Any]],
    *,
    actor: Actor | str,
) -> dict[str, int]:
    label = service.authorise(actor, Action.TRIAGE)
    if not rows:
        raise DomainError("the file holds no rows to import")
    if len(rows) > MAX_IMPORT_ROWS:
        raise DomainError(f"the file holds {len(rows):,} rows; the import limit is {MAX_IMPORT_ROWS:,}")
    plans, errors = _plan(rows)
    if errors:
        raise ImportFailed(errors)
    # Items without a kind are classified in one batch, before anything is written.
    unlabelled = [p for p in plans if not p.problems[0][1].kind]
    classified = service.classify([p.problems[0][1].text for p in unlabelled]) if unlabelled else []
    by_ref = {p.ref: c for p, c in zip(unlabelled, classified, strict=True)}
    now = datetime.now(UTC)

    def work(session: Session) -> int:
        problems_written = 0
        skipped.clear()
        present = _already_present(session, plans)
        for plan in plans:
            # Re-importing an export adds nothing twice: a report with the same time and text is already here.
            fresh = [p for p in plan.problems if _report_key(p[1].description, p[2]) not in present]
            skipped.append(len(plan.problems) - len(fresh))
            if not fresh:
                continue
            plan = _Planned(plan.ref, fresh, plan.item)
            first = plan.problems[0][1]
            extra = plan.item
            result = by_ref.get(plan.ref)
            created = extra.get("item_created_at") or plan.problems[0][2] or now
            if result is not None:
                decision = KindDecision.by_model(result)
            else:  # the file gave the kind
                decision = KindDecision.by_person(
                    domain.parse_kind(first.kind), label, rationale="Kind given in the imported file."
                )
                decision = replace(decision, classifier="import")
            # An export carries who decided and how sure they were: a round trip keeps it.
            decision = replace(
                decision,
                decided_by=domain.DecidedBy(extra.get("kind_decided_by", decision.decided_by)),
                decided_by_name=extra.get("kind_decided_by_name", decision.decided_by_name),
                confidence=extra.get("confidence", decision.confidence),
                rationale=extra.get("rationale", decision.rationale),
                needs_review=extra.get("needs_review", decision.needs_review),
            )
            item = Improvement(
                **new_item_values(
                    title=extra.get("item_title", first.title),
                    description=first.description,
                    decision=decision,
                    created_at=created,
                    updated_at=now,
                    owner=first.owner,
                    status=first.status,
                    quarter=first.quarter,
                    effort=extra.get("effort", 3),
                    impact=extra.get("impact", 3),
                    currency=first.currency,
                    **{
                        name: extra.get(name, "")
                        for name in ("proposed_fix", "proactive_action", "cross_industry_idea", "target", "outcome")
                    },
                )
            )
            for _number, new, moment in plan.problems:
                item.problems.append(new_problem_row(new, reporter=label, created_at=moment or created))
                problems_written += 1
            _recompute_totals(item, item.problems)
            session.add(item)
            session.flush()
            record_changes(session, item, [("imported", None, f"{len(plan.problems)} report(s)")], actor=label, now=now)
        return problems_written

    skipped: list[int] = []
    problems_written = run_in_transaction(session_factory, work)
    items_written = sum(1 for plan, n in zip(plans, skipped, strict=True) if n < len(plan.problems))
    return {"items": items_written, "problems": problems_written, "already_present": sum(skipped)}


def _report_key(description: str, created_at: datetime | None) -> tuple[str, str] | None:
    """A report's stable key: its time (to the microsecond, in UTC) and its text. None without a time."""
    if created_at is None:
        return None
    moment = created_at if created_at.tzinfo else created_at.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(), description


def _already_present(session: Session, plans: Sequence[_Planned]) -> set[tuple[str, str] | None]:
    """The keys of the planned reports that the database already holds."""
    moments = sorted({p[2].astimezone(UTC) for plan in plans for p in plan.problems if p[2] is not None})
    present: set[tuple[str, str] | None] = set()
    for start in range(0, len(moments), 500):
        batch = moments[start : start + 500]
        rows = session.execute(select(Problem.description, Problem.created_at).where(Problem.created_at.in_(batch)))
        present.update(_report_key(description, created) for description, created in rows)
    present.discard(None)
    return present


def import_file(
    service: BacklogService, session_factory: sessionmaker[Session], path: Path, *, actor: Actor | str
) -> dict[str, int]:
    if not path.exists():
        raise DomainError(f"{path}: no such file")
    if not path.is_file():
        raise DomainError(f"{path}: not a file")
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in ("csv", "json"):
        raise DomainError(f"{path.name}: unknown import format; use a .csv or .json file")
    try:
        data = path.read_bytes()
    except OSError as error:
        raise DomainError(f"{path}: cannot be read ({error.strerror})") from None
    return import_rows(service, session_factory, parse_rows(decode(data, path.name), fmt), actor=actor)


def export_labels(session_factory: sessionmaker[Session]) -> Iterator[dict[str, str]]:
    """Problems whose kind a person decided (overrides and confirmations): labelled examples with who and when."""
    with session_factory() as session:
        stmt = (
            select(
                Problem,
                Improvement.kind,
                Improvement.kind_decided_by_name,
                Improvement.kind_decided_at,
                Improvement.classifier,
            )
            .join(Improvement, Problem.improvement_id == Improvement.id)
            .where(Improvement.kind_decided_by == "person")
            .order_by(Problem.id)
        )
        for problem, kind, who, when, classifier in session.execute(stmt):
            if when is not None and when.tzinfo is None:
                when = when.replace(tzinfo=UTC)  # SQLite hands back naive UTC
            yield {
                "text": problem_text(problem.title, problem.description),
                "kind": kind,
                "industry": problem.industry,
                "touchpoint": problem.touchpoint,
                "decided_by": who or "",
                "decided_at": when.isoformat() if when is not None else "",
                "classified_by": classifier or "",
            }
