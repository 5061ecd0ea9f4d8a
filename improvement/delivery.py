"""Deliver the outbox: signed webhooks, team channels and e-mail through Apprise, with retries.

A worker (``backlog deliver`` or the app's background thread) first *plans* each new event: one delivery
row per destination, created in one transaction with the event marked planned, so two workers never plan
an event twice. It then *claims* each due delivery with a conditional UPDATE (a lease), sends it outside
any transaction, and records the attempt. Two workers never send the same delivery at once; a worker
killed mid-send leaves a lease that expires, and the delivery is tried again. Receivers de-duplicate on the
event id, as with GitHub's and Stripe's webhooks.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import socket
import time
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from db.models import Delivery, DeliveryAttempt, Event, Improvement, MailPreference
from db.transactions import run_in_transaction
from improvement.domain import DomainError, Status
from improvement.events import EventType, email_of, is_email, item_link, new_event
from improvement.settings import Settings

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Backlog-Signature"
# Reporters hear about these; the team channels hear about every event.
STATUSES_REPORTERS_HEAR = {Status.TRIAGED.value, Status.PLANNED.value}


def sign(body: bytes, secret: str) -> str:
    """``sha256=<hex>``: HMAC-SHA256 of the raw body, as GitHub and Stripe sign their webhooks."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def verify(body: bytes, secret: str, header: str) -> bool:
    """What a receiver does: compare in constant time."""
    return hmac.compare_digest(sign(body, secret), header or "")


def utcnow() -> datetime:
    return datetime.now(UTC)


def _aware(moment: datetime | None) -> datetime | None:
    return moment if moment is None or moment.tzinfo else moment.replace(tzinfo=UTC)


def mask(target: str) -> str:
    """A destination as shown to people: scheme and host only (Slack and Teams URLs carry their secret)."""
    if is_email(target):
        return target
    parts = urllib.parse.urlsplit(target)
    return f"{parts.scheme}://{parts.hostname or ''}{':' + str(parts.port) if parts.port else ''}/…"


@dataclass(frozen=True)
class Channels:
    """Where events go, checked once at start-up: a malformed URL is refused with a clear message."""

    webhooks: tuple[str, ...] = ()
    secret: str = ""
    notify: tuple[str, ...] = ()
    mail_url: str = ""
    base_url: str = "http://localhost:8501"
    attempts: int = 8

    @property
    def any(self) -> bool:
        return bool(self.webhooks or self.notify or self.mail_url)

    @classmethod
    def from_settings(cls, settings: Settings) -> Channels:
        webhooks = tuple(settings.webhook_url_list)
        for url in webhooks:
            parts = urllib.parse.urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise DomainError(f"BACKLOG_WEBHOOK_URLS: {mask(url)!s} is not an http(s) URL", field="webhook_urls")
        if webhooks and not settings.webhook_secret:
            raise DomainError(
                "BACKLOG_WEBHOOK_SECRET is empty: receivers could not tell our webhooks from forged ones",
                field="webhook_secret",
            )
        notify = tuple(settings.notify_url_list)
        for url in notify:
            _check_apprise(url, "BACKLOG_NOTIFY_URLS")
        mail_url = settings.mail_url.strip()
        if mail_url:
            if urllib.parse.urlsplit(mail_url).scheme not in ("mailto", "mailtos"):
                raise DomainError("BACKLOG_MAIL_URL must be an Apprise mailto:// or mailtos:// URL", field="mail_url")
            _check_apprise(_mail_to(mail_url, "someone@example.com"), "BACKLOG_MAIL_URL")
        return cls(
            webhooks=webhooks,
            secret=settings.webhook_secret,
            notify=notify,
            mail_url=mail_url,
            base_url=settings.base_url,
            attempts=settings.delivery_attempts,
        )


def _check_apprise(url: str, variable: str) -> None:
    import apprise

    if not apprise.Apprise().add(url):
        raise DomainError(f"{variable}: {mask(url)} is not a URL Apprise understands", field=variable.lower())


