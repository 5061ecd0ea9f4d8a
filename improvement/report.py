"""The quarterly review for the meeting: printable HTML with SVG charts, PDF (WeasyPrint), and CSV of the items.

Every value from users is HTML-escaped; long titles are cut with an ellipsis (the whole title stays in
the cell's tooltip in HTML). Charts are the page's own Altair charts rendered to SVG by vl-convert, so the
paper shows the same kinds in the same order and colours as the screen.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Iterator
from datetime import UTC, datetime
from html import escape
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from db import portfolio
from improvement import domain
from improvement.domain import DomainError
from improvement.models import ItemView
from improvement.review import BASES, KINDS, MoneyRow, QuarterlyReview
from improvement.spreadsheet import SafeDictWriter

TITLE_CHARS = 70
DONE_ROWS_IN_PRINT = 100
STATUS_LABELS = {
    "new": "New",
    "triaged": "Triaged",
    "planned": "Planned",
    "in_progress": "In progress",
    "done": "Done",
    "dropped": "Dropped",
}


def cut(text: str, limit: int = TITLE_CHARS) -> str:
    """At most ``limit`` characters; a cut title ends with an ellipsis."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _title(item: ItemView, limit: int = TITLE_CHARS) -> str:
    return f'<span title="{escape(item.title)}">{escape(cut(item.title, limit))}</span>'


def _money(amount: float, currency: str) -> str:
    return f"{amount:,.0f} {escape(currency)}"


def _kind(kind: str) -> str:
    return f'<span class="kind {escape(kind)}">{escape(kind)}</span>'


def _items_table(items: list[ItemView], *, empty: str, extra: str = "") -> str:
    if not items:
        return f"<p class=muted>{escape(empty)}</p>"
    head = (
        "<tr><th class=id>#</th><th>Title</th><th class=k>Kind</th><th class=s>Status</th><th class=o>Owner</th>"
        f"<th class=num>Value at risk</th>{'<th class=num>Confidence</th>' if extra == 'confidence' else ''}</tr>"
    )
    rows = "".join(
        f"<tr><td class=id>{i.id}</td><td>{_title(i)}</td><td>{_kind(i.kind)}</td>"
        f"<td>{escape(STATUS_LABELS.get(i.status, i.status))}</td><td>{escape(cut(i.owner or '-', 24))}</td>"
        f"<td class=num>{_money(i.value_at_risk, i.currency)}</td>"
        f"{f'<td class=num>{i.confidence:.0%}</td>' if extra == 'confidence' else ''}</tr>"
        for i in items
    )
    return f"<table class=items>{head}{rows}</table>"


def _money_rows(rows: list[MoneyRow], first: str) -> str:
    body = "".join(
        f"<tr><td>{_kind(r.key) if r.by == 'kind' else escape(cut(r.key, 30))}</td><td>{escape(r.currency)}</td>"
        f"<td class=num>{r.at_risk:,.0f}</td><td class=num>{r.protected:,.0f}</td>"
        f"<td class=num>{r.still_at_risk:,.0f}</td></tr>"
        for r in rows
    )
    return (
        f"<table><tr><th>{first}</th><th>Currency</th><th class=num>At risk</th>"
        f"<th class=num>Protected by done items</th><th class=num>Still at risk</th></tr>{body}</table>"
    )


def _charts(review: QuarterlyReview) -> dict[str, str]:
    from improvement import charts

    return {
        "mix": charts.svg(charts.mix_chart(review)),
        "balance": charts.svg(charts.balance_chart(review)),
        "status": charts.svg(charts.status_chart(review)),
        "value": charts.svg(charts.value_by_kind_chart(review)),
        "money": charts.svg(charts.money_chart(review)),
        "trend": charts.svg(charts.trend_chart(review, width=620)),
    }


