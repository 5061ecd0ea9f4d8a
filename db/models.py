"""SQLAlchemy 2.0 typed models. Enumerations are the domain's enums in Python and short strings in SQL."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Generic, TypeVar

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from improvement.domain import DecidedBy, Evidence, Kind, Status

E = TypeVar("E", bound=StrEnum)


class StoredEnum(TypeDecorator[E], Generic[E]):
    """A domain enum in Python, its value as VARCHAR(16) in SQL.

    A plain string column (not a native ENUM type or a CHECK constraint) keeps the schema, the rollup
    triggers and PostgreSQL's COPY unchanged; an unknown value is refused on the way in and on the way out."""

    impl = String(16)
    cache_ok = True

    def __init__(self, enum: type[E]) -> None:
        super().__init__()
        self.enum = enum

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else self.enum(value).value

    def process_result_value(self, value: Any, dialect: Dialect) -> E | None:
        return None if value is None else self.enum(value)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


ACTIVE = text("merged_into_id IS NULL")
MERGED = text("merged_into_id IS NOT NULL")


def _active_index(name: str, *columns: str) -> Index:
    return Index(name, *columns, sqlite_where=ACTIVE, postgresql_where=ACTIVE)


class Improvement(Base):
    """A backlog item: the improvement one or more customer problems call for."""

    __tablename__ = "improvements"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    kind: Mapped[Kind] = mapped_column(StoredEnum(Kind))
    kind_decided_by: Mapped[DecidedBy] = mapped_column(StoredEnum(DecidedBy), default=DecidedBy.MODEL)
    kind_decided_by_name: Mapped[str | None] = mapped_column(String(200))
    kind_decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    classifier: Mapped[str] = mapped_column(String(64), default="offline")
    confidence: Mapped[float] = mapped_column(Float, default=0.0)
    rationale: Mapped[str] = mapped_column(Text, default="")
    needs_review: Mapped[bool] = mapped_column(Boolean, default=False)
    proposed_fix: Mapped[str] = mapped_column(Text, default="")
    proactive_action: Mapped[str] = mapped_column(Text, default="")
    cross_industry_idea: Mapped[str] = mapped_column(Text, default="")
    owner: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[Status] = mapped_column(StoredEnum(Status), default=Status.NEW)
    quarter: Mapped[str] = mapped_column(String(7))
    effort: Mapped[int] = mapped_column(Integer, default=3)
    impact: Mapped[int] = mapped_column(Integer, default=3)
    # Denormalised sums over the item's problems, so reviews aggregate one indexed table.
    value_at_risk: Mapped[float] = mapped_column(Numeric(16, 2, asdecimal=False), default=0)
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    customers_affected: Mapped[int] = mapped_column(Integer, default=0)
    report_count: Mapped[int] = mapped_column(Integer, default=1)
    priority: Mapped[float] = mapped_column(Float, default=0.0)  # by the formula that fits the kind
    # Inputs of the kind's priority formula (improvement.prioritisation); None means the formula's default.
    urgency: Mapped[int | None] = mapped_column(Integer)  # WSJF time criticality, 1-5
    risk_reduction: Mapped[int | None] = mapped_column(Integer)  # WSJF risk reduction, 1-5
    reach: Mapped[int | None] = mapped_column(Integer)  # RICE reach in customers (None: customers affected)
    rice_confidence: Mapped[int | None] = mapped_column(Integer)  # RICE confidence, percent
    # The money the outcome protected, when it differs from the value at risk (None: all of it).
    value_protected: Mapped[float | None] = mapped_column(Numeric(16, 2, asdecimal=False))
    target: Mapped[str] = mapped_column(Text, default="")
    outcome: Mapped[str] = mapped_column(Text, default="")
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("improvements.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    done_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    problems: Mapped[list[Problem]] = relationship(back_populates="improvement", order_by="Problem.id")

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        Index("ix_improvements_quarter_kind", "quarter", "kind"),
        Index("ix_improvements_quarter_status", "quarter", "status"),
        Index("ix_improvements_status", "status"),
        Index("ix_improvements_kind", "kind"),
        Index("ix_improvements_owner", "owner"),
        Index("ix_improvements_merged_into", "merged_into_id", sqlite_where=MERGED, postgresql_where=MERGED),
        # Partial indexes over the live items (not merged away): the backlog page walks one of the first three
        # and stops after a page; the review reads the rest without touching the table (covering indexes).
        _active_index("ix_active_priority", "priority", "id"),
        _active_index("ix_active_value", "value_at_risk", "id"),
        _active_index("ix_active_created", "created_at", "id"),
        _active_index(
            "ix_active_rollup", "quarter", "kind", "status", "value_at_risk", "customers_affected", "currency"
        ),
        _active_index("ix_active_quarter_value", "quarter", "value_at_risk", "id"),
        _active_index("ix_active_quarter_owner", "quarter", "owner", "status", "value_at_risk"),
        _active_index("ix_active_quarter_review", "quarter", "needs_review", "priority", "id"),
        _active_index("ix_active_quarter_kind_priority", "quarter", "kind", "priority", "id"),
        _active_index("ix_active_quarter_status_value", "quarter", "status", "value_at_risk", "id"),
        _active_index("ix_active_done_at", "done_at", "id"),
    )


