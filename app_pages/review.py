"""The quarterly innovation backlog review, for leaders: the mix against the target and what would close the
gap, priority by kind, the money, progress and the people who made it, trends; PDF, HTML and CSV downloads."""

from datetime import UTC, datetime

import pandas as pd
import streamlit as st

from app_pages.common import actor, backend, money, safe
from improvement import charts
from improvement.delivery import loop_metrics
from improvement.domain import DomainError, quarter_of
from improvement.prioritisation import METHOD, WEIGHT_NAMES
from improvement.report import pdf_unavailable, review_csv, review_html, review_pdf
from improvement.review import BASES, DEFAULT_TARGET, KINDS, get_weights, quarterly_review, set_target, set_weights

STATUS = charts.STATUS_LABELS

st.title(":material/insights: Quarterly innovation backlog review")
sessions = backend().sessions
service = backend().backlog(with_models=False)
current = quarter_of(datetime.now(UTC))
quarters = sorted(set(service.distinct("quarter")) | {current}, reverse=True)
quarter = st.selectbox("Quarter", quarters, index=quarters.index(current), key="review_quarter")
review = quarterly_review(sessions, quarter)
target = review.target
assert target is not None
if review.running:
    st.caption(
        f"**{review.label}**: the quarter is still running, so its figures are to date; "
        f"{review.previous_quarter} is a full quarter."
    )

cols = st.columns(4)
cols[0].metric("Items", f"{review.total_items:,}")
if review.mixes_currencies:
    # A metric has room for one amount: the largest currency's; the caption below lists them all.
    main_currency, main_amount = max(review.value_at_risk_by_currency.items(), key=lambda pair: pair[1])
    cols[1].metric(
        f"Value at risk ({len(review.value_at_risk_by_currency)} currencies)", money(main_amount, main_currency)
    )
else:
    change = review.value_at_risk_total - review.previous_value_at_risk_total
    cols[1].metric(
        "Value at risk",
        review.value_at_risk_text(money),
        # No change, no delta: "0 vs 2026-Q3" drew a red rising arrow on an empty quarter.
        delta=f"{money(change, '')} vs {review.previous_quarter}" if change else None,
        delta_color="inverse",
    )
cols[2].metric(
    "Marked done in the quarter",
    f"{len(review.done_in_quarter):,}",
    help="Every item marked done during the quarter, whichever quarter it was planned for. The status chart "
    "below counts the quarter's own items by their status today.",
)
cols[3].metric("Needs review", f"{review.needs_review_count:,}")

if review.mixes_currencies:
    st.caption(
        f"Value at risk by currency: {review.value_at_risk_text(money)}. Amounts are never added across "
        f"currencies: the value charts show {review.mix_currency} only."
    )
if review.total_items == 0:
    st.info(f"No backlog items in {quarter} yet. Log problems on the first page, or choose another quarter.")

# The mix against the target ---------------------------------------------------------------------------
st.subheader("The mix against the target")
actual = review.actual_mix[target.basis]
if target.is_default:
    st.caption(
        "No target set for this quarter yet: **70 / 20 / 10 is a starting point**, not a rule. Set your own below."
    )
else:
    st.caption(
        f"Target set by {safe(target.set_by)}"
        + (f" on {target.set_at:%d %b %Y}" if target.set_at else "")
        + f". Basis: {BASES[target.basis]} of the committed work (planned, in progress, done)."
    )
left, right = st.columns([3, 2])
with left:
    st.altair_chart(charts.mix_chart(review, width=420, height=200), width="content")
with right:
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "kind": k,
                    "target": f"{target.shares[k]}%",
                    "actual": f"{actual[k]:.0%}",
                    "actual − target": f"{-review.gap[k]:+.0f} pts",
                }
                for k in KINDS
            ]
        ),
        hide_index=True,
        width="stretch",
    )

with st.expander("Set the target mix for " + quarter, icon=":material/tune:"):
    with st.form(f"target_form_{quarter}"):
        basis = st.selectbox(
            "Shares of",
            list(BASES),
            index=list(BASES).index(target.basis),
            format_func=lambda b: BASES[b],
            key=f"target_basis_{quarter}",
        )
        share_cols = st.columns(3)
        shares = {
            k: share_cols[i].number_input(
                f"{k} %",
                0,
                100,
                target.shares[k] if not target.is_default else DEFAULT_TARGET[k],
                step=5,
                key=f"target_{k}_{quarter}",
            )
            for i, k in enumerate(KINDS)
        }
        if st.form_submit_button("Save the target", icon=":material/flag:"):
            try:
                set_target(sessions, quarter, basis, shares, actor=actor())
            except DomainError as error:
                st.error(str(error))
            else:
                st.session_state["review_notice"] = f"Target for {quarter} saved."
                st.rerun()