CSS = """
@page { size: A4; margin: 14mm 12mm 16mm 12mm;
        @bottom-right { content: "page " counter(page) " of " counter(pages); font-size: 8pt; color: #666; } }
body { font-family: "DejaVu Sans", system-ui, sans-serif; font-size: 9.5pt; color: #222; margin: 0; }
h1 { font-size: 17pt; margin: 0 0 2mm 0; } h2 { font-size: 12.5pt; margin: 6mm 0 2mm 0; break-after: avoid; }
h3 { font-size: 10.5pt; margin: 3mm 0 1mm 0; break-after: avoid; }
p { margin: 1mm 0 2mm 0; } .muted { color: #666; } .note { color: #555; font-size: 8.5pt; }
table { border-collapse: collapse; margin: 1mm 0 3mm 0; width: 100%; table-layout: fixed; }
td, th { border-bottom: 1px solid #ddd; padding: 1mm 1.5mm; text-align: left; vertical-align: top;
         overflow: hidden; white-space: nowrap; text-overflow: ellipsis; }
th { background: #f3f3f3; font-weight: bold; white-space: normal; } .num { text-align: right; }
tr { break-inside: avoid; }
table.items th.id, table.items td.id { width: 13mm; } table.items .k { width: 18mm; } table.items .s { width: 20mm; }
table.items .o { width: 30mm; } table.items th.num { width: 26mm; }
.kind { font-weight: bold; } .kaizen { color: #2E86AB; } .kaikaku { color: #E07A5F; } .kakushin { color: #5E9C7E; }
.gap-neg { color: #C0392B; } .gap-pos { color: #3D9970; }
.chart { break-inside: avoid; margin: 1mm 0 2mm 0; } .chart svg { max-width: 100%; height: auto; }
.formula { font-family: "DejaVu Sans Mono", monospace; font-size: 8pt; white-space: normal; }
.section { break-inside: auto; }
@media screen { body { margin: 2rem auto; max-width: 60rem; } }
"""


