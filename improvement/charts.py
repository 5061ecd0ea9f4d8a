"""The review's charts as Altair specifications, shared by the page and the printed report.

The three kinds always come in the same order (kaizen, kaikaku, kakushin) and the same colours, statuses
in their workflow order with a colour each; every bar carries its value and, where it means something,
its share, so the charts read on a projector and on paper. ``svg`` renders a chart with vl-convert (no
browser, nothing downloaded).
"""

from __future__ import annotations

from typing import Any

import altair as alt
import pandas as pd

from improvement.review import KINDS, QuarterlyReview

KIND_COLORS = {"kaizen": "#2E86AB", "kaikaku": "#E07A5F", "kakushin": "#81B29A"}
STATUS_LABELS = {
    "new": "New",
    "triaged": "Triaged",
    "planned": "Planned",
    "in_progress": "In progress",
    "done": "Done",
    "dropped": "Dropped",
}
STATUS_COLORS = {
    "New": "#9E9E9E",
    "Triaged": "#5C6BC0",
    "Planned": "#F2A541",
    "In progress": "#2E86AB",
    "Done": "#3D9970",
    "Dropped": "#C0392B",
}
KIND_SCALE = alt.Scale(domain=KINDS, range=[KIND_COLORS[k] for k in KINDS])
STATUS_SCALE = alt.Scale(domain=list(STATUS_COLORS), range=list(STATUS_COLORS.values()))
FONT = "DejaVu Sans"


def money_text(amount: float, currency: str = "") -> str:
    """1.2 M EUR, 85 k EUR, 900 EUR: money as a leader reads it on a slide."""
    for size, suffix in ((1e9, " bn"), (1e6, " M"), (1e3, " k")):
        if abs(amount) >= size:
            return f"{amount / size:,.1f}{suffix} {currency}".strip()
    return f"{amount:,.0f} {currency}".strip()


def _kind_sort() -> list[str]:
    return list(KINDS)


def _style(chart: Any, width: int, height: int) -> Any:
    return (
        chart.properties(width=width, height=height)
        .configure_axis(labelFont=FONT, titleFont=FONT, labelFontSize=12, titleFontSize=12)
        # labelLimit 0: a legend label is never cut short ("2026-Q4 to date (25 No…").
        .configure_legend(labelFont=FONT, titleFont=FONT, labelFontSize=12, orient="bottom", labelLimit=0)
        .configure_text(font=FONT)
        .configure_view(stroke=None)
    )


def mix_chart(review: QuarterlyReview, *, width: int = 460, height: int = 170) -> Any:
    """Target against actual share for each kind, on the target's basis, with the percentages on the bars."""
    target = review.target
    assert target is not None
    actual = review.actual_mix.get(target.basis, dict.fromkeys(KINDS, 0.0))
    label_target = "target (starting point)" if target.is_default else "target"
    rows = []
    for kind in KINDS:
        rows.append({"kind": kind, "series": label_target, "share": target.shares[kind] / 100})
        rows.append({"kind": kind, "series": "actual", "share": actual[kind]})
    data = pd.DataFrame(rows)
    base = alt.Chart(data).encode(
        y=alt.Y("kind:N", sort=_kind_sort(), title=None),
        yOffset=alt.YOffset("series:N", sort=[label_target, "actual"]),
        x=alt.X("share:Q", axis=alt.Axis(format="%"), title=None, scale=alt.Scale(domain=[0, 1])),
    )
    bars = base.mark_bar().encode(
        color=alt.Color("kind:N", scale=KIND_SCALE, legend=None),
        opacity=alt.Opacity(
            "series:N", scale=alt.Scale(domain=[label_target, "actual"], range=[0.35, 1.0]), title=None
        ),
        tooltip=["kind", "series", alt.Tooltip("share:Q", format=".0%")],
    )
    labels = base.mark_text(align="left", dx=3, fontSize=11).encode(text=alt.Text("share:Q", format=".0%"))
    return _style(alt.layer(bars, labels), width, height)


def balance_chart(review: QuarterlyReview, *, width: int = 460, height: int = 250) -> Any:
    """Items of each kind in this quarter and the previous one, with the count and the share on each bar."""
    this_label = review.label
    previous_total = sum(review.previous_counts_by_kind.values())
    rows = []
    for kind in KINDS:
        n = review.counts_by_kind[kind]
        rows.append({"kind": kind, "period": this_label, "items": n, "share": review.balance[kind]})
        p = review.previous_counts_by_kind[kind]
        rows.append(
            {
                "kind": kind,
                "period": f"{review.previous_quarter} (full)",
                "items": p,
                "share": p / previous_total if previous_total else 0.0,
            }
        )
    data = pd.DataFrame(rows)
    order = [this_label, f"{review.previous_quarter} (full)"]
    base = alt.Chart(data).encode(
        y=alt.Y("kind:N", sort=_kind_sort(), title=None),
        yOffset=alt.YOffset("period:N", sort=order),
        x=alt.X("items:Q", title="items"),
    )
    bars = base.mark_bar().encode(
        color=alt.Color("kind:N", scale=KIND_SCALE, legend=None),
        # One period a row: "2026-Q4 to date (25 Nov 2026)" beside "2026-Q3 (full)" is wider than the chart.
        opacity=alt.Opacity(
            "period:N", scale=alt.Scale(domain=order, range=[1.0, 0.4]), title=None, legend=alt.Legend(columns=1)
        ),
        tooltip=["kind", "period", "items", alt.Tooltip("share:Q", format=".0%")],
    )
    labels = (
        base.mark_text(align="left", dx=3, fontSize=11)
        .encode(text="label:N")
        .transform_calculate(label="format(datum.items, ',') + ' (' + format(datum.share, '.0%') + ')'")
    )
    return _style(alt.layer(bars, labels), width, height)


