"""The rollup tables: reading them, and checking and rebuilding them against the items.

Database triggers (migration 0003) keep ``rollup_by_kind`` and ``rollup_by_owner`` equal to a GROUP BY
over the live items. Nothing in our code writes them except ``rebuild``, the repair for a database
whose triggers were bypassed (for example rows copied in with triggers disabled).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, delete, func, insert, select, text
from sqlalchemy.orm import Session

from db.models import Improvement, KindRollup, OwnerRollup

# Sums of money are compared to the cent; SQLite keeps them as floats.
_CENT = 0.005


def _kind_truth() -> Select[*tuple[Any, ...]]:
    i = Improvement
    return (
        select(
            i.quarter,
            i.kind,
            i.status,
            i.needs_review,
            i.currency,
            func.count(),
            func.coalesce(func.sum(i.value_at_risk), 0),
            func.coalesce(func.sum(i.customers_affected), 0),
        )
        .where(i.merged_into_id.is_(None))
        .group_by(i.quarter, i.kind, i.status, i.needs_review, i.currency)
    )


def _owner_truth() -> Select[*tuple[Any, ...]]:
    i = Improvement
    owner = func.coalesce(i.owner, "")
    return (
        select(i.quarter, owner, i.kind, i.status, func.count(), func.coalesce(func.sum(i.value_at_risk), 0))
        .where(i.merged_into_id.is_(None))
        .group_by(i.quarter, owner, i.kind, i.status)
    )


def _as_map(rows: Any, keys: int) -> dict[tuple[Any, ...], tuple[float, ...]]:
    """Key -> sums, leaving out keys whose sums are all zero (an emptied rollup row is not a difference)."""
    out: dict[tuple[Any, ...], tuple[float, ...]] = {}
    for row in rows:
        key = tuple(bool(v) if isinstance(v, bool) else v for v in row[:keys])
        sums = tuple(float(v or 0) for v in row[keys:])
        if any(abs(v) >= _CENT for v in sums):
            out[key] = sums
    return out


def _differences(
    stored: dict[tuple[Any, ...], tuple[float, ...]], truth: dict[tuple[Any, ...], tuple[float, ...]]
) -> list[tuple[Any, ...]]:
    zero = (0.0, 0.0, 0.0)
    return sorted(
        (key for key in stored.keys() | truth.keys() if _differ(stored.get(key, zero), truth.get(key, zero))),
        key=repr,
    )


def _differ(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return any(abs(x - y) >= _CENT for x, y in zip(a, b, strict=False))


def check(session: Session) -> dict[str, Any]:
    """Compare the rollups with a fresh GROUP BY over the items (reads every live item once)."""
    kind_rows = select(
        KindRollup.quarter,
        KindRollup.kind,
        KindRollup.status,
        KindRollup.needs_review,
        KindRollup.currency,
        KindRollup.item_count,
        KindRollup.value_at_risk,
        KindRollup.customers_affected,
    )
    owner_rows = select(
        OwnerRollup.quarter,
        OwnerRollup.owner,
        OwnerRollup.kind,
        OwnerRollup.status,
        OwnerRollup.item_count,
        OwnerRollup.value_at_risk,
    )
    kind_diff = _differences(_as_map(session.execute(kind_rows), 5), _as_map(session.execute(_kind_truth()), 5))
    owner_diff = _differences(_as_map(session.execute(owner_rows), 4), _as_map(session.execute(_owner_truth()), 4))
    return {
        "ok": not (kind_diff or owner_diff),
        "kind_rows_wrong": len(kind_diff),
        "owner_rows_wrong": len(owner_diff),
        "examples": [list(map(str, k)) for k in (kind_diff + owner_diff)[:5]],
    }


def rebuild(session: Session) -> None:
    """Recompute both rollups from the items, in the caller's transaction."""
    if session.get_bind().dialect.name == "postgresql":
        # Writers wait until the rebuild commits; otherwise their trigger deltas could land on rows we delete.
        session.execute(text("LOCK TABLE improvements IN SHARE MODE"))
    session.execute(delete(KindRollup))
    session.execute(delete(OwnerRollup))
    session.execute(
        insert(KindRollup).from_select(
            [
                "quarter",
                "kind",
                "status",
                "needs_review",
                "currency",
                "item_count",
                "value_at_risk",
                "customers_affected",
            ],
            _kind_truth(),
        )
    )
    session.execute(
        insert(OwnerRollup).from_select(
            ["quarter", "owner", "kind", "status", "item_count", "value_at_risk"], _owner_truth()
        )
    )
