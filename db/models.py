"""SQLAlchemy 2.0 typed models. Enumerations are stored as short strings, validated in the domain."""

from __future__ import annotations

from datetime import UTC, datetime

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
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


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
    kind: Mapped[str] = mapped_column(String(16))
    kind_decided_by: Mapped[str] = mapped_column(String(16), default="model")
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
    status: Mapped[str] = mapped_column(String(16), default="new")
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
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), primary_key=True)
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
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), primary_key=True)
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
    evidence: Mapped[str] = mapped_column(String(16), default="unknown")
    root_cause: Mapped[str] = mapped_column(Text, default="")
    reporter: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)

    improvement: Mapped[Improvement] = relationship(back_populates="problems")


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
