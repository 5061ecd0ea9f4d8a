"""The quarterly innovation backlog review: balance of kinds, money at risk, status, owners, trends.

Every figure is read from the rollup tables that database triggers keep (``db.rollups``): a few dozen
rows per quarter whatever the backlog's size. Only the short lists (top items, done items, items needing
review) fetch items, each walking an index and stopping after ``top`` rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from db import repository
from improvement import domain
from improvement.domain import Kind, Status
from improvement.models import ItemFilter, ItemView
from improvement.services import item_view

TREND_QUARTERS = 8


@dataclass(frozen=True)
class QuarterlyReview:
    quarter: str
    previous_quarter: str
    total_items: int
    counts_by_kind: dict[str, int]
    counts_by_status: dict[str, int]
    value_at_risk_by_kind: dict[str, float]
    value_at_risk_by_status: dict[str, float]
    value_at_risk_total: float
    customers_affected_total: int
    balance: dict[str, float]
    previous_counts_by_kind: dict[str, int]
    change_by_kind: dict[str, int]
    previous_value_at_risk_total: float
    currencies: list[str]
    value_at_risk_by_currency: dict[str, float]
    needs_review_count: int
    needs_review: list[ItemView]
    done: list[ItemView]
    top_by_value: list[ItemView]
    owners: list[dict[str, Any]]
    trend: list[dict[str, Any]]

    @property
    def mixes_currencies(self) -> bool:
        return len(self.value_at_risk_by_currency) > 1

    def value_at_risk_text(self, fmt: Callable[[float, str], str] | None = None) -> str:
        """The quarter's money at risk per currency, e.g. '12,000 EUR + 3,500 USD'; never adds currencies."""
        fmt = fmt or (lambda amount, currency: f"{amount:,.0f} {currency}")
        if not self.value_at_risk_by_currency:
            return fmt(0.0, "")
        return " + ".join(fmt(v, c) for c, v in self.value_at_risk_by_currency.items())

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("needs_review", "done", "top_by_value"):
            data[key] = [item.as_json() for item in getattr(self, key)]
        return data


def _by(rows: list[dict[str, Any]], key: str, measure: str, keys: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = dict.fromkeys(keys, 0)
    for row in rows:
        out[row[key]] = out.get(row[key], 0) + row[measure]
    return out


def quarterly_review(session_factory: sessionmaker[Session], quarter: str, *, top: int = 10) -> QuarterlyReview:
    quarter = domain.parse_quarter(quarter)
    previous = domain.shift_quarter(quarter, -1)
    kinds = [k.value for k in Kind]
    statuses = [s.value for s in Status]
    with session_factory() as session:
        by_kind_status = repository.group_counts(session, by=("kind", "status"), quarters=[quarter])
        trend_rows = repository.group_counts(
            session, by=("quarter", "kind"), quarters=domain.quarters_back(quarter, TREND_QUARTERS)
        )
        flt = ItemFilter(quarters=[quarter])
        needs_review_count, _ = repository.count_improvements(
            session, ItemFilter(quarters=[quarter], needs_review=True)
        )
        needs_review = repository.list_improvements(
            session, ItemFilter(quarters=[quarter], needs_review=True), sort="priority", limit=top
        )
        done = repository.list_improvements(
            session, ItemFilter(quarters=[quarter], statuses=["done"]), sort="value_at_risk", limit=top
        )
        top_rows = repository.list_improvements(session, flt, sort="value_at_risk", limit=top)
        owners = repository.owner_counts(session, quarter=quarter)
        by_currency = repository.group_counts(session, by=("currency",), quarters=[quarter])
        views = ([item_view(r) for r in needs_review], [item_view(r) for r in done], [item_view(r) for r in top_rows])

    value_by_currency = {
        r["currency"]: round(r["value_at_risk"], 2) for r in sorted(by_currency, key=lambda r: r["currency"])
    }
    counts_by_kind = _by(by_kind_status, "kind", "count", kinds)
    counts_by_status = _by(by_kind_status, "status", "count", statuses)
    value_by_kind = {k: round(v, 2) for k, v in _by(by_kind_status, "kind", "value_at_risk", kinds).items()}
    value_by_status = {k: round(v, 2) for k, v in _by(by_kind_status, "status", "value_at_risk", statuses).items()}
    total = sum(counts_by_kind.values())
    previous_rows = [r for r in trend_rows if r["quarter"] == previous]
    previous_counts = _by(previous_rows, "kind", "count", kinds)
    trend = []
    for q in domain.quarters_back(quarter, TREND_QUARTERS):
        rows = [r for r in trend_rows if r["quarter"] == q]
        trend.append(
            {
                "quarter": q,
                **{f"count_{k}": _by(rows, "kind", "count", kinds)[k] for k in kinds},
                "value_at_risk": round(sum(r["value_at_risk"] for r in rows), 2),
            }
        )
    return QuarterlyReview(
        quarter=quarter,
        previous_quarter=previous,
        total_items=total,
        counts_by_kind=counts_by_kind,
        counts_by_status=counts_by_status,
        value_at_risk_by_kind=value_by_kind,
        value_at_risk_by_status=value_by_status,
        value_at_risk_total=round(sum(value_by_kind.values()), 2),
        customers_affected_total=sum(r["customers_affected"] for r in by_kind_status),
        balance={k: round(counts_by_kind[k] / total, 4) if total else 0.0 for k in kinds},
        previous_counts_by_kind=previous_counts,
        change_by_kind={k: counts_by_kind[k] - previous_counts[k] for k in kinds},
        previous_value_at_risk_total=round(sum(r["value_at_risk"] for r in previous_rows), 2),
        currencies=list(value_by_currency),
        value_at_risk_by_currency=value_by_currency,
        needs_review_count=needs_review_count,
        needs_review=views[0],
        done=views[1],
        top_by_value=views[2],
        owners=owners,
        trend=trend,
    )