class QuarterTarget(Base):
    """The mix of kaizen, kaikaku and kakushin a leader wants in a quarter, in whole percent."""

    __tablename__ = "quarter_targets"

    quarter: Mapped[str] = mapped_column(String(7), primary_key=True)
    basis: Mapped[str] = mapped_column(String(16), default="items")  # items, effort or value
    kaizen: Mapped[int] = mapped_column(Integer)
    kaikaku: Mapped[int] = mapped_column(Integer)
    kakushin: Mapped[int] = mapped_column(Integer)
    set_by: Mapped[str] = mapped_column(String(200), default="")
    set_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class PriorityWeight(Base):
    """A leader's weight for one input of one kind's priority formula; absent means the default."""

    __tablename__ = "priority_weights"

    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    weight: Mapped[float] = mapped_column(Float)
    set_by: Mapped[str] = mapped_column(String(200), default="")
    set_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class KindRollup(Base):
    """Live items per quarter, kind, status, review flag and currency, kept by database triggers.

    The review and the backlog page's exact totals read these few rows instead of counting items, so
    their cost does not grow with the backlog. Triggers (migration 0003) keep them right for every
    writer, bulk loads and plain SQL included; ``backlog doctor`` checks them and ``backlog doctor
    --repair`` rebuilds them.
    """

    __tablename__ = "rollup_by_kind"

    quarter: Mapped[str] = mapped_column(String(7), primary_key=True)
    kind: Mapped[Kind] = mapped_column(StoredEnum(Kind), primary_key=True)
    status: Mapped[Status] = mapped_column(StoredEnum(Status), primary_key=True)
    needs_review: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    item_count: Mapped[int] = mapped_column(Integer, default=0)
    value_at_risk: Mapped[float] = mapped_column(Numeric(18, 2, asdecimal=False), default=0)
    customers_affected: Mapped[int] = mapped_column(BigInteger, default=0)


class OwnerRollup(Base):
    """Live items per quarter, owner ('' for nobody), kind and status; kept like ``KindRollup``."""

    __tablename__ = "rollup_by_owner"

    quarter: Mapped[str] = mapped_column(String(7), primary_key=True)
    owner: Mapped[str] = mapped_column(String(200), primary_key=True)
    kind: Mapped[Kind] = mapped_column(StoredEnum(Kind), primary_key=True)
    status: Mapped[Status] = mapped_column(StoredEnum(Status), primary_key=True)
    item_count: Mapped[int] = mapped_column(Integer, default=0)
    value_at_risk: Mapped[float] = mapped_column(Numeric(18, 2, asdecimal=False), default=0)