def _mail_to(mail_url: str, address: str) -> str:
    """The configured mailto:// URL addressed to one person."""
    parts = urllib.parse.urlsplit(mail_url)
    query = [(k, v) for k, v in urllib.parse.parse_qsl(parts.query, keep_blank_values=True) if k != "to"]
    query.append(("to", address))
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


@dataclass(frozen=True)
class Message:
    title: str
    body: str


def message_for(event: dict[str, Any], *, base_url: str, for_reporter: bool = False) -> Message:
    """Short, says what changed, links to the item."""
    item = event.get("item", {})
    title = f'"{item.get("title", "")}"'
    link = item_link(base_url, int(item.get("id", 0)))
    change = event.get("change", {})
    kind = event["type"]
    if kind == EventType.CREATED:
        text = f"New {item.get('kind')} item {title} logged by {event.get('actor')}."
    elif kind == EventType.STATUS_CHANGED:
        to = str(change.get("to", "")).replace("_", " ")
        text = (
            f"The problem you reported, {title}, is now {to}."
            if for_reporter
            else f"{title} moved from {str(change.get('from', '')).replace('_', ' ')} to {to}."
        )
    elif kind == EventType.DONE:
        outcome = item.get("outcome") or "no outcome recorded"
        text = f"{'The problem you reported, ' if for_reporter else ''}{title} is done. Outcome: {outcome}."
    elif kind == EventType.MERGED:
        text = (
            f"The problem you reported is now tracked with others in {title} ({item.get('report_count')} reports)."
            if for_reporter
            else f"{title} now gathers {item.get('report_count')} reports "
            f"(merged: {', '.join(change.get('merged', []))})."
        )
    elif kind == EventType.OWNER_CHANGED:
        text = f"You now own {title}." if for_reporter else f"{title} is now owned by {change.get('to') or 'nobody'}."
    elif kind == EventType.REPORT_ADDED:
        text = f"{title} has another report ({item.get('report_count')} in all), added by {event.get('actor')}."
    elif kind == EventType.KIND_DECIDED:
        text = f"{title} is {change.get('to')} (decided by {event.get('actor')})."
    elif kind == EventType.TRIAGE_OVERDUE:
        text = f"Nobody has triaged {title} yet (logged {str(event.get('occurred_at', ''))[:10]}); please look at it."
    else:
        text = f"{title}: {kind}."
    return Message(title=f"Improvement backlog: {item.get('title', '')}"[:120], body=f"{text}\n{link}")


def _reporters_hear(event_type: str, body: dict[str, Any]) -> bool:
    if event_type == EventType.STATUS_CHANGED:
        return str(body.get("change", {}).get("to")) in STATUSES_REPORTERS_HEAR
    return event_type in (EventType.DONE, EventType.MERGED, EventType.OWNER_CHANGED)


@dataclass
class DeliveryReport:
    delivered: int = 0
    failed: int = 0
    retrying: int = 0
    pending: int = 0
    errors: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, int]:
        return {"delivered": self.delivered, "failed": self.failed, "pending": self.pending}


Sender = Callable[[Delivery, Event], None]  # raises on failure


