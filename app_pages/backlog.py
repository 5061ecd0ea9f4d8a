"""The backlog: filter, search, sort and page through items; edit one; merge; bulk actions."""

import math

import pandas as pd
import streamlit as st

from app_pages.common import STATUS_LABELS, actor, backend, safe, status_label
from improvement.classification import percent
from improvement.domain import TRANSITIONS, DomainError, Kind, StaleEdit, Status
from improvement.models import ItemFilter
from improvement.validation import ValidationFailed

PAGE_SIZE = 50
service = backend().backlog(with_models=False)

st.title("📋 Backlog")
models = backend().classifier_models()
with st.sidebar:
    # Admin action: refit the classifier from the team's decisions; the refit is used only if it is at least as
    # good as the active model (held-out industries and the team's latest decisions), and any version can return.
    st.markdown("**Classifier model**")
    active_model = models.active_version()
    entry = models.store.describe(active_model)
    if entry is None:
        st.caption(f"`{active_model}`: fit on the project's own examples.")
    else:
        held, team = entry.evaluation["heldout"], entry.evaluation["recent_decisions"]
        st.caption(
            f"`{entry.version}` by {safe(entry.created_by)}, {entry.created_at[:10]}: held-out macro-F1 "
            f"{held['macro_f1']:.3f}, {held['wrong_at_95']} wrong at 95%+, {team['accuracy']:.0%} right on the "
            f"team's {team['examples']} latest decisions."
        )
    if st.button("🔁 Retrain from the team's decisions", key="retrain_classifier"):
        with st.spinner("Refitting and judging the new model…"):
            try:
                report = models.retrain(actor=actor())
                st.session_state["retrain_result"] = ("success" if report.accepted else "info", report.reason)
            except DomainError as error:
                st.session_state["retrain_result"] = ("error", str(error))
            except Exception as error:  # the page stays up; the reason is shown, never a traceback
                st.session_state["retrain_result"] = ("error", f"Retraining failed: {type(error).__name__}: {error}")
        st.rerun()
    if result := st.session_state.pop("retrain_result", None):
        getattr(st, result[0])(result[1])
    known = ["shipped", *(v.version for v in models.versions())]
    if len(known) > 1:
        restore_choice = st.selectbox("Model version", known, index=known.index(active_model), key="restore_version")
        if restore_choice != active_model and st.button(f"Restore {restore_choice}", key="restore_classifier"):
            models.restore(restore_choice, actor=actor())
            st.session_state["retrain_result"] = (
                "success",
                f"Model {restore_choice} is active again (was {active_model}).",
            )
            st.rerun()
if flash := st.session_state.pop("backlog_flash", None):
    st.success(flash)
with st.container(border=True):
    c1, c2, c3, c4 = st.columns(4)
    kinds = c1.multiselect("Kind", [k.value for k in Kind], key="f_kind")
    statuses = c2.multiselect("Status", [s.value for s in Status], key="f_status", format_func=status_label)
    quarters = c3.multiselect("Quarter", list(reversed(service.distinct("quarter"))), key="f_quarter")
    owners = c4.multiselect("Owner", service.distinct("owner"), key="f_owner")
    c5, c6, c7 = st.columns([3, 1, 1])
    search = c5.text_input("Search title and description", key="f_search", max_chars=200)
    needs_review = c6.checkbox("Needs review only", key="f_review")
    sort = c7.selectbox("Sort by", ["priority", "value_at_risk", "newest", "oldest", "confidence"], key="f_sort")

flt = ItemFilter(
    kinds=kinds,
    statuses=statuses,
    quarters=quarters,
    owners=owners,
    needs_review=True if needs_review else None,
    text=search.strip(),
)
counted = service.list_items(flt, limit=1)
total = counted.total
pages = max(1, math.ceil(total / PAGE_SIZE))
pager, counter = st.columns([1, 4], vertical_alignment="bottom")
page_number = pager.number_input(f"Page (of {pages:,})", min_value=1, max_value=pages, value=1, key="f_page")
page = service.list_items(flt, sort=sort, limit=PAGE_SIZE, offset=(page_number - 1) * PAGE_SIZE, with_total=False)
counter.caption(
    f"{total:,} item(s) match"
    if counted.total_is_exact
    else f"More than {total:,} items match: filter or search to narrow them down"
)