class Problem(Base):
    """One customer problem as a person reported it. Merging moves reports, never deletes them."""

    __tablename__ = "problems"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    improvement_id: Mapped[int] = mapped_column(ForeignKey("improvements.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    customer_story: Mapped[str] = mapped_column(Text, default="")
    touchpoint: Mapped[str] = mapped_column(String(200), default="")
    segment: Mapped[str] = mapped_column(String(200), default="")
    industry: Mapped[str] = mapped_column(String(200), default="")
    customers_affected: Mapped[int] = mapped_column(Integer, default=0)
    value_at_risk: Mapped[float] = mapped_column(Numeric(16, 2, asdecimal=False), default=0)
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    evidence: Mapped[Evidence] = mapped_column(StoredEnum(Evidence), default=Evidence.UNKNOWN)
    root_cause: Mapped[str] = mapped_column(Text, default="")
    reporter: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    # The report's stable key (improvement.domain.report_key): an import skips rows whose key is here.
    # Unique where set; rows written by bulk tools (seed-demo, raw SQL) may leave it empty.
    report_key: Mapped[str | None] = mapped_column(String(64), nullable=True)

    improvement: Mapped[Improvement] = relationship(back_populates="problems")

    __table_args__ = (Index("ux_problems_report_key", "report_key", unique=True),)


class Change(Base):
    """History: who changed what on a backlog item, when, from which value to which."""

    __tablename__ = "changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    improvement_id: Mapped[int] = mapped_column(ForeignKey("improvements.id", ondelete="CASCADE"), index=True)
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    changed_by: Mapped[str] = mapped_column(String(200))
    field: Mapped[str] = mapped_column(String(64))
    old_value: Mapped[str | None] = mapped_column(Text)
    new_value: Mapped[str | None] = mapped_column(Text)


class SavedView(Base):
    """A named set of backlog filters that anyone can reopen (the filters as JSON)."""

    __tablename__ = "saved_views"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    filters: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Document(Base):
    """An article in the knowledge base; its chunks live in Chroma under the same id."""

    __tablename__ = "documents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(1000), unique=True)
    title: Mapped[str] = mapped_column(String(500), default="")
    author: Mapped[str] = mapped_column(String(500), default="")
    url: Mapped[str] = mapped_column(String(1000), default="")
    sha256: Mapped[str] = mapped_column(String(64))
    chunk_count: Mapped[int] = mapped_column(Integer, default=0)
    characters: Mapped[int] = mapped_column(Integer, default=0)
    starter: Mapped[bool] = mapped_column(Boolean, default=False)
    ingested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Event(Base):
    """The transactional outbox: one row per thing that happened, written in the same transaction as the
    change, delivered later (``backlog deliver``), so nothing is sent inside a user's transaction and
    nothing is lost if the process dies after the commit."""

    __tablename__ = "events"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[str] = mapped_column(String(36), unique=True)  # what receivers de-duplicate on
    type: Mapped[str] = mapped_column(String(40))
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(200))
    improvement_id: Mapped[int | None] = mapped_column(ForeignKey("improvements.id", ondelete="SET NULL"))
    body: Mapped[str] = mapped_column(Text)  # the exact JSON a webhook receives (signed as these bytes)
    recipients: Mapped[str] = mapped_column(Text, default="[]")  # e-mail addresses concerned (never sent out)
    planned: Mapped[bool] = mapped_column(Boolean, default=False)  # its deliveries have been created

    __table_args__ = (
        Index("ix_events_unplanned", "seq", sqlite_where=text("planned = 0"), postgresql_where=text("NOT planned")),
        Index("ix_events_improvement", "improvement_id"),
    )


class Delivery(Base):
    """One event to one destination (a webhook URL, a team channel, a person's e-mail), with its retries."""

    __tablename__ = "deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_seq: Mapped[int] = mapped_column(ForeignKey("events.seq", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(16))  # webhook | notify | mail
    target: Mapped[str] = mapped_column(String(2000))
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | delivered | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # a worker is sending it
    last_error: Mapped[str] = mapped_column(Text, default="")
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("ux_deliveries_event_target", "event_seq", "channel", "target", unique=True),
        Index("ix_deliveries_due", "status", "next_attempt_at"),
    )


class DeliveryAttempt(Base):
    """Every try, kept for `backlog events list` and for whoever debugs a receiver."""

    __tablename__ = "delivery_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("deliveries.id", ondelete="CASCADE"), index=True)
    attempted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    ok: Mapped[bool] = mapped_column(Boolean)
    detail: Mapped[str] = mapped_column(Text, default="")


class MailPreference(Base):
    """A person who turned their e-mails off (or back on)."""

    __tablename__ = "mail_preferences"

    email: Mapped[str] = mapped_column(String(320), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Person(Base):
    """Someone who signs in, and their role (kept in SQL, granted by admins; NULL: access revoked)."""

    __tablename__ = "people"

    email: Mapped[str] = mapped_column(String(320), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[str | None] = mapped_column(String(16))
    role_changed_by: Mapped[str] = mapped_column(String(200), default="")
    role_changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_seen_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