if notice := st.session_state.pop("review_notice", None):
    st.success(notice)

# Items that would close the gap ------------------------------------------------------------------------
st.subheader("Items that would close the gap")
committed_any = any(review.committed_totals.get("items", {}).values())
if not review.candidates:
    st.caption("Every kind is at or above its target share.")
elif not committed_any and not any(review.candidates.values()):
    st.caption("Nothing is planned, in progress or done yet, and no new or triaged item is waiting to be planned.")
for kind, candidates in review.candidates.items():
    if not candidates and not committed_any:
        continue
    needed = review.needed.get(kind)
    if needed is None:
        how = f": planning its best waiting items would narrow the gap, not close it (more {kind} work is needed)."
    elif needed <= len(candidates):
        how = f": planning the {needed} ticked item(s) would close the gap."
    else:
        how = f": planning the {needed} best new or triaged items (the first {len(candidates)} shown) would close it."
    st.markdown(
        f"**{kind}** is {review.gap[kind]:.0f} pts below its target"
        + (how if candidates else f", and no new or triaged {kind} item is waiting.")
    )
    if candidates:
        st.caption(f"{METHOD[kind]}: {review.formulas[kind]}")  # type: ignore[index]
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        "closes gap": c.closes_gap,
                        "id": c.item.id,
                        "title": c.item.title,
                        "status": STATUS[c.item.status],
                        "owner": c.item.owner or "",
                        "value at risk": c.item.value_at_risk,
                        "priority": c.item.priority,
                        "how": c.formula,
                    }
                    for c in candidates
                ]
            ),
            hide_index=True,
            width="stretch",
            column_config={
                "closes gap": st.column_config.CheckboxColumn(width="small"),
                "id": st.column_config.NumberColumn(width="small", format="%d"),
                "title": st.column_config.TextColumn(width="large"),
                "value at risk": st.column_config.NumberColumn(format="%,.0f"),
                "priority": st.column_config.NumberColumn(format="%.2f", width="small"),
                "how": st.column_config.TextColumn("formula with this item's inputs", width="medium"),
            },
            key=f"gap_{kind}",
        )

with st.expander("Priority inputs of an item", icon=":material/calculate:"):
    st.caption(
        "Each kind is ranked by its own formula: kaizen as a quick win, kaikaku by WSJF (cost of delay over "
        "job size), kakushin by RICE. Change an item's inputs and its priority is recomputed."
    )
    item_id = st.number_input("Item id", min_value=1, step=1, value=None, key="prio_item")
    if item_id:
        try:
            detail = service.get_item(int(item_id)).item
        except DomainError as error:
            st.error(str(error))
        else:
            st.markdown(f"**#{detail.id} {safe(detail.title)}**: {detail.kind}, priority {detail.priority:.2f}")
            with st.form(f"prio_form_{detail.id}_{detail.version}"):
                c = st.columns(3)
                values = {
                    "effort": c[0].number_input("Effort / job size (1-5)", 1, 5, detail.effort),
                    "impact": c[1].number_input("Impact (1-5)", 1, 5, detail.impact),
                    "value_protected": c[2].number_input(
                        "Money protected by the outcome", 0.0, value=detail.value_protected, step=100.0
                    ),
                    "urgency": c[0].number_input("WSJF urgency (1-5)", 1, 5, detail.urgency),
                    "risk_reduction": c[1].number_input("WSJF risk reduction (1-5)", 1, 5, detail.risk_reduction),
                    "reach": c[2].number_input("RICE reach (customers)", 0, value=detail.reach),
                    "rice_confidence": c[0].number_input("RICE confidence (%)", 0, 100, detail.rice_confidence),
                }
                if st.form_submit_button("Save the inputs"):
                    changes = {k: ("" if v is None else v) for k, v in values.items()}
                    try:
                        saved = service.update_item(detail.id, changes, actor=actor(), expected_version=detail.version)
                    except DomainError as error:
                        st.error(str(error))
                    else:
                        st.session_state["review_notice"] = f"Item {saved.id} saved: priority {saved.priority:.2f}."
                        st.rerun()

with st.expander("Priority weights", icon=":material/balance:"):
    weights = get_weights(sessions)
    for kind in KINDS:
        with st.form(f"weights_{kind}"):
            st.markdown(f"**{kind}**: {METHOD[kind]}")  # type: ignore[index]
            current_weights = weights.of(kind)
            names = WEIGHT_NAMES[kind]  # type: ignore[index]
            wcols = st.columns(len(names))
            new = {
                name: wcols[i].number_input(
                    label, 0.0, 10.0, float(current_weights[name]), step=0.5, key=f"w_{kind}_{name}"
                )
                for i, (name, (_, label)) in enumerate(names.items())
            }
            if st.form_submit_button(f"Save {kind} weights and rescore"):
                try:
                    n = set_weights(sessions, kind, new, actor=actor())
                except DomainError as error:
                    st.error(str(error))
                else:
                    st.session_state["review_notice"] = f"{n:,} {kind} item(s) rescored."
                    st.rerun()

