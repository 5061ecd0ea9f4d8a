"""The quarterly innovation backlog review: balance of kinds, money at risk, status, owners, trends,
the leaders' target mix against the actual one and the items that would close the gap.

Counts and money by kind and status are read from the rollup tables that database triggers keep
(``db.rollups``). The mix, the money by owner and the target gap read one GROUP BY over the quarter's
items (kind, status, owner, currency); the short lists walk an index and stop after ``top`` rows; done
items are found by the date they were done (an index), so they are credited to the quarter they were
done in, not the one they were planned for.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from db import portfolio, repository
from db.transactions import run_in_transaction
from improvement import domain
from improvement.access import Action, Actor, as_actor
from improvement.domain import DomainError, Kind, Status
from improvement.models import ItemFilter, ItemView
from improvement.prioritisation import Weights, formula_text, parse_weights, score
from improvement.services import item_view

TREND_QUARTERS = 8
KINDS = [k.value for k in Kind]  # the fixed order everywhere: kaizen, kaikaku, kakushin
BASES = {"items": "share of items", "effort": "share of effort", "value": "share of value at risk"}
DEFAULT_TARGET = {"kaizen": 70, "kaikaku": 20, "kakushin": 10}
COMMITTED = ("planned", "in_progress", "done")  # the work a team has taken on: what the mix measures
CANDIDATE_STATUSES = ("new", "triaged")
CANDIDATES_PER_KIND = 200


@dataclass(frozen=True)
class TargetMix:
    """The mix of kinds a leader wants, in whole percent; ``is_default`` when nobody has set one yet."""

    quarter: str
    basis: str
    shares: dict[str, int]
    is_default: bool
    set_by: str = ""
    set_at: datetime | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "quarter": self.quarter,
            "basis": self.basis,
            **self.shares,
            "is_default": self.is_default,
            "set_by": self.set_by,
            "set_at": self.set_at.isoformat() if self.set_at else None,
        }


@dataclass(frozen=True)
class Candidate:
    """An item still in new or triaged whose planning would move the mix towards the target."""

    item: ItemView
    method: str
    formula: str
    closes_gap: bool  # among the fewest that would close the gap, best priority first

    def as_json(self) -> dict[str, Any]:
        return {**self.item.as_json(), "method": self.method, "formula": self.formula, "closes_gap": self.closes_gap}


@dataclass(frozen=True)
class MoneyRow:
    """Money in one currency for one kind or one owner: at risk, protected by done items, still at risk."""

    by: str  # "kind" or "owner"
    key: str
    currency: str
    at_risk: float  # value at risk of the quarter's items
    protected: float  # protected by items done in the quarter (their outcome's amount, else their value)
    still_at_risk: float  # the quarter's items not done and not dropped


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
    done: list[ItemView]  # the first ``top`` of done_in_quarter
    top_by_value: list[ItemView]
    owners: list[dict[str, Any]]
    trend: list[dict[str, Any]]
    # The leaders' view: target against actual, the gap, what would close it, the money, the done list.
    running: bool = False  # the quarter is still running: its figures are "to date"
    as_of: datetime | None = None
    target: TargetMix | None = None
    actual_mix: dict[str, dict[str, float]] = field(default_factory=dict)  # basis -> kind -> share 0..1
    mix_currency: str = ""  # the value mix is over this currency's amounts only (never summed across)
    committed_totals: dict[str, dict[str, float]] = field(default_factory=dict)  # basis -> kind -> amount
    gap: dict[str, float] = field(default_factory=dict)  # kind -> target minus actual, percentage points
    candidates: dict[str, list[Candidate]] = field(default_factory=dict)
    # kind -> how many of its best candidates, planned, would close its gap (None: all of them would not)
    needed: dict[str, int | None] = field(default_factory=dict)
    formulas: dict[str, str] = field(default_factory=dict)
    money: list[MoneyRow] = field(default_factory=list)
    done_in_quarter: list[ItemView] = field(default_factory=list)  # every item done in the quarter
    done_credit: list[dict[str, Any]] = field(default_factory=list)  # per owner: items, protected by currency

    @property
    def label(self) -> str:
        """'2026-Q4 to date (25 Nov 2026)' for the running quarter, else the quarter."""
        if self.running and self.as_of is not None:
            return f"{self.quarter} to date ({self.as_of:%d %b %Y})"
        return self.quarter

    def money_totals(self) -> list[MoneyRow]:
        """Per currency: the kinds' rows added up (one currency at a time)."""
        out: dict[str, list[float]] = {}
        for row in self.money:
            if row.by == "kind":
                sums = out.setdefault(row.currency, [0.0, 0.0, 0.0])
                sums[0] += row.at_risk
                sums[1] += row.protected
                sums[2] += row.still_at_risk
        return [
            MoneyRow("total", "all kinds", c, round(a, 2), round(p, 2), round(r, 2)) for c, (a, p, r) in out.items()
        ]

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
        for key in ("needs_review", "done", "top_by_value", "done_in_quarter"):
            data[key] = [item.as_json() for item in getattr(self, key)]
        data["target"] = self.target.as_json() if self.target else None
        data["candidates"] = {k: [c.as_json() for c in v] for k, v in self.candidates.items()}
        data["as_of"] = self.as_of.isoformat() if self.as_of else None
        data["label"] = self.label
        return data