frame = pd.DataFrame(
    [
        {
            "id": i.id,
            "title": i.title,
            "kind": i.kind,
            "status": STATUS_LABELS[i.status],
            "quarter": i.quarter,
            "owner": i.owner or "",
            "value at risk": i.value_at_risk,
            "customers": i.customers_affected,
            "priority": i.priority,
            "confidence": i.confidence,
            "review": "🔎" if i.needs_review else "",
            "reports": i.report_count,
        }
        for i in page.items
    ]
)
st.dataframe(
    frame,
    hide_index=True,
    width="stretch",
    height=min(38 + 35 * max(len(frame), 1), 560),
    column_config={
        "id": st.column_config.NumberColumn(width="small", format="%d"),
        "title": st.column_config.TextColumn(width="large"),
        "value at risk": st.column_config.NumberColumn(format="localized"),
        "customers": st.column_config.NumberColumn(format="localized"),
        "confidence": st.column_config.ProgressColumn(min_value=0.0, max_value=1.0, format="%.2f"),
        "priority": st.column_config.NumberColumn(format="%.1f"),
    },
)

if not page.items:
    st.info(
        "No items match. Log a problem, import a file with `backlog import`, or load demo data with "
        "`backlog seed-demo`."
    )
    st.stop()

st.divider()
ids = [i.id for i in page.items]
labels = {i.id: f"#{i.id} {i.title[:80]}" for i in page.items}


def item_label(item_id: int) -> str:
    return labels.get(item_id, f"#{item_id}")


selected = st.selectbox("Open an item", ids, format_func=item_label, key="selected_item")
detail = service.get_item(int(selected if selected is not None else ids[0]))
item = detail.item

left, right = st.columns([3, 2])
with left:
    st.subheader(f"#{item.id} {safe(item.title)}")
    decided = (
        f"decided by {safe(item.kind_decided_by_name or item.kind_decided_by)}"
        if item.kind_decided_by == "person"
        else f"classifier {safe(detail.classifier)}, {percent(item.confidence)} sure"
    )
    st.markdown(
        f"**{item.kind}** ({decided}) · **{STATUS_LABELS[item.status]}** · {item.quarter} · "
        f"value at risk **{item.value_at_risk:,.0f} {item.currency}** · version {item.version}"
    )
    model_version = detail.classifier.partition(":")[2]  # "offline:v2" -> "v2"; older items say just "offline"
    if model_version:
        model_entry = models.store.describe(model_version)
        held_eval = model_entry.evaluation["heldout"] if model_entry else models.shipped_evaluation().get("heldout")
        st.caption(
            f"Classified by model {safe(model_version)}"
            + (
                f": held-out macro-F1 {held_eval['macro_f1']:.3f}, {held_eval['wrong_at_95']} wrong at 95%+."
                if held_eval
                else ", fit on the project's own examples (its held-out scores: BENCHMARKS.md)."
            )
        )
    if item.needs_review:
        st.warning("Needs review: decide the kind.", icon="🔎")
    st.markdown(f"**Why:** {safe(detail.rationale)}")
    for problem in detail.problems:
        with st.container(border=True):
            st.markdown(
                f"**Report #{problem.id}** by {safe(problem.reporter)} · {problem.created_at:%Y-%m-%d}  \n"
                f"{safe(problem.description)}"
            )
            if problem.customer_story:
                st.markdown(f"*{safe(problem.customer_story)}*")
            if problem.root_cause:
                st.caption(f"Root cause: {problem.root_cause}")
    if st.button("💬 Ask the assistant about this problem", key="ask_about"):
        st.session_state["ask_problem_id"] = detail.problems[0].id
        st.switch_page("app_pages/assistant.py")

# The version this person opened: their form is keyed by it and saved against it, so a change made by
# someone else meanwhile is detected (StaleEdit) instead of silently replacing what they typed.
opened_versions: dict[int, int] = st.session_state.setdefault("opened_versions", {})
opened = opened_versions.setdefault(item.id, item.version)