has_data = bool(review.total_items or review.done_in_quarter)

# The money ----------------------------------------------------------------------------------------------
st.subheader("The money")
totals = review.money_totals()
m = st.columns(3)
m[0].metric("At risk in the quarter's items", " + ".join(money(r.at_risk, r.currency) for r in totals) or "0")
m[1].metric("Protected by items done", " + ".join(money(r.protected, r.currency) for r in totals) or "0")
m[2].metric("Still at risk", " + ".join(money(r.still_at_risk, r.currency) for r in totals) or "0")
if has_data:  # on an empty quarter the three zeros need no explanation
    st.caption(
        f"At risk counts every item planned for {quarter}, done or not; protected counts what the items marked done "
        "during the quarter saved (their outcome's amount, else their value at risk), whichever quarter they were "
        "planned for; still at risk counts the quarter's items not yet done or dropped. So at risk minus protected "
        "is not meant to equal still at risk."
    )
    left, right = st.columns(2)
    money_columns = {
        "at risk": st.column_config.NumberColumn(format="%,.0f"),
        "protected": st.column_config.NumberColumn(format="%,.0f"),
        "still at risk": st.column_config.NumberColumn(format="%,.0f"),
    }
    with left:
        st.altair_chart(charts.money_chart(review, width=380), width="content")
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        "kind": r.key,
                        "currency": r.currency,
                        "at risk": r.at_risk,
                        "protected": r.protected,
                        "still at risk": r.still_at_risk,
                    }
                    for r in review.money
                    if r.by == "kind"
                ]
            ),
            hide_index=True,
            width="stretch",
            column_config=money_columns,
        )
    with right:
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        "owner": r.key,
                        "currency": r.currency,
                        "at risk": r.at_risk,
                        "protected": r.protected,
                        "still at risk": r.still_at_risk,
                    }
                    for r in review.money
                    if r.by == "owner"
                ]
            ),
            hide_index=True,
            width="stretch",
            column_config=money_columns,
            height=360,
        )
else:
    st.caption("No money at risk or protected in this quarter yet.")


# Balance, status, value, trend --------------------------------------------------------------------------
if review.total_items:
    left, right = st.columns(2)
    with left:
        st.subheader("Balance of kaizen, kaikaku and kakushin")
        st.altair_chart(charts.balance_chart(review, width=380), width="content")
        st.subheader("Value at risk by kind")
        st.altair_chart(charts.value_by_kind_chart(review, width=380), width="content")
    with right:
        st.subheader(f"Status of {quarter}'s items")
        st.altair_chart(charts.status_chart(review, width=380), width="content")
        st.caption(
            f"Done here ({review.counts_by_status.get('done', 0):,}): the quarter's own items that are done today. "
            f"Marked done in the quarter, above ({len(review.done_in_quarter):,}): every item marked done during "
            "the quarter, whichever quarter it was planned for."
        )
st.subheader("Trend over the last eight quarters")
if any(t[f"count_{k}"] for t in review.trend for k in KINDS):
    st.altair_chart(charts.trend_chart(review, width=820), width="content")
else:
    st.caption("No items in the last eight quarters.")

# Closing the loop: the 48-hour promise ---------------------------------------------------------------------
promise = backend().settings.triage_hours
loop = loop_metrics(sessions, quarter=quarter, hours=promise)
st.subheader(f"Did reporters hear back within {promise:g} hours?")
if loop["with_known_answer_time"]:
    heard = loop["share_heard_back"] or 0.0
    c1, c2 = st.columns([1, 2])
    c1.metric(
        f"Heard back within {promise:g} h",
        f"{heard:.0%}",
        help="A reporter hears back when their item first moves out of 'new' (they are e-mailed when it is "
        "triaged, planned or done). Problems still new past the promise count as misses.",
    )
    c1.caption(
        f"{loop['heard_back_within_promise']:,} of {loop['with_known_answer_time']:,} problems with a known answer "
        f"time ({loop['problems']:,} in the quarter; imported or demo items without a status history are left out)."
    )
    c2.dataframe(
        pd.DataFrame(
            [
                {
                    "kind": kind,
                    # NaN (not None) so a kind with nothing measured shows an empty cell, not "None"
                    "median hours to triage": float(loop["median_hours_to_triage_by_kind"].get(kind, "nan")),
                    "median days to done": float(loop["median_days_to_done_by_kind"].get(kind, "nan")),
                }
                for kind in KINDS
            ]
        ),
        hide_index=True,
        width="stretch",
    )
