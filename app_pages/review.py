"""The quarterly innovation backlog review, for leaders: balance, money at risk, progress, people, trends."""

from datetime import UTC, datetime

import altair as alt
import pandas as pd
import streamlit as st

from app_pages.common import KIND_COLORS, STATUS_LABELS, backend, money, safe
from improvement.domain import quarter_of
from improvement.report import review_csv, review_html
from improvement.review import quarterly_review

st.title("📊 Quarterly innovation backlog review")
service = backend().backlog(with_models=False)
current = quarter_of(datetime.now(UTC))
quarters = sorted(set(service.distinct("quarter")) | {current}, reverse=True)
quarter = st.selectbox("Quarter", quarters, index=quarters.index(current), key="review_quarter")
review = quarterly_review(backend().sessions, quarter)

cols = st.columns(4)
cols[0].metric("Items", f"{review.total_items:,}")
if review.mixes_currencies:
    # A metric has room for one amount: the largest currency's; the caption below lists them all.
    main_currency, main_amount = max(review.value_at_risk_by_currency.items(), key=lambda pair: pair[1])
    cols[1].metric(
        f"Value at risk ({len(review.value_at_risk_by_currency)} currencies)", money(main_amount, main_currency)
    )
else:
    cols[1].metric(
        "Value at risk",
        review.value_at_risk_text(money),
        delta=f"{money(review.value_at_risk_total - review.previous_value_at_risk_total, '')} vs "
        f"{review.previous_quarter}",
        delta_color="inverse",
    )
cols[2].metric("Done", f"{review.counts_by_status['done']:,}")
cols[3].metric("Needs review", f"{review.needs_review_count:,}")

if review.mixes_currencies:
    st.caption(
        f"Value at risk by currency: {review.value_at_risk_text(money)}. Amounts are not converted: the charts "
        "below add them as plain numbers."
    )
if review.total_items == 0:
    st.info(f"No backlog items in {quarter} yet. Log problems on the first page, or choose another quarter.")

kind_scale = alt.Scale(domain=list(KIND_COLORS), range=list(KIND_COLORS.values()))
left, right = st.columns(2)
with left:
    st.subheader("Balance of kaizen, kaikaku and kakushin")
    balance = pd.DataFrame(
        [
            {"kind": k, "items": n, "share": review.balance[k], "change": review.change_by_kind[k], "period": quarter}
            for k, n in review.counts_by_kind.items()
        ]
        + [
            {"kind": k, "items": n, "share": 0, "change": 0, "period": review.previous_quarter}
            for k, n in review.previous_counts_by_kind.items()
        ]
    )
    st.altair_chart(
        alt.Chart(balance)
        .mark_bar()
        .encode(
            x=alt.X("items:Q", title="items"),
            y=alt.Y("period:N", title=None, sort="descending"),
            color=alt.Color("kind:N", scale=kind_scale),
            row=alt.Row("kind:N", title=None),
            tooltip=["kind", "period", "items"],
        )
        .properties(height=60),
        width="stretch",
    )
with right:
    st.subheader("Value at risk by kind and status")
    by_status = pd.DataFrame(
        [{"status": STATUS_LABELS[s], "value at risk": v} for s, v in review.value_at_risk_by_status.items()]
    )
    by_kind = pd.DataFrame([{"kind": k, "value at risk": v} for k, v in review.value_at_risk_by_kind.items()])
    st.altair_chart(
        alt.Chart(by_kind)
        .mark_arc(innerRadius=50)
        .encode(
            theta="value at risk:Q", color=alt.Color("kind:N", scale=kind_scale), tooltip=["kind", "value at risk"]
        ),
        width="stretch",
    )
    st.altair_chart(
        alt.Chart(by_status)
        .mark_bar()
        .encode(
            x=alt.X("status:N", sort=list(STATUS_LABELS.values())),
            y="value at risk:Q",
            tooltip=["status", "value at risk"],
        ),
        width="stretch",
    )

st.subheader("Trend over the last eight quarters")
trend = pd.DataFrame(review.trend).melt(id_vars=["quarter", "value_at_risk"], var_name="kind", value_name="items")
trend["kind"] = trend["kind"].str.removeprefix("count_")
st.altair_chart(
    alt.Chart(trend)
    .mark_line(point=True)
    .encode(
        x="quarter:N", y="items:Q", color=alt.Color("kind:N", scale=kind_scale), tooltip=["quarter", "kind", "items"]
    ),
    width="stretch",
)

left, right = st.columns(2)
with left:
    st.subheader("🏆 Done this quarter, and who did it")
    if not review.done:
        st.caption("Nothing marked done yet.")
    for item in review.done:
        with st.container(border=True):
            st.markdown(
                f"**{safe(item.owner or 'unassigned')}**: {safe(item.title)}  \n"
                f"{item.kind} · {item.value_at_risk:,.0f} {item.currency} at risk"
            )
with right:
    st.subheader("Top problems by value at risk")
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "id": i.id,
                    "title": i.title,
                    "kind": i.kind,
                    "status": STATUS_LABELS[i.status],
                    "owner": i.owner or "",
                    "value at risk": i.value_at_risk,
                }
                for i in review.top_by_value
            ]
        ),
        hide_index=True,
        width="stretch",
    )
    st.subheader("Needs review")
    st.dataframe(
        pd.DataFrame(
            [{"id": i.id, "title": i.title, "kind": i.kind, "confidence": i.confidence} for i in review.needs_review]
        ),
        hide_index=True,
        width="stretch",
    )

st.subheader("Owners")
st.dataframe(pd.DataFrame(review.owners), hide_index=True, width="stretch")

c1, c2 = st.columns(2)
c1.download_button(
    "⬇️ Download the review (CSV)", review_csv(review), file_name=f"review-{quarter}.csv", mime="text/csv", key="dl_csv"
)
c2.download_button(
    "🖨️ Printable report (HTML)",
    review_html(review),
    file_name=f"review-{quarter}.html",
    mime="text/html",
    key="dl_html",
)