class Deliverer:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        channels: Channels,
        *,
        lease_seconds: float = 120.0,
        backoff_seconds: float = 30.0,
        max_backoff_seconds: float = 3600.0,
        timeout_seconds: float = 10.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._sessions = sessions
        self.channels = channels
        self._lease = timedelta(seconds=lease_seconds)
        self._backoff = backoff_seconds
        self._max_backoff = max_backoff_seconds
        self._timeout = timeout_seconds
        self._now = clock
        self.worker = f"{socket.gethostname()}:{os.getpid()}"
        self._client: Any = None

    # Planning -----------------------------------------------------------------------------------------
    def plan(self, limit: int = 500) -> int:
        """Create the deliveries of events not yet planned; returns how many events were planned."""
        with self._sessions() as session:
            seqs = list(
                session.scalars(select(Event.seq).where(Event.planned.is_(False)).order_by(Event.seq).limit(limit))
            )
        planned = 0
        for seq in seqs:
            planned += run_in_transaction(self._sessions, partial(self._plan_one, seq=seq))
        return planned

    def _plan_one(self, session: Session, *, seq: int) -> int:
        # Whoever flips `planned` creates the deliveries, in the same transaction: never twice.
        claimed = session.execute(
            update(Event).where(Event.seq == seq, Event.planned.is_(False)).values(planned=True)
        ).rowcount  # type: ignore[attr-defined]
        if claimed != 1:
            return 0
        event = session.get(Event, seq)
        assert event is not None
        body = json.loads(event.body)
        now = self._now()
        targets: list[tuple[str, str]] = [("webhook", url) for url in self.channels.webhooks]
        targets += [("notify", url) for url in self.channels.notify]
        if self.channels.mail_url and _reporters_hear(event.type, body):
            recipients = json.loads(event.recipients or "[]")
            muted = set(
                session.scalars(
                    select(MailPreference.email).where(
                        MailPreference.email.in_(recipients), MailPreference.enabled.is_(False)
                    )
                )
            )
            targets += [("mail", r) for r in recipients if r not in muted]
        session.add_all(
            Delivery(
                event_seq=seq,
                channel=channel,
                target=target,
                status="pending",
                attempts=0,
                next_attempt_at=now,
                last_error="",
            )
            for channel, target in targets
        )
        return 1

    # Sending ------------------------------------------------------------------------------------------
    def _claim(self, delivery_id: int) -> bool:
        now = self._now()

        def work(session: Session) -> bool:
            claimed = session.execute(
                update(Delivery)
                .where(
                    Delivery.id == delivery_id,
                    Delivery.status == "pending",
                    Delivery.next_attempt_at <= now,
                    or_(Delivery.lease_until.is_(None), Delivery.lease_until < now),
                )
                .values(lease_until=now + self._lease, attempts=Delivery.attempts + 1)
            ).rowcount  # type: ignore[attr-defined]
            return bool(claimed == 1)

        return run_in_transaction(self._sessions, work)

    def _send(self, delivery: Delivery, event: Event) -> None:
        body = json.loads(event.body)
        if delivery.channel == "webhook":
            raw = event.body.encode("utf-8")
            response = self._http().post(
                delivery.target,
                content=raw,
                headers={
                    "Content-Type": "application/json",
                    SIGNATURE_HEADER: sign(raw, self.channels.secret),
                    "X-Backlog-Event": event.type,
                    "X-Backlog-Delivery": event.event_id,
                    "User-Agent": "improvement-backlog",
                },
            )
            if not 200 <= response.status_code < 300:
                raise RuntimeError(f"HTTP {response.status_code}")
            return
        message = message_for(body, base_url=self.channels.base_url, for_reporter=delivery.channel == "mail")
        url = _mail_to(self.channels.mail_url, delivery.target) if delivery.channel == "mail" else delivery.target
        _notify(url, message)

    def _http(self) -> Any:
        """One HTTP client per worker: connections to a receiver are kept alive between deliveries."""
        if self._client is None:
            import httpx

            self._client = httpx.Client(timeout=self._timeout, follow_redirects=False)
        return self._client

    def _attempt(self, delivery_id: int) -> str:
        """Send one claimed delivery and record the attempt: 'delivered', 'retrying' or 'failed'."""
        with self._sessions() as session:
            delivery = session.get(Delivery, delivery_id)
            assert delivery is not None
            event = session.get(Event, delivery.event_seq)
            assert event is not None
            session.expunge_all()
        error = ""
        if delivery.channel == "mail" and self._muted(delivery.target):
            outcome = "skipped"
        else:
            try:
                self._send(delivery, event)
                outcome = "delivered"
            except Exception as failure:  # any receiver or channel failure: recorded, retried
                error = f"{type(failure).__name__}: {str(failure).splitlines()[0] if str(failure) else ''}"[:500]
                outcome = "failed" if delivery.attempts >= self.channels.attempts else "retrying"
        now = self._now()
        wait = min(self._backoff * (2 ** max(delivery.attempts - 1, 0)), self._max_backoff)

        def record(session: Session) -> None:
            values: dict[str, Any] = {"lease_until": None, "last_error": error}
            if outcome in ("delivered", "skipped"):
                values.update(status=outcome, delivered_at=now if outcome == "delivered" else None)
            elif outcome == "failed":
                values.update(status="failed")
            else:
                values.update(next_attempt_at=now + timedelta(seconds=wait))
            session.execute(update(Delivery).where(Delivery.id == delivery_id).values(**values))
            session.add(
                DeliveryAttempt(
                    delivery_id=delivery_id, attempted_at=now, ok=outcome == "delivered", detail=error or outcome
                )
            )

        run_in_transaction(self._sessions, record)
        if error:
            log.warning("delivery %s to %s: %s", delivery_id, mask(delivery.target), error)
        return outcome

    def _muted(self, email: str) -> bool:
        with self._sessions() as session:
            preference = session.get(MailPreference, email)
            return preference is not None and not preference.enabled

    def run_once(self, limit: int = 200) -> DeliveryReport:
        """Plan new events, then try every delivery that is due now."""
        report = DeliveryReport()
        self.plan()
        now = self._now()
        with self._sessions() as session:
            due = list(
                session.scalars(
                    select(Delivery.id)
                    .where(
                        Delivery.status == "pending",
                        Delivery.next_attempt_at <= now,
                        or_(Delivery.lease_until.is_(None), Delivery.lease_until < now),
                    )
                    .order_by(Delivery.id)
                    .limit(limit)
                )
            )
        for delivery_id in due:
            if not self._claim(delivery_id):
                continue  # another worker has it
            outcome = self._attempt(delivery_id)
            if outcome == "delivered":
                report.delivered += 1
            elif outcome == "failed":
                report.failed += 1
            elif outcome == "retrying":
                report.retrying += 1
        report.pending = self.pending_count()
        return report

    def drain(self, *, max_rounds: int = 1000) -> DeliveryReport:
        """``--once``: deliver until nothing is due now (deliveries waiting for a retry stay pending)."""
        total = DeliveryReport()
        for _ in range(max_rounds):
            report = self.run_once()
            total.delivered += report.delivered
            total.failed += report.failed
            total.pending = report.pending
            if not (report.delivered or report.failed or report.retrying):
                break
            if report.retrying and not (report.delivered or report.failed):
                break  # everything left waits for its back-off
        return total

    def pending_count(self) -> int:
        from sqlalchemy import func

        with self._sessions() as session:
            planned = session.scalar(select(func.count()).select_from(Delivery).where(Delivery.status == "pending"))
            unplanned = session.scalar(select(func.count()).select_from(Event).where(Event.planned.is_(False)))
        return int(planned or 0) + int(unplanned or 0) * int(bool(self.channels.any))

    def serve(
        self,
        *,
        interval: float = 5.0,
        triage_hours: float | None = None,
        stop: Callable[[], bool] = lambda: False,
    ) -> None:
        """Keep delivering (``backlog deliver`` and the app's background thread); with ``triage_hours``, also
        remind the owners of items nobody has triaged in time (checked every ten minutes)."""
        checked = float("-inf")
        while not stop():
            try:
                if triage_hours is not None and time.monotonic() - checked > 600:
                    remind_untriaged(self._sessions, hours=triage_hours, now=self._now())
                    checked = time.monotonic()
                self.run_once()
            except Exception as error:  # the worker outlives a database blip; the next round retries
                log.warning("delivery round failed: %s", error)
            time.sleep(interval)

    # Admin ------------------------------------------------------------------------------------------
    def replay(self, event_id: str) -> int:
        """Send an event again to every destination (receivers de-duplicate on its id)."""

        def work(session: Session) -> int:
            event = session.scalar(select(Event).where(Event.event_id == event_id))
            if event is None:
                raise DomainError(f"no event with id {event_id}", field="event_id")
            if not event.planned:
                return 0  # not sent yet: the next round sends it
            return int(
                session.execute(
                    update(Delivery)
                    .where(Delivery.event_seq == event.seq)
                    .values(status="pending", next_attempt_at=self._now(), lease_until=None, attempts=0)
                ).rowcount  # type: ignore[attr-defined]
            )

        return run_in_transaction(self._sessions, work)