with right:
    if opened != item.version:
        st.warning(
            f"Someone else saved this item (now version {item.version}) after you opened it "
            f"(version {opened}). Your form still shows your entries.",
            icon="🔁",
        )
        if st.button("Load the latest version (replaces your entries)", key=f"reload_{item.id}"):
            opened_versions[item.id] = item.version
            st.rerun()
    with st.form(f"edit_item_{item.id}"):
        allowed = [item.status, *sorted(s.value for s in TRANSITIONS[Status(item.status)])]
        new_status = st.selectbox("Status", allowed, format_func=status_label, key=f"edit_status_{item.id}_{opened}")
        owner = st.text_input("Owner", value=item.owner or "", key=f"edit_owner_{item.id}_{opened}", max_chars=200)
        quarter = st.text_input("Quarter", value=item.quarter, key=f"edit_quarter_{item.id}_{opened}", max_chars=7)
        c1, c2 = st.columns(2)
        effort = c1.slider("Effort", 1, 5, item.effort, key=f"edit_effort_{item.id}_{opened}")
        impact = c2.slider("Impact", 1, 5, item.impact, key=f"edit_impact_{item.id}_{opened}")
        target = st.text_area("Measurable target", value=detail.target, key=f"edit_target_{item.id}_{opened}")
        outcome = st.text_area(
            "Outcome (required to mark done)", value=detail.outcome, key=f"edit_outcome_{item.id}_{opened}"
        )
        kind = st.selectbox(
            "Kind",
            [k.value for k in Kind],
            index=[k.value for k in Kind].index(item.kind),
            key=f"edit_kind_{item.id}_{opened}",
        )
        if st.form_submit_button("Save", type="primary"):
            try:
                changes = {
                    "owner": owner,
                    "quarter": quarter,
                    "effort": effort,
                    "impact": impact,
                    "target": target,
                    "outcome": outcome,
                }
                # One transaction: a refused status move leaves the other fields unsaved too.
                saved = service.update_item(
                    item.id,
                    changes,
                    status=str(new_status),
                    kind=kind if kind != item.kind else None,
                    actor=actor(),
                    expected_version=opened,
                )
                opened_versions[item.id] = saved.version
                st.session_state["backlog_flash"] = f"Saved item #{item.id} (version {saved.version})."
                st.rerun()
            except StaleEdit as error:
                st.error(f"{safe(error)} Your entries are still in the form.", icon="🔁")
            except ValidationFailed as error:
                for field, message in error.errors.items():
                    st.error(f"**{field}**: {safe(message)}")
            except DomainError as error:
                st.error(safe(error))

    with st.expander("Merge duplicates into this item"):
        others = st.multiselect(
            "Items to merge in (ids)", [i for i in ids if i != item.id], key="merge_sources", format_func=item_label
        )
        if st.button("Merge", key="merge_go", disabled=not others):
            try:
                merged = backend().backlog().merge(item.id, others, actor=actor())
                st.session_state["backlog_flash"] = f"Merged; the item now has {merged.report_count} report(s)."
                st.rerun()
            except DomainError as error:
                st.error(safe(error))

    with st.expander("History"):
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        "when": c.changed_at.strftime("%Y-%m-%d %H:%M"),
                        "who": c.changed_by,
                        "what": c.field,
                        "from": c.old_value,
                        "to": c.new_value,
                    }
                    for c in reversed(detail.history)
                ]
            ),
            hide_index=True,
            width="stretch",
        )

with st.expander("Bulk actions on this page"):
    chosen = st.multiselect("Items", ids, format_func=item_label, key="bulk_ids")
    c1, c2, c3 = st.columns(3)
    bulk_status = c1.selectbox("Move to status", ["(keep)", *[s.value for s in Status]], key="bulk_status")
    bulk_owner = c2.text_input("Set owner", key="bulk_owner")
    bulk_quarter = c3.text_input("Set quarter", key="bulk_quarter")
    if st.button("Apply to selected", key="bulk_go", disabled=not chosen):
        try:
            count = service.bulk_change(
                chosen,
                actor=actor(),
                status=None if bulk_status == "(keep)" else bulk_status,
                owner=bulk_owner or None,
                quarter=bulk_quarter or None,
            )
            st.success(f"Updated {count} item(s).")
        except DomainError as error:
            st.error(f"Nothing was changed: {safe(error)}")