def value_by_kind_chart(review: QuarterlyReview, *, width: int = 460, height: int = 120) -> Any:
    """Value at risk by kind in the main currency, with the amount and the share on each bar."""
    currency = review.mix_currency or (review.currencies[0] if review.currencies else "")
    kinds = [r for r in review.money if r.by == "kind" and r.currency == currency]
    total = sum(r.at_risk for r in kinds)
    rows = [
        {
            "kind": r.key,
            "value": r.at_risk,
            "label": money_text(r.at_risk, r.currency) + (f" ({r.at_risk / total:.0%})" if total else ""),
        }
        for r in kinds
    ]
    data = pd.DataFrame(rows or [{"kind": k, "value": 0.0, "label": "0"} for k in KINDS])
    base = alt.Chart(data).encode(
        y=alt.Y("kind:N", sort=_kind_sort(), title=None),
        x=alt.X("value:Q", title=f"value at risk ({currency})" if currency else "value at risk"),
    )
    bars = base.mark_bar().encode(color=alt.Color("kind:N", scale=KIND_SCALE, legend=None), tooltip=["kind", "label"])
    labels = base.mark_text(align="left", dx=3, fontSize=11).encode(text="label:N")
    return _style(alt.layer(bars, labels), width, height)


def status_chart(review: QuarterlyReview, *, width: int = 460, height: int = 200) -> Any:
    """Items by status in workflow order, one colour per status, the count and share on each bar."""
    total = sum(review.counts_by_status.values())
    rows = [
        {
            "status": STATUS_LABELS[s],
            "items": n,
            "label": f"{n:,} ({n / total:.0%})" if total else "0",
        }
        for s, n in review.counts_by_status.items()
    ]
    data = pd.DataFrame(rows)
    base = alt.Chart(data).encode(
        y=alt.Y("status:N", sort=list(STATUS_LABELS.values()), title=None), x=alt.X("items:Q", title="items")
    )
    bars = base.mark_bar().encode(
        color=alt.Color("status:N", scale=STATUS_SCALE, legend=None), tooltip=["status", "items"]
    )
    labels = base.mark_text(align="left", dx=3, fontSize=11).encode(text="label:N")
    return _style(alt.layer(bars, labels), width, height)


def money_chart(review: QuarterlyReview, *, width: int = 460, height: int = 230) -> Any:
    """Per kind, in the main currency: protected by items done in the quarter against still at risk."""
    currency = review.mix_currency or (review.currencies[0] if review.currencies else "")
    rows = []
    for r in review.money:
        if r.by == "kind" and r.currency == currency:
            rows.append({"kind": r.key, "money": "protected", "value": r.protected})
            rows.append({"kind": r.key, "money": "still at risk", "value": r.still_at_risk})
    data = pd.DataFrame(rows or [{"kind": k, "money": "still at risk", "value": 0.0} for k in KINDS])
    data["label"] = [money_text(v, currency) for v in data["value"]]
    order = ["protected", "still at risk"]
    base = alt.Chart(data).encode(
        y=alt.Y("kind:N", sort=_kind_sort(), title=None),
        yOffset=alt.YOffset("money:N", sort=order),
        x=alt.X("value:Q", title=currency or "value"),
    )
    bars = base.mark_bar().encode(
        color=alt.Color("kind:N", scale=KIND_SCALE, legend=None),
        opacity=alt.Opacity("money:N", scale=alt.Scale(domain=order, range=[1.0, 0.35]), title=None),
        tooltip=["kind", "money", "label"],
    )
    labels = (
        base.mark_text(align="left", dx=3, fontSize=10)
        .encode(text="text:N")
        .transform_calculate(text="datum.money + ' ' + datum.label")
    )
    return _style(alt.layer(bars, labels), width, height)


def trend_chart(review: QuarterlyReview, *, width: int = 900, height: int = 260) -> Any:
    """Items of each kind over the last eight quarters, stacked in the fixed order, the count in each block."""
    rows = []
    for t in review.trend:
        below = 0
        for order, k in enumerate(KINDS):
            n = t[f"count_{k}"]
            rows.append({"quarter": t["quarter"], "kind": k, "items": n, "order": order, "middle": below + n / 2})
            below += n
    data = pd.DataFrame(rows)
    quarters = [t["quarter"] for t in review.trend]
    bars = (
        alt.Chart(data)
        .mark_bar()
        .encode(
            x=alt.X("quarter:N", title=None, sort=quarters, axis=alt.Axis(labelAngle=0)),
            y=alt.Y("items:Q", title="items", stack="zero"),
            color=alt.Color("kind:N", scale=KIND_SCALE, sort=_kind_sort(), title=None),
            order=alt.Order("order:Q"),
            tooltip=["quarter", "kind", "items"],
        )
    )
    labels = (
        alt.Chart(data)
        .transform_filter("datum.items > 0")
        .mark_text(fontSize=10, color="white")
        .encode(x=alt.X("quarter:N", sort=quarters), y="middle:Q", text=alt.Text("items:Q", format=","))
    )
    return _style(alt.layer(bars, labels), width, height)


def svg(chart: Any) -> str:
    """The chart as SVG text, rendered in-process by vl-convert."""
    import vl_convert as vlc

    return str(vlc.vegalite_to_svg(chart.to_dict()))