def review_html(review: QuarterlyReview, *, charts: bool = True, generated: datetime | None = None) -> str:
    """The review as one self-contained HTML page (inline SVG charts), ready to print or to turn into a PDF."""
    generated = generated or datetime.now(UTC)
    svgs = _charts(review) if charts else {}
    has_items = bool(review.total_items or review.done_in_quarter)
    has_trend = any(t[f"count_{k}"] for t in review.trend for k in KINDS)
    committed_any = any(review.committed_totals.get("items", {}).values())
    target = review.target
    assert target is not None
    basis_words = BASES[target.basis]
    actual = review.actual_mix.get(target.basis, dict.fromkeys(KINDS, 0.0))
    mix_rows = "".join(
        f"<tr><td>{_kind(k)}</td><td class=num>{target.shares[k]}%</td><td class=num>{actual[k]:.0%}</td>"
        f"<td class='num {'gap-neg' if review.gap[k] > 0.5 else 'gap-pos' if review.gap[k] < -0.5 else ''}'>"
        f"{-review.gap[k]:+.0f} pts</td>"
        f"<td class=num>{_committed_amount(review, target.basis, k)}</td></tr>"
        for k in KINDS
    )
    if target.is_default:
        target_note = (
            "No target has been set for this quarter: 70 / 20 / 10 is shown as a <b>starting point</b> only; "
            "a leader sets the quarter's own target on the review page or with <code>backlog target</code>."
        )
    else:
        when = f" on {target.set_at:%d %b %Y}" if target.set_at else ""
        target_note = f"Target set by {escape(target.set_by or 'a leader')}{when}."
    value_note = (
        f" Value shares count {escape(review.mix_currency)} amounts only; other currencies are never added in."
        if target.basis == "value" and len(review.currencies) > 1
        else ""
    )
    gap_sections = []
    for kind, candidates in review.candidates.items():
        if not candidates and not committed_any:
            continue
        if not candidates:
            gap_sections.append(
                f"<h3>{_kind(kind)}: below target, and no new or triaged {escape(kind)} item to plan</h3>"
            )
            continue
        needed = review.needed.get(kind)
        if needed is None:
            how = "Planning the items below would narrow the gap, not close it"
        elif needed <= len(candidates):
            how = f"Planning the {needed} marked item(s) would close the gap"
        else:
            how = f"Planning the {needed} best waiting items (the first {len(candidates)} below) would close the gap"
        rows = "".join(
            f"<tr><td class=id>{c.item.id}</td><td>{_title(c.item, 60)}</td>"
            f"<td class=s>{escape(STATUS_LABELS.get(c.item.status, c.item.status))}</td>"
            f"<td class=num>{_money(c.item.value_at_risk, c.item.currency)}</td>"
            f"<td class=num>{c.item.priority:.2f}</td><td class=mark>{'✔' if c.closes_gap else ''}</td></tr>"
            for c in candidates
        )
        gap_sections.append(
            f"<h3>{_kind(kind)}: {review.gap[kind]:.0f} pts below target. {how}</h3>"
            f"<p class='note formula'>{escape(candidates[0].method)}: "
            f"{escape(review.formulas[kind])}</p>"
            "<table class=items><tr><th class=id>#</th><th>Title</th><th class=s>Status</th>"
            "<th class=num>Value at risk</th><th class=num>Priority</th><th class=mark style='width:8mm'></th></tr>"
            f"{rows}</table>"
        )
    gaps = "".join(gap_sections) or (
        "<p>Every kind is at or above its target share.</p>"
        if committed_any or not review.candidates
        else "<p>Nothing is planned, in progress or done yet, and no new or triaged item is waiting.</p>"
    )

    money_totals = review.money_totals()
    money_at_risk = " + ".join(_money(r.at_risk, r.currency) for r in money_totals) or "0"
    protected = " + ".join(_money(r.protected, r.currency) for r in money_totals) or "0"
    still = " + ".join(_money(r.still_at_risk, r.currency) for r in money_totals) or "0"
    kind_money = [r for r in review.money if r.by == "kind"]
    owner_money = [r for r in review.money if r.by == "owner"][:15]

    credit_rows = "".join(
        f"<tr><td>{escape(cut(p['owner'], 40))}</td><td class=num>{p['items']}</td>"
        f"<td class=num>{' + '.join(_money(v, c) for c, v in p['protected'].items())}</td></tr>"
        for p in review.done_credit
    )
    done_shown = review.done_in_quarter[:DONE_ROWS_IN_PRINT]
    done_rows = "".join(
        f"<tr><td class=id>{i.id}</td><td>{_title(i, 60)}</td><td>{_kind(i.kind)}</td>"
        f"<td>{escape(cut(i.owner or '(unassigned)', 24))}</td>"
        f"<td class=num>{f'{i.done_at:%d %b}' if i.done_at else ''}</td>"
        f"<td class=num>{_money(i.value_protected if i.value_protected is not None else i.value_at_risk, i.currency)}"
        "</td></tr>"
        for i in done_shown
    )
    more_done = len(review.done_in_quarter) - len(done_shown)
    done_note = (
        f"<p class=note>… and {more_done:,} more done item(s): the CSV export of the review lists every one.</p>"
        if more_done > 0
        else ""
    )
    done_block = (
        "<table><tr><th>Owner</th><th class=num>Items done</th><th class=num>Money protected</th></tr>"
        f"{credit_rows}</table>"
        "<table class=items><tr><th class=id>#</th><th>Title</th><th class=k>Kind</th><th class=o>Owner</th>"
        "<th class=num style='width:16mm'>Done</th><th class=num>Protected</th></tr>"
        f"{done_rows}</table>{done_note}"
        if review.done_in_quarter
        else f"<p class=muted>Nothing was marked done in {escape(review.label)}.</p>"
    )
    trend_rows = "".join(
        f"<tr><td>{t['quarter']}</td><td class=num>{t['count_kaizen']:,}</td><td class=num>{t['count_kaikaku']:,}"
        f"</td><td class=num>{t['count_kakushin']:,}</td></tr>"
        for t in review.trend
    )
    previous = f"{review.previous_quarter} (full quarter)" if review.running else review.previous_quarter

    def chart(name: str) -> str:
        return f"<div class=chart>{svgs[name]}</div>" if name in svgs else ""

    money_block = (
        f"{chart('money')}<h3>By kind</h3>{_money_rows(kind_money, 'Kind')}"
        f"<h3>By owner</h3>{_money_rows(owner_money, 'Owner')}"
        if has_items
        else ""
    )
    balance_block = (
        f"<h2>Balance, status and value at risk</h2><p class=note>{escape(review.label)} against "
        f"{escape(previous)}.</p>{chart('balance')}{chart('status')}{chart('value')}"
        if review.total_items
        else ""
    )
    formulas = "".join(f"<li>{_kind(k)}: <span class=formula>{escape(review.formulas[k])}</span></li>" for k in KINDS)
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Quarterly innovation backlog review {escape(review.label)}</title><style>{CSS}</style></head><body>
<h1>Quarterly innovation backlog review: {escape(review.label)}</h1>
<p>{review.total_items:,} item(s) in {escape(review.quarter)}; value at risk {money_at_risk};
{len(review.done_in_quarter):,} done in the quarter; {review.needs_review_count:,} need review.
<span class=note>Generated {generated:%d %b %Y %H:%M} UTC.</span></p>

