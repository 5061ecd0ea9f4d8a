"""Import and export the backlog as CSV or JSON: one row per reported problem, with its item's fields.

Import validates the whole file first: every error is reported with its row number and field, and a file
with any error writes nothing. A valid file is written in batches (``IMPORT_BATCH_ROWS`` reports per
transaction) so other writers get in; every report carries a stable key (``domain.report_key``), so a
report already present is skipped: re-importing an export, or re-running an import that was killed
between batches, adds nothing twice.
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload, sessionmaker

from db.models import Improvement, Problem
from db.transactions import run_in_transaction
from improvement import domain
from improvement.access import Action, Actor
from improvement.domain import Classification, DomainError
from improvement.items import KindDecision, new_item_values
from improvement.services import BacklogService, _recompute_totals, new_problem_row, record_changes
from improvement.spreadsheet import SafeDictWriter, restore_cell
from improvement.validation import NewProblem, ValidationFailed, problem_text, validate_problem

MAX_IMPORT_BYTES = 50 * 1024 * 1024
MAX_IMPORT_ROWS = 200_000
# Reports written per transaction: other writers get in between batches (BACKLOG_IMPORT_BATCH_ROWS).
IMPORT_BATCH_ROWS = 2_000
# Between two batches on SQLite, so a writer waiting for the one write lock takes it (its busy handler
# polls every 100 ms at most).
SQLITE_WRITER_GAP_SECONDS = 0.15

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
    # (row number, the validated report, its time as the file gave it, its stable key)
    problems: list[tuple[int, NewProblem, datetime | None, str]]
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
    # Stored in UTC: SQLite keeps no offset, so a time written with one would come back shifted.
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


def _plan(rows: Sequence[dict[str, Any]]) -> tuple[list[_Planned], list[str], list[int]]:
    """Validate every row. Returns the items to write, every error (row and field), and the numbers of
    rows that repeat an earlier row of the file (the same time and text: the same report, written once)."""
    planned: dict[str, _Planned] = {}
    errors: list[str] = []
    repeated: list[int] = []
    keys: set[str] = set()
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
        key = domain.report_key(created, {name: getattr(new, name) for name in domain.REPORT_KEY_FIELDS})
        if key in keys:
            repeated.append(number)
            continue
        keys.add(key)
        ref = str(row.get("item_ref") or row.get("id") or f"row-{number}")
        plan = planned.setdefault(ref, _Planned(ref, [], item_extra))
        plan.problems.append((number, new, created, key))
    return list(planned.values()), errors, repeated


def import_summary(result: dict[str, int]) -> str:
    """One line on what an import did, the same in the CLI and the app."""
    line = f"imported {result['items']:,} item(s), {result['problems']:,} problem(s)"
    if result.get("already_present"):
        line += f"; skipped {result['already_present']:,} already imported"
    if result.get("repeated_in_file"):
        repeated = result["repeated_in_file"]
        line += f"; {repeated:,} row(s) repeating an earlier row (same time and text) imported once"
    return line


def _batches(plans: Sequence[_Planned], size: int) -> Iterator[list[_Planned]]:
    """Whole items, about ``size`` reports a batch (an item with more reports is a batch of its own)."""
    batch: list[_Planned] = []
    rows = 0
    for plan in plans:
        if batch and rows + len(plan.problems) > size:
            yield batch
            batch, rows = [], 0
        batch.append(plan)
        rows += len(plan.problems)
    if batch:
        yield batch


def import_rows(
    service: BacklogService,
    session_factory: sessionmaker[Session],
    rows: Sequence[dict[str, Any]],
    *,
    actor: Actor | str,
    batch_rows: int = IMPORT_BATCH_ROWS,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, int]:
    """Validate the whole file, then write it in batches of about ``batch_rows`` reports.

    Nothing is written unless every row is valid. Each batch is its own transaction, so other writers get
    in between batches (on SQLite, which has one write lock, the import also pauses briefly). A report
    already in the database (same stable key, or same time and text) is skipped, so an import that was
    killed midway is completed by running it again, and re-importing an export adds nothing twice.
    ``progress(done, total)`` is called after each batch with the reports handled so far.
    """
    label = service.authorise(actor, Action.TRIAGE)
    if not rows:
        raise DomainError("the file holds no rows to import")
    if len(rows) > MAX_IMPORT_ROWS:
        raise DomainError(f"the file holds {len(rows):,} rows; the import limit is {MAX_IMPORT_ROWS:,}")
    plans, errors, repeated = _plan(rows)
    if errors:
        raise ImportFailed(errors)
    total = sum(len(plan.problems) for plan in plans)
    sqlite = session_factory.kw["bind"].dialect.name == "sqlite"
    counts = {"items": 0, "problems": 0, "already_present": 0, "repeated_in_file": len(repeated)}
    done = 0
    for number, batch in enumerate(_batches(plans, max(1, batch_rows))):
        if number and sqlite:
            time.sleep(SQLITE_WRITER_GAP_SECONDS)  # SQLite has one write lock: let a waiting writer take it
        written = _write_batch(service, session_factory, batch, label)
        counts["items"] += written[0]
        counts["problems"] += written[1]
        counts["already_present"] += sum(len(plan.problems) for plan in batch) - written[1]
        done += sum(len(plan.problems) for plan in batch)
        if progress is not None:
            progress(done, total)
    return counts


def _write_batch(
    service: BacklogService, session_factory: sessionmaker[Session], batch: list[_Planned], label: str
) -> tuple[int, int]:
    """Write one batch in one transaction; returns (items, reports) written."""
    # Read first, outside the write transaction: what is already here needs no classifying.
    with session_factory() as session:
        present = _already_present(session, batch)
    fresh = [plan for plan in (_without(plan, present) for plan in batch) if plan is not None]
    if not fresh:
        return 0, 0
    # Items without a kind are classified in one go per batch, before the write lock is taken.
    unlabelled = [p for p in fresh if not p.problems[0][1].kind]
    classified = service.classify([p.problems[0][1].text for p in unlabelled]) if unlabelled else []
    by_ref = {p.ref: c for p, c in zip(unlabelled, classified, strict=True)}
    now = datetime.now(UTC)

    def work(session: Session) -> tuple[int, int]:
        # Again inside the transaction: another import of the same file may have written some meanwhile.
        here = _already_present(session, fresh)
        items = problems = 0
        for original in fresh:
            plan = _without(original, here)
            if plan is None:
                continue
            _add_item(session, plan, by_ref.get(plan.ref), label, now)
            items += 1
            problems += len(plan.problems)
        return items, problems

    for attempt in range(3):
        try:
            return run_in_transaction(session_factory, work)
        except IntegrityError:  # a concurrent import wrote the same report first: look again
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _without(plan: _Planned, present: set[str]) -> _Planned | None:
    """The plan without the reports already present; None when nothing is left."""
    fresh = [p for p in plan.problems if p[3] not in present]
    if not fresh:
        return None
    return plan if len(fresh) == len(plan.problems) else _Planned(plan.ref, fresh, plan.item)


def _add_item(session: Session, plan: _Planned, result: Classification | None, label: str, now: datetime) -> None:
    """One imported item with its reports and its history entry, in the caller's transaction."""
    first = plan.problems[0][1]
    extra = plan.item
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
    for _number, new, moment, key in plan.problems:
        item.problems.append(new_problem_row(new, reporter=label, created_at=moment or created, key=key))
    _recompute_totals(item, item.problems)
    session.add(item)
    session.flush()
    record_changes(session, item, [("imported", None, f"{len(plan.problems)} report(s)")], actor=label, now=now)