def _notify(url: str, message: Message) -> None:
    import apprise

    sender = apprise.Apprise()
    if not sender.add(url):
        raise RuntimeError(f"{mask(url)} is not a URL Apprise understands")
    if not sender.notify(title=message.title, body=message.body):
        raise RuntimeError(f"{mask(url)} did not accept the notification")


# Reading the outbox -----------------------------------------------------------------------------------


def list_events(sessions: sessionmaker[Session], *, limit: int = 50) -> list[dict[str, Any]]:
    with sessions() as session:
        events = list(session.scalars(select(Event).order_by(Event.seq.desc()).limit(limit)))
        deliveries = list(session.scalars(select(Delivery).where(Delivery.event_seq.in_([e.seq for e in events]))))
        return [
            {
                "id": e.event_id,
                "type": e.type,
                "occurred_at": _aware(e.occurred_at).isoformat(),  # type: ignore[union-attr]
                "actor": e.actor,
                "item_id": e.improvement_id,
                "deliveries": [
                    {
                        "channel": d.channel,
                        "target": mask(d.target),
                        "status": d.status,
                        "attempts": d.attempts,
                        "last_error": d.last_error,
                    }
                    for d in deliveries
                    if d.event_seq == e.seq
                ],
            }
            for e in events
        ]


def set_mail(sessions: sessionmaker[Session], email: str, *, enabled: bool) -> None:
    """A person turns their e-mails off (or on again)."""
    address = email.strip().lower()
    if not is_email(address):
        raise DomainError(f"{email!r} is not an e-mail address", field="email")

    def work(session: Session) -> None:
        preference = session.get(MailPreference, address)
        if preference is None:
            session.add(MailPreference(email=address, enabled=enabled, updated_at=utcnow()))
        else:
            preference.enabled = enabled
            preference.updated_at = utcnow()

    run_in_transaction(sessions, work)