else:
    st.caption(
        f"No problem of {review.label} has a recorded answer time yet: the figure counts problems whose item "
        "moved out of 'new' in the app or the CLI (and those still waiting past the promise)."
    )

# People and items ---------------------------------------------------------------------------------------
st.subheader(
    f"Done in {review.label}, and who did it"
    + (f" (all {len(review.done_in_quarter):,})" if review.done_in_quarter else "")
)
if not review.done_in_quarter:
    st.caption("Nothing marked done in this quarter yet.")
else:
    st.caption("Each item is credited to the quarter it was marked done in.")
    left, right = st.columns([1, 2])
    left.dataframe(
        pd.DataFrame(
            [
                {
                    "owner": p["owner"],
                    "items": p["items"],
                    "protected": " + ".join(money(v, c) for c, v in p["protected"].items()),
                }
                for p in review.done_credit
            ]
        ),
        hide_index=True,
        width="stretch",
    )
    right.dataframe(
        pd.DataFrame(
            [
                {
                    "id": i.id,
                    "title": i.title,
                    "kind": i.kind,
                    "owner": i.owner or "",
                    "done": i.done_at,
                    "protected": i.value_protected if i.value_protected is not None else i.value_at_risk,
                }
                for i in review.done_in_quarter
            ]
        ),
        hide_index=True,
        width="stretch",
        column_config={
            "id": st.column_config.NumberColumn(width="small", format="%d"),
            "title": st.column_config.TextColumn(width="medium"),
            "done": st.column_config.DatetimeColumn(format="D MMM YYYY"),
            "protected": st.column_config.NumberColumn(format="%,.0f"),
        },
    )

ITEM_COLUMNS = {
    "id": st.column_config.NumberColumn(width="small", format="%d"),
    "title": st.column_config.TextColumn(width="large"),
    "value at risk": st.column_config.NumberColumn(format="%,.0f"),
    "confidence": st.column_config.ProgressColumn(format="percent", min_value=0.0, max_value=1.0, width="small"),
}


def item_rows(items: list, with_confidence: bool = False) -> pd.DataFrame:  # type: ignore[type-arg]
    return pd.DataFrame(
        [
            {
                "id": i.id,
                "title": i.title,
                "kind": i.kind,
                "status": STATUS[i.status],
                "owner": i.owner or "",
                "value at risk": i.value_at_risk,
                **({"confidence": i.confidence} if with_confidence else {}),
            }
            for i in items
        ]
    )


st.subheader("Top problems by value at risk")
if review.top_by_value:
    st.dataframe(item_rows(review.top_by_value), hide_index=True, width="stretch", column_config=ITEM_COLUMNS)
else:
    st.caption("No items in this quarter.")
shown_first = len(review.needs_review)
st.subheader(
    f"Needs review ({review.needs_review_count:,}; the {shown_first} first by priority)"
    if review.needs_review_count > shown_first
    else f"Needs review ({review.needs_review_count:,})"
)
if review.needs_review:
    st.dataframe(item_rows(review.needs_review, True), hide_index=True, width="stretch", column_config=ITEM_COLUMNS)
else:
    st.caption("Nothing needs review.")

if review.owners:
    st.subheader("Owners")
    st.dataframe(
        pd.DataFrame(review.owners),
        hide_index=True,
        width="stretch",
        column_config={"value_at_risk": st.column_config.NumberColumn("value at risk", format="%,.0f")},
    )

# Downloads: generated when clicked (the PDF takes a few seconds) ---------------------------------------
c1, c2, c3 = st.columns(3)
if problem := pdf_unavailable():
    st.caption(f"No PDF on this server: {problem}. The HTML report prints the same pages.")
c1.download_button(
    "The meeting report (PDF)",
    lambda: review_pdf(quarterly_review(sessions, quarter)),
    file_name=f"review-{quarter}.pdf",
    mime="application/pdf",
    key="dl_pdf",
    icon=":material/picture_as_pdf:",
    type="primary",
    disabled=problem is not None,
)
c2.download_button(
    "Printable report (HTML)",
    lambda: review_html(quarterly_review(sessions, quarter)),
    file_name=f"review-{quarter}.html",
    mime="text/html",
    key="dl_html",
    icon=":material/print:",
)
c3.download_button(
    "The quarter's items (CSV)",
    lambda: review_csv(sessions, quarter),
    file_name=f"review-{quarter}-items.csv",
    mime="text/csv",
    key="dl_csv",
    icon=":material/download:",
)
