"""Events: what happened to an item, written to the outbox in the same transaction as the change.

The body of each event is serialised once, here, and stored: a webhook receives exactly those bytes (so
its signature and a replay are stable), and receivers de-duplicate on the event ``id``."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy.orm import Session

from db.models import Event, Improvement
from improvement.domain import Status

EMAIL = re.compile(r"^[^@\s<>\"',;]+@[^@\s<>\"',;]+\.[A-Za-z]{2,}$")
LABEL = re.compile(r"^.*<([^<>]+)>$")


class EventType(StrEnum):
    CREATED = "item.created"
    REPORT_ADDED = "item.report_added"
    KIND_DECIDED = "item.kind_decided"
    STATUS_CHANGED = "item.status_changed"
    OWNER_CHANGED = "item.owner_changed"
    MERGED = "item.merged"
    DONE = "item.done"
    TRIAGE_OVERDUE = "item.triage_overdue"


def is_email(value: str | None) -> bool:
    return bool(value) and bool(EMAIL.match(str(value).strip()))


def email_of(value: str | None) -> str | None:
    """The address in a bare e-mail or in a signed-in person's label ("Ana Lopez <ana@example.com>")."""
    text = str(value or "").strip()
    if is_email(text):
        return text.lower()
    match = LABEL.match(text)
    return match.group(1).lower() if match and is_email(match.group(1)) else None


def item_link(base_url: str, improvement_id: int) -> str:
    return f"{base_url.rstrip('/')}/?item={improvement_id}"


def _item_snapshot(row: Improvement) -> dict[str, Any]:
    """What a receiver needs to act on an item, without the people's addresses (those stay in the outbox)."""
    return {
        "id": row.id,
        "title": row.title,
        "kind": str(row.kind),
        "status": str(row.status),
        "owner": row.owner,
        "quarter": row.quarter,
        "value_at_risk": float(row.value_at_risk or 0),
        "currency": row.currency,
        "report_count": row.report_count,
        "outcome": row.outcome or "",
    }


def _types_for(changes: Sequence[tuple[str, Any, Any]]) -> list[tuple[EventType, dict[str, Any]]]:
    """History entries (field, old, new) -> the events they make; unlisted fields (text edits) make none."""
    events: list[tuple[EventType, dict[str, Any]]] = []
    merged = [new for name, _old, new in changes if name == "merged"]
    for name, old, new in changes:
        if name in ("created", "imported"):
            events.append((EventType.CREATED, {}))
        elif name == "kind":
            events.append((EventType.KIND_DECIDED, {"from": _text(old), "to": _text(new)}))
        elif name == "status":
            events.append((EventType.STATUS_CHANGED, {"from": _text(old), "to": _text(new)}))
            if str(new) == Status.DONE.value:
                events.append((EventType.DONE, {}))
        elif name == "owner":
            events.append((EventType.OWNER_CHANGED, {"from": _text(old), "to": _text(new)}))
        elif name == "report_added":
            events.append((EventType.REPORT_ADDED, {"report": _text(new)}))
    if merged:
        events.append((EventType.MERGED, {"merged": merged}))
    return events


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def reporters_of(row: Improvement) -> list[str]:
    """The e-mail addresses among the people who reported the item's problems."""
    return sorted({address for p in row.problems if (address := email_of(p.reporter))})


def record_events(
    session: Session,
    row: Improvement,
    changes: Sequence[tuple[str, Any, Any]],
    *,
    actor: str,
    now: datetime,
    extra_recipients: Iterable[str] = (),
) -> list[Event]:
    """Add the events these changes make to the caller's transaction (the outbox)."""
    made = _types_for(changes)
    if not made:
        return []
    reporters = reporters_of(row)
    rows = []
    for event_type, details in made:
        recipients = set(reporters) | {a for r in extra_recipients if (a := email_of(r))}
        if event_type is EventType.OWNER_CHANGED and (owner := email_of(details.get("to"))):
            recipients = {owner}  # the new owner hears they were assigned
        rows.append(new_event(row, event_type, actor=actor, now=now, details=details, recipients=sorted(recipients)))
    session.add_all(rows)
    return rows


def new_event(
    row: Improvement,
    event_type: EventType,
    *,
    actor: str,
    now: datetime,
    details: dict[str, Any] | None = None,
    recipients: Sequence[str] = (),
) -> Event:
    event_id = str(uuid.uuid4())
    body = {
        "id": event_id,
        "type": event_type.value,
        "occurred_at": now.isoformat(),
        "actor": actor,
        "item": _item_snapshot(row),
        **({"change": details} if details else {}),
    }
    return Event(
        event_id=event_id,
        type=event_type.value,
        occurred_at=now,
        actor=actor,
        improvement_id=row.id,
        body=json.dumps(body, ensure_ascii=False, separators=(",", ":"), sort_keys=True),
        recipients=json.dumps(list(recipients)),
        planned=False,
    )