# The 48-hour promise -----------------------------------------------------------------------------------


def remind_untriaged(sessions: sessionmaker[Session], *, hours: float, now: datetime | None = None) -> int:
    """One ``item.triage_overdue`` event per item still new after ``hours`` (its owners and the team channels
    hear once: the event is the record that they were reminded)."""
    now = now or utcnow()
    cutoff = now - timedelta(hours=hours)
    reminded = select(Event.improvement_id).where(
        Event.type == EventType.TRIAGE_OVERDUE.value, Event.improvement_id.is_not(None)
    )

    def work(session: Session) -> int:
        rows = list(
            session.scalars(
                select(Improvement)
                .where(
                    and_(
                        Improvement.status == Status.NEW,
                        Improvement.merged_into_id.is_(None),
                        Improvement.created_at < cutoff,
                        Improvement.id.not_in(reminded),
                    )
                )
                .order_by(Improvement.id)
                .limit(500)
            )
        )
        for row in rows:
            owner = [address] if (address := email_of(row.owner)) else []
            session.add(new_event(row, EventType.TRIAGE_OVERDUE, actor="backlog", now=now, recipients=owner))
        return len(rows)

    return run_in_transaction(sessions, work)


def weekly_digest(sessions: sessionmaker[Session], *, days: int = 7, now: datetime | None = None) -> Message:
    """Celebrate the people who act: the items done this week, their outcomes and who did them."""
    now = now or utcnow()
    since = now - timedelta(days=days)
    with sessions() as session:
        rows = list(
            session.scalars(
                select(Improvement)
                .where(
                    Improvement.status == Status.DONE,
                    Improvement.merged_into_id.is_(None),
                    Improvement.done_at >= since,
                )
                .order_by(Improvement.done_at.desc())
                .limit(50)
            )
        )
        lines = [
            f"- {r.title} ({r.kind}): {r.outcome or 'no outcome recorded'} (done by {r.owner or 'the team'})"
            for r in rows
        ]
    title = f"Improvement backlog: {len(lines)} item(s) done in the last {days} days"
    body = "\n".join(lines) if lines else "Nothing was marked done this week."
    return Message(title=title, body=body)