<h2>The mix against the target</h2>
<p>Basis: <b>{escape(basis_words)}</b> of the committed work (planned, in progress, done). {target_note}{value_note}</p>
<table><tr><th>Kind</th><th class=num>Target</th><th class=num>Actual</th><th class=num>Actual − target</th>
<th class=num>Committed</th></tr>{mix_rows}</table>
{chart("mix")}

<h2>Items that would close the gap</h2>
<p class=note>The highest-priority new or triaged items of each kind below its target share, by the priority that
fits the kind. ✔ marks the fewest that, once planned, would bring the kind up to its target.</p>
{gaps}

<h2>The money</h2>
<p>At risk in the quarter's items: <b>{money_at_risk}</b>; protected by items done in the quarter:
<b>{protected}</b>; still at risk (not done, not dropped): <b>{still}</b>. Currencies are never added together.</p>
{money_block}

{balance_block}

<h2>Done in {escape(review.label)}, and who did it</h2>
<p class=note>Credited to the quarter in which each item was marked done.</p>
{done_block}

<h2>Top problems by value at risk</h2>
{_items_table(review.top_by_value, empty="No items in this quarter.")}

<h2>Needs review ({review.needs_review_count:,})</h2>
{_items_table(review.needs_review, empty="Nothing needs review.", extra="confidence")}

<h2>Trend over the last eight quarters</h2>
{chart("trend") if has_trend else "<p class=muted>No items in the last eight quarters.</p>"}
<table><tr><th>Quarter</th><th class=num>Kaizen</th><th class=num>Kaikaku</th><th class=num>Kakushin</th></tr>
{trend_rows}</table>

<h2>How priority is worked out</h2>
<ul>{formulas}</ul>
</body></html>"""


def _committed_amount(review: QuarterlyReview, basis: str, kind: str) -> str:
    amount = review.committed_totals.get(basis, {}).get(kind, 0.0)
    if basis == "items":
        return f"{amount:,.0f} item(s)"
    if basis == "effort":
        return f"{amount:,.0f} effort points"
    return _money(amount, review.mix_currency)


@functools.cache
def pdf_unavailable() -> str | None:
    """Why PDFs cannot be made here (WeasyPrint cannot load the system's Pango), or None when they can."""
    try:
        import weasyprint  # noqa: F401
    except OSError as error:
        return (
            "the PDF report needs the Pango library (Debian: apt-get install libpango-1.0-0 libpangoft2-1.0-0): "
            f"{str(error).splitlines()[0]}"
        )
    except ImportError:  # an environment installed without the lock: say so instead of failing the page
        return "WeasyPrint is not installed (install the project from requirements/app.lock)"
    return None


def review_pdf(review: QuarterlyReview) -> bytes:
    """The printable report as PDF bytes (WeasyPrint; needs the system's Pango library)."""
    problem = pdf_unavailable()
    if problem:
        raise DomainError(problem)
    from weasyprint import HTML

    return bytes(HTML(string=review_html(review)).write_pdf())


ITEM_COLUMNS = [
    "id",
    "title",
    "kind",
    "status",
    "quarter",
    "owner",
    "value_at_risk",
    "currency",
    "value_protected",
    "customers_affected",
    "effort",
    "impact",
    "urgency",
    "risk_reduction",
    "reach",
    "rice_confidence",
    "priority",
    "needs_review",
    "confidence",
    "done_at",
]


def quarter_item_rows(session_factory: sessionmaker[Session], quarter: str) -> Iterator[dict[str, Any]]:
    """One row per live item of the quarter, plus every item done in it that was planned for another quarter."""
    quarter = domain.parse_quarter(quarter)
    start, end = domain.quarter_bounds(quarter)
    with session_factory() as session:
        for row in portfolio.quarter_items(session, quarter, start, end):
            yield {
                name: (
                    getattr(row, name).isoformat()
                    if name == "done_at" and row.done_at is not None
                    else getattr(row, name)
                )
                for name in ITEM_COLUMNS
            }


def review_csv(session_factory: sessionmaker[Session], quarter: str) -> str:
    """The quarter's items, one row each (not a summary): what a leader filters and pivots after the meeting."""
    out = io.StringIO()
    writer = SafeDictWriter(out, ITEM_COLUMNS)  # no cell can act as a spreadsheet formula (OWASP)
    writer.writeheader()
    for row in quarter_item_rows(session_factory, quarter):
        writer.writerow(row)
    return out.getvalue()