def _legacy_key(description: str, created_at: datetime | None) -> tuple[str, str] | None:
    """The older rule, time and text: for reports written without a stable key (seed-demo, raw SQL) and
    for the export of rows imported without a time (their key was made before the import gave them one)."""
    if created_at is None:
        return None
    moment = created_at if created_at.tzinfo else created_at.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(), description


def _already_present(session: Session, plans: Sequence[_Planned]) -> set[str]:
    """The stable keys of the planned reports that the database already holds."""
    keys = [p[3] for plan in plans for p in plan.problems]
    present: set[str] = set()
    for start in range(0, len(keys), 500):
        present.update(
            k
            for k in session.scalars(
                select(Problem.report_key).where(Problem.report_key.in_(keys[start : start + 500]))
            )
            if k is not None
        )
    # And by time and text (see _legacy_key).
    by_legacy = {_legacy_key(p[1].description, p[2]): p[3] for plan in plans for p in plan.problems if p[2] is not None}
    moments = sorted({p[2] for plan in plans for p in plan.problems if p[2] is not None and p[3] not in present})
    for start in range(0, len(moments), 500):
        rows = session.execute(
            select(Problem.description, Problem.created_at).where(Problem.created_at.in_(moments[start : start + 500]))
        )
        for description, created in rows:
            key = by_legacy.get(_legacy_key(description, created))
            if key is not None:
                present.add(key)
    return present


def import_file(
    service: BacklogService,
    session_factory: sessionmaker[Session],
    path: Path,
    *,
    actor: Actor | str,
    batch_rows: int = IMPORT_BATCH_ROWS,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, int]:
    if not path.exists():
        raise DomainError(f"{path}: no such file")
    if not path.is_file():
        raise DomainError(f"{path}: not a file")
    try:
        data = path.read_bytes()
    except OSError as error:
        raise DomainError(f"{path}: cannot be read ({error.strerror})") from None
    return import_upload(
        service, session_factory, path.name, data, actor=actor, batch_rows=batch_rows, progress=progress
    )


def import_upload(
    service: BacklogService,
    session_factory: sessionmaker[Session],
    name: str,
    data: bytes,
    *,
    actor: Actor | str,
    batch_rows: int = IMPORT_BATCH_ROWS,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, int]:
    """Import a file's bytes (a path read by the CLI, or a file uploaded in the app): the format from its name."""
    fmt = Path(name).suffix.lower().lstrip(".")
    if fmt not in ("csv", "json"):
        raise DomainError(f"{Path(name).name}: unknown import format; use a .csv or .json file")
    rows = parse_rows(decode(data, Path(name).name), fmt)
    return import_rows(service, session_factory, rows, actor=actor, batch_rows=batch_rows, progress=progress)


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
