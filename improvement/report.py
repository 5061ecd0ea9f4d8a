"""The quarterly review as a printable HTML report and as CSV tables. Every value is HTML-escaped."""

from __future__ import annotations

import io
from html import escape

from improvement.models import ItemView
from improvement.review import QuarterlyReview
from improvement.spreadsheet import SafeWriter


def _rows(items: list[ItemView]) -> str:
    return "".join(
        f"<tr><td>#{i.id}</td><td>{escape(i.title)}</td><td>{escape(i.kind)}</td><td>{escape(i.status)}</td>"
        f"<td>{escape(i.owner or '-')}</td><td class=num>{i.value_at_risk:,.0f}</td></tr>"
        for i in items
    )


def review_html(review: QuarterlyReview) -> str:
    kinds = "".join(
        f"<tr><td>{escape(k)}</td><td class=num>{n}</td><td class=num>{review.balance[k]:.0%}</td>"
        f"<td class=num>{review.change_by_kind[k]:+d}</td>"
        f"<td class=num>{review.value_at_risk_by_kind[k]:,.0f}</td></tr>"
        for k, n in review.counts_by_kind.items()
    )
    statuses = "".join(
        f"<tr><td>{escape(s)}</td><td class=num>{n}</td>"
        f"<td class=num>{review.value_at_risk_by_status[s]:,.0f}</td></tr>"
        for s, n in review.counts_by_status.items()
    )
    trend = "".join(
        f"<tr><td>{t['quarter']}</td><td class=num>{t['count_kaizen']}</td><td class=num>"
        f"{t['count_kaikaku']}</td><td class=num>{t['count_kakushin']}</td><td class=num>"
        f"{t['value_at_risk']:,.0f}</td></tr>"
        for t in review.trend
    )
    done = "".join(f"<li><b>{escape(i.owner or 'unassigned')}</b>: {escape(i.title)}</li>" for i in review.done)
    head = "<tr><th>#</th><th>Title</th><th>Kind</th><th>Status</th><th>Owner</th><th>Value at risk</th></tr>"
    money_at_risk = escape(review.value_at_risk_text())
    mixed = (
        " <em>Amounts in different currencies are not converted; the breakdowns below add them as plain numbers.</em>"
        if review.mixes_currencies
        else ""
    )
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Quarterly innovation backlog review {review.quarter}</title>
<style>body{{font-family:system-ui,sans-serif;margin:2rem;color:#222}}table{{border-collapse:collapse;margin:1rem 0}}
td,th{{border:1px solid #ccc;padding:.3rem .6rem;text-align:left}}.num{{text-align:right}}h1{{margin-bottom:0}}
@media print{{body{{margin:0}}}}</style></head><body>
<h1>Quarterly innovation backlog review: {review.quarter}</h1>
<p>{review.total_items} item(s); value at risk {money_at_risk}
(previous quarter {review.previous_value_at_risk_total:,.0f}); {review.needs_review_count} need review.{mixed}</p>
<h2>Balance of kaizen, kaikaku and kakushin</h2>
<table><tr><th>Kind</th><th>Items</th><th>Share</th><th>Change vs {review.previous_quarter}</th>
<th>Value at risk</th></tr>{kinds}</table>
<h2>Status</h2><table><tr><th>Status</th><th>Items</th><th>Value at risk</th></tr>{statuses}</table>
<h2>Done, and who did it</h2><ul>{done or "<li>Nothing done yet this quarter.</li>"}</ul>
<h2>Top problems by value at risk</h2><table>{head}{_rows(review.top_by_value)}</table>
<h2>Needs review</h2><table>{head}{_rows(review.needs_review)}</table>
<h2>Trend, last eight quarters</h2><table><tr><th>Quarter</th><th>Kaizen</th><th>Kaikaku</th><th>Kakushin</th>
<th>Value at risk</th></tr>{trend}</table></body></html>"""


def review_csv(review: QuarterlyReview) -> str:
    out = io.StringIO()
    writer = SafeWriter(out)  # no cell can act as a spreadsheet formula
    writer.writerow(["section", "key", "items", "value_at_risk"])
    for kind, n in review.counts_by_kind.items():
        writer.writerow(["kind", kind, n, review.value_at_risk_by_kind[kind]])
    for status, n in review.counts_by_status.items():
        writer.writerow(["status", status, n, review.value_at_risk_by_status[status]])
    for row in review.trend:
        writer.writerow(
            [
                "trend",
                row["quarter"],
                row["count_kaizen"] + row["count_kaikaku"] + row["count_kakushin"],
                row["value_at_risk"],
            ]
        )
    for owner in review.owners:
        writer.writerow(["owner", owner["owner"], owner["items"], owner["value_at_risk"]])
    return out.getvalue()