def send_digest(channels: Channels, message: Message, notify: Callable[[str, Message], None] = _notify) -> int:
    if not channels.notify:
        raise DomainError("no team channel to send to: set BACKLOG_NOTIFY_URLS", field="notify_urls")
    for url in channels.notify:
        notify(url, message)
    return len(channels.notify)


def loop_metrics(sessions: sessionmaker[Session], *, quarter: str, hours: float = 48.0) -> dict[str, Any]:
    """For the quarterly review: did reporters hear back within the promise, and how long did it take?

    A reporter hears back when the item first moves out of "new" (its status history says when). Items
    whose history does not say (imported or demo data) are counted as unknown, not as misses."""
    from statistics import median

    from sqlalchemy import func

    from db.models import Change, Problem

    first_move = (
        select(Change.improvement_id, func.min(Change.changed_at).label("moved_at"))
        .where(Change.field == "status")
        .group_by(Change.improvement_id)
        .subquery()
    )
    done_move = (
        select(Change.improvement_id, func.min(Change.changed_at).label("done_at"))
        .where(Change.field == "status", Change.new_value == Status.DONE.value)
        .group_by(Change.improvement_id)
        .subquery()
    )
    with sessions() as session:
        rows = session.execute(
            select(
                Problem.created_at,
                Improvement.kind,
                Improvement.status,
                first_move.c.moved_at,
                done_move.c.done_at,
            )
            .join(Improvement, Improvement.id == Problem.improvement_id)
            .outerjoin(first_move, first_move.c.improvement_id == Improvement.id)
            .outerjoin(done_move, done_move.c.improvement_id == Improvement.id)
            .where(Improvement.quarter == quarter, Improvement.merged_into_id.is_(None))
        ).all()
    promise = timedelta(hours=hours)
    known = heard = 0
    to_triage: dict[str, list[float]] = {}
    to_done: dict[str, list[float]] = {}
    for created, kind, status, moved, done in rows:
        created, moved, done = _aware(created), _aware(moved), _aware(done)
        if moved is not None and created is not None:
            known += 1
            waited = max((moved - created).total_seconds(), 0.0)
            heard += waited <= promise.total_seconds()
            to_triage.setdefault(str(kind), []).append(waited / 3600)
            if done is not None:
                to_done.setdefault(str(kind), []).append(max((done - created).total_seconds(), 0.0) / 86400)
        elif status == Status.NEW and created is not None and utcnow() - created > promise:
            known += 1  # still waiting past the promise: a miss
    return {
        "promise_hours": hours,
        "problems": len(rows),
        "with_known_answer_time": known,
        "heard_back_within_promise": heard,
        "share_heard_back": round(heard / known, 4) if known else None,
        "median_hours_to_triage_by_kind": {k: round(median(v), 1) for k, v in sorted(to_triage.items())},
        "median_days_to_done_by_kind": {k: round(median(v), 1) for k, v in sorted(to_done.items())},
    }


def describe_channels(channels: Channels) -> Sequence[str]:
    return (
        [f"webhook {mask(u)}" for u in channels.webhooks]
        + [f"channel {mask(u)}" for u in channels.notify]
        + (["e-mail"] if channels.mail_url else [])
    )