def _by(rows: list[dict[str, Any]], key: str, measure: str, keys: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = dict.fromkeys(keys, 0)
    for row in rows:
        out[row[key]] = out.get(row[key], 0) + row[measure]
    return out


def quarterly_review(
    session_factory: sessionmaker[Session], quarter: str, *, top: int = 10, now: datetime | None = None
) -> QuarterlyReview:
    quarter = domain.parse_quarter(quarter)
    now = now or datetime.now(UTC)
    start, end = domain.quarter_bounds(quarter)
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
        top_rows = repository.list_improvements(session, flt, sort="value_at_risk", limit=top)
        owners = repository.owner_counts(session, quarter=quarter)
        by_currency = repository.group_counts(session, by=("currency",), quarters=[quarter])
        views = ([item_view(r) for r in needs_review], [item_view(r) for r in top_rows])
        breakdown = portfolio.quarter_breakdown(session, quarter)
        target_row = portfolio.get_target(session, quarter)
        weights = portfolio.load_weights(session)
        done_rows = portfolio.done_between(session, start, end)
        done_views = [item_view(r) for r in done_rows]
        candidate_rows = {
            kind: portfolio.open_candidates(session, quarter, kind, limit=CANDIDATES_PER_KIND) for kind in KINDS
        }
        candidate_scores = {
            kind: [(item_view(r), score(portfolio.inputs_of(r), weights)) for r in rows]
            for kind, rows in candidate_rows.items()
        }

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
    target = (
        TargetMix(
            quarter,
            target_row.basis,
            {k: int(getattr(target_row, k)) for k in KINDS},
            False,
            target_row.set_by,
            domain_aware(target_row.set_at),
        )
        if target_row is not None
        else TargetMix(quarter, "items", dict(DEFAULT_TARGET), True)
    )
    mix_currency, committed = _committed_totals(breakdown)
    actual_mix = {basis: _shares(totals) for basis, totals in committed.items()}
    gap = {k: round(target.shares[k] - 100 * actual_mix[target.basis][k], 1) for k in KINDS}
    candidates, needed = _gap_candidates(target, committed[target.basis], candidate_scores, mix_currency)
    return QuarterlyReview(
        running=start <= now < end,
        as_of=now if start <= now < end else None,
        target=target,
        actual_mix=actual_mix,
        mix_currency=mix_currency,
        committed_totals=committed,
        gap=gap,
        candidates=candidates,
        needed=needed,
        formulas={k: formula_text(k, weights) for k in KINDS},
        money=_money(breakdown, done_views),
        done_in_quarter=done_views,
        done_credit=_credit(done_views),
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
        done=done_views[:top],
        top_by_value=views[1],
        owners=owners,
        trend=trend,
    )


def domain_aware(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _shares(totals: Mapping[str, float]) -> dict[str, float]:
    whole = sum(totals.values())
    return {k: round(totals.get(k, 0) / whole, 4) if whole else 0.0 for k in KINDS}


def _committed_totals(breakdown: list[dict[str, Any]]) -> tuple[str, dict[str, dict[str, float]]]:
    """Items, effort and value at risk of the committed work (planned, in progress, done) by kind.

    Value is added within one currency only: the one holding most of the quarter's items.
    """
    per_currency: dict[str, int] = {}
    for row in breakdown:
        per_currency[row["currency"]] = per_currency.get(row["currency"], 0) + row["count"]
    currency = max(sorted(per_currency), key=lambda c: per_currency[c]) if per_currency else ""
    totals: dict[str, dict[str, float]] = {basis: dict.fromkeys(KINDS, 0.0) for basis in BASES}
    for row in breakdown:
        if row["status"] not in COMMITTED or row["kind"] not in KINDS:
            continue
        totals["items"][row["kind"]] += row["count"]
        totals["effort"][row["kind"]] += row["effort"]
        if row["currency"] == currency:
            totals["value"][row["kind"]] += row["value_at_risk"]
    return currency, totals


def _amount(item: ItemView, basis: str, currency: str) -> float:
    if basis == "items":
        return 1.0
    if basis == "effort":
        return float(item.effort)
    return item.value_at_risk if item.currency == currency else 0.0


def _gap_candidates(
    target: TargetMix,
    totals: dict[str, float],
    scored: dict[str, list[tuple[ItemView, Any]]],
    currency: str,
) -> tuple[dict[str, list[Candidate]], dict[str, int | None]]:
    """For each kind below its target share: its best-priority new or triaged items; the fewest of them that,
    once planned, would bring the kind up to its target are marked ``closes_gap``."""
    out: dict[str, list[Candidate]] = {}
    needed: dict[str, int | None] = {}
    whole = sum(totals.values())
    for kind in KINDS:
        share = target.shares[kind] / 100
        have = totals.get(kind, 0.0)
        if whole and have / whole >= share or (not whole and share == 0):
            continue
        added, grown, closing = 0.0, whole, []
        reached = False
        for item, _result in scored.get(kind, []):
            amount = _amount(item, target.basis, currency)
            if not reached and amount > 0:
                added += amount
                grown += amount
                reached = (have + added) / grown >= share - 1e-9 if grown else False
                closing.append(True)
            else:
                closing.append(False)
        out[kind] = [
            Candidate(item, result.method, result.formula, flag)
            for (item, result), flag in zip(scored.get(kind, []), closing, strict=True)
        ][:10]
        needed[kind] = sum(closing) if reached else None
    return out, needed


def _protected(item: ItemView) -> float:
    return item.value_protected if item.value_protected is not None else item.value_at_risk


def _money(breakdown: list[dict[str, Any]], done: list[ItemView]) -> list[MoneyRow]:
    sums: dict[tuple[str, str, str], list[float]] = {}

    def add(by: str, key: str, currency: str, index: int, amount: float) -> None:
        sums.setdefault((by, key, currency), [0.0, 0.0, 0.0])[index] += amount

    for row in breakdown:
        still = row["value_at_risk"] if row["status"] not in ("done", "dropped") else 0.0
        for by, key in (("kind", row["kind"]), ("owner", row["owner"] or "(unassigned)")):
            add(by, key, row["currency"], 0, row["value_at_risk"])
            add(by, key, row["currency"], 2, still)
    for item in done:
        for by, key in (("kind", item.kind), ("owner", item.owner or "(unassigned)")):
            add(by, key, item.currency, 1, _protected(item))
    order = {k: i for i, k in enumerate(KINDS)}
    rows = [MoneyRow(by, key, c, round(a, 2), round(p, 2), round(r, 2)) for (by, key, c), (a, p, r) in sums.items()]
    return sorted(rows, key=lambda r: (r.by != "kind", order.get(r.key, 9), -r.at_risk, r.key, r.currency))


def _credit(done: list[ItemView]) -> list[dict[str, Any]]:
    """Done items credited to the people who did them: items and money protected per currency."""
    people: dict[str, dict[str, Any]] = {}
    for item in done:
        person = people.setdefault(
            item.owner or "(unassigned)", {"owner": item.owner or "(unassigned)", "items": 0, "protected": {}}
        )
        person["items"] += 1
        person["protected"][item.currency] = round(person["protected"].get(item.currency, 0.0) + _protected(item), 2)
    return sorted(people.values(), key=lambda p: (-p["items"], p["owner"]))


# Setting the target and the weights ----------------------------------------------------------------


def parse_target(basis: object, shares: Mapping[str, object]) -> tuple[str, dict[str, int]]:
    """A target mix: a basis (items, effort, value) and three whole percentages that add up to 100."""
    text = str(basis or "items").strip().lower()
    if text not in BASES:
        raise DomainError(f"unknown basis {basis!r}: use items, effort or value", field="basis")
    out: dict[str, int] = {}
    for kind in KINDS:
        raw = shares.get(kind)
        try:
            number = float(str(raw).strip().rstrip("%"))
        except ValueError:
            raise DomainError(f"{kind} share must be a whole percentage, got {raw!r}", field=kind) from None
        if not math.isfinite(number) or number != int(number) or not 0 <= number <= 100:
            raise DomainError(f"{kind} share must be a whole percentage from 0 to 100, got {raw!r}", field=kind)
        out[kind] = int(number)
    if sum(out.values()) != 100:
        raise DomainError(
            f"the shares add up to {sum(out.values())}%, not 100% (kaizen {out['kaizen']}, kaikaku "
            f"{out['kaikaku']}, kakushin {out['kakushin']})",
            field="target",
        )
    return text, out


def set_target(
    session_factory: sessionmaker[Session],
    quarter: str,
    basis: object,
    shares: Mapping[str, object],
    *,
    actor: Actor | str,
) -> TargetMix:
    """A leader sets (or changes) the quarter's target mix; stored in SQL."""
    quarter = domain.parse_quarter(quarter)
    parsed_basis, parsed = parse_target(basis, shares)
    label = as_actor(actor).require(Action.LEAD)  # a leader's review setting
    now = datetime.now(UTC)

    def work(session: Session) -> TargetMix:
        portfolio.set_target(session, quarter, parsed_basis, parsed, actor=label, now=now)
        return TargetMix(quarter, parsed_basis, parsed, False, label, now)

    return run_in_transaction(session_factory, work)


def get_weights(session_factory: sessionmaker[Session]) -> Weights:
    with session_factory() as session:
        return portfolio.load_weights(session)


def set_weights(
    session_factory: sessionmaker[Session], kind: object, weights: Mapping[str, object], *, actor: Actor | str
) -> int:
    """A leader changes a formula's weights; every live item of that kind is rescored. Returns how many."""
    parsed_kind, parsed = parse_weights(kind, weights)
    label = as_actor(actor).require(Action.LEAD)  # a leader's review setting
    now = datetime.now(UTC)

    def work(session: Session) -> int:
        portfolio.set_weights(session, parsed_kind.value, parsed, actor=label, now=now)
        session.flush()
        return portfolio.rescore(session, parsed_kind.value, portfolio.load_weights(session))

    return run_in_transaction(session_factory, work)
