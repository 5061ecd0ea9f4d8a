"""Log a customer problem: classified at once, with similar problems, suggestions and an override."""

import streamlit as st

from app_pages.common import KIND_ICONS, actor, backend, label, safe, warm_models
from improvement.classification import percent
from improvement.domain import DomainError, Kind
from improvement.models import LoggedProblem, SimilarProblem
from improvement.validation import ValidationFailed

st.title(":material/edit_note: Log a customer problem")
st.caption(
    "Say what the customer experienced. The classifier tells you what kind of improvement it calls for, "
    "why, and how sure it is; you can always decide otherwise."
)

# Each field's empty value: assigned (not just forgotten) after a save, so the browser's form empties too.
FORM_DEFAULTS: dict[str, object] = {
    "log_title": "",
    "log_description": "",
    "log_story": "",
    "log_touchpoint": "",
    "log_segment": "",
    "log_industry": "",
    "log_customers": 0,
    "log_value": 0.0,
    "log_currency": "EUR",
    "log_evidence": "unknown",
    "log_root_cause": "",
}
if st.session_state.pop("log_clear", False):  # saved: an empty form, so pressing the button again logs nothing
    st.session_state.update(FORM_DEFAULTS)
for form_key, empty in FORM_DEFAULTS.items():
    st.session_state.setdefault(form_key, empty)

# Errors from the last submit, shown under the field they belong to (the form keeps what was typed).
errors: dict[str, str] = st.session_state.get("log_errors", {})
DETAIL_FIELDS = {
    "customer_story",
    "touchpoint",
    "segment",
    "industry",
    "customers_affected",
    "value_at_risk",
    "currency",
    "evidence",
    "root_cause",
}
DUPLICATE_DAYS = 7
MAX_SIMILAR_ITEMS = 5


def field_error(*names: str) -> None:
    for name in names:
        if name in errors:
            st.error(f"**{name.replace('_', ' ').capitalize()}**: {safe(errors[name])}", icon=":material/error:")


with st.form("log_problem", clear_on_submit=False, border=True):
    title = st.text_input("Title", key="log_title", max_chars=200, placeholder="Short summary (optional)")
    field_error("title")
    description = st.text_area(
        "What happened? *",
        key="log_description",
        height=120,
        max_chars=20_000,
        placeholder="e.g. Customers aren't told when their delivery slot moves to the next day",
    )
    field_error("description")
    with st.expander(
        "More detail: customer story, touchpoint, money at risk, evidence, root cause",
        expanded=bool(DETAIL_FIELDS & errors.keys()),
    ):
        story = st.text_area(
            "Customer story",
            key="log_story",
            placeholder="Six-year-old Suzie didn't get her birthday gift on time…",
            help="The human version of the data.",
        )
        field_error("customer_story")
        c1, c2, c3 = st.columns(3)
        touchpoint = c1.text_input("Touchpoint / channel", key="log_touchpoint")
        segment = c2.text_input("Customer segment", key="log_segment")
        industry = c3.text_input("Industry / line of business", key="log_industry")
        field_error("touchpoint", "segment", "industry")
        c4, c5, c6 = st.columns(3)
        customers = c4.number_input(
            "Customers affected", key="log_customers", min_value=0, max_value=1_000_000_000, step=1
        )
        value = c5.number_input("Value at risk", key="log_value", min_value=0.0, max_value=1e13, step=100.0)
        currency = c6.text_input("Currency", key="log_currency", max_chars=3)
        field_error("customers_affected", "value_at_risk", "currency")
        evidence = st.radio(
            "Evidence",
            ["unknown", "verified", "assumption"],
            key="log_evidence",
            horizontal=True,
            help="Is the statement a verified fact, or an assumption still to check with customers?",
        )
        field_error("evidence")
        root_cause = st.text_area("Root cause (the reason behind the reason)", key="log_root_cause")
        field_error("root_cause", "fields")
    submitted = st.form_submit_button("Log and classify", type="primary")


def save(raw: dict[str, object]) -> None:
    """Log the problem; on success the form empties, on bad input each message goes under its field."""
    st.session_state.pop("log_duplicates", None)
    st.session_state.pop("log_merged", None)
    st.session_state.pop("log_merge_target", None)
    st.session_state.pop("log_added", None)
    try:
        with st.spinner("Classifying and looking for similar problems…"):
            warm_models()
            st.session_state["last_logged"] = backend().backlog().log_problem(raw, actor=actor())
        st.session_state.pop("log_errors", None)
        st.session_state["log_clear"] = True
        st.rerun()  # an empty form; the result below stays
    except ValidationFailed as error:
        st.session_state["log_errors"] = error.errors
        st.session_state.pop("last_logged", None)
        st.rerun()  # draw each message under its field; everything typed stays in the form
    except DomainError as error:
        st.error(safe(error), icon=":material/error:")


if submitted:
    raw = {
        "title": title,
        "description": description,
        "customer_story": story,
        "touchpoint": touchpoint,
        "segment": segment,
        "industry": industry,
        "customers_affected": customers,
        "value_at_risk": value,
        "currency": currency,
        "evidence": evidence,
        "root_cause": root_cause,
    }
    with st.spinner("Looking for the same problem logged in the last days…"):
        warm_models()
        duplicates = backend().backlog().recent_duplicates(raw, days=DUPLICATE_DAYS)
    st.session_state.pop("log_added", None)
    if duplicates:
        st.session_state["log_duplicates"] = (raw, duplicates)
    else:
        save(raw)


def add_to_item(raw: dict[str, object], improvement_id: int) -> None:
    """The report joins the item that already tracks the problem (BacklogService.add_report); the form empties."""
    try:
        with st.spinner(f"Adding your report to item #{improvement_id}…"):
            added = backend().backlog().add_report(improvement_id, raw, actor=actor())
    except ValidationFailed as error:
        st.session_state["log_errors"] = error.errors
        st.session_state.pop("log_duplicates", None)
        st.rerun()  # each message under its field; everything typed stays in the form
    except DomainError as error:
        st.error(safe(error), icon=":material/error:")
        return
    for key in ("log_duplicates", "log_errors", "last_logged", "log_merged", "log_merge_target"):
        st.session_state.pop(key, None)
    st.session_state["log_clear"] = True
    st.session_state["log_added"] = (added.item.id, added.item.title, added.item.report_count, added.warnings)
    st.rerun()


pending = st.session_state.get("log_duplicates")
if pending is not None:
    pending_raw, duplicates = pending
    with st.container(border=True):
        st.warning(
            f"A very similar problem was logged in the last {DUPLICATE_DAYS} days. "
            "Add your report to it rather than logging it twice?",
            icon=":material/content_copy:",
        )
        offered: set[int] = set()
        for similar, logged_at in duplicates:
            text, action = st.columns([5, 2], vertical_alignment="center")
            text.markdown(
                f"**#{similar.improvement_id}** {safe(similar.title)} · {similar.similarity:.0%} alike · "
                f"logged {logged_at:%Y-%m-%d %H:%M} UTC"
            )
            if similar.improvement_id in offered:  # one button per item, however many of its reports are alike
                continue
            offered.add(similar.improvement_id)
            if action.button(
                f"Add my report to #{similar.improvement_id}",
                key=f"log_dup_add_{similar.improvement_id}",
                type="primary",
                icon=":material/add_comment:",
            ):
                add_to_item(pending_raw, similar.improvement_id)
        keep, drop = st.columns(2)
        if keep.button("Log it anyway", key="log_dup_anyway", icon=":material/add:"):
            save(pending_raw)
        if drop.button("Don't log it", key="log_dup_cancel", icon=":material/close:"):
            st.session_state.pop("log_duplicates", None)
            st.rerun()

added_to = st.session_state.get("log_added")
if added_to is not None and pending is None:
    item_id, item_title, report_count, add_warnings = added_to
    st.success(
        f"Your report is on item #{item_id}, “{safe(item_title)}”: it now gathers {report_count:,} reports. "
        "Its history records who added it.",
        icon=":material/add_comment:",
    )
    for warning in add_warnings:
        st.warning(safe(warning), icon=":material/warning:")


def render_suggestions(result: LoggedProblem) -> None:
    """The ranked fix options and ideas; the person picks the ones the item should carry."""
    suggestions = result.suggestions
    st.markdown("#### Suggested next steps")
    if not suggestions.fix_options and not suggestions.idea_options:
        st.info("No playbook pattern fits this problem well enough to suggest one.", icon=":material/search_off:")
        return
    fix_choice = idea_choice = 0
    if suggestions.fix_options:
        fix_choice = st.radio(
            "Proactive fix (fix the cause for everyone, then reach the affected customers first)",
            range(len(suggestions.fix_options)),
            format_func=lambda i: f"{i + 1}\\. {label(suggestions.fix_options[i].title)}",
            key=f"fix_choice_{result.improvement_id}",
        )
        option = suggestions.fix_options[fix_choice]
        with st.container(border=True):
            st.markdown(f"**Fix for everyone:** {safe(option.fix)}")
            st.markdown(f"**Reach them first:** {safe(option.proactive)}")
    else:
        st.caption("No proactive-fix pattern fits this problem well enough.")
    if suggestions.idea_options:
        idea_choice = st.radio(
            "Cross-industry idea",
            range(len(suggestions.idea_options)),
            format_func=lambda i: f"{i + 1}\\. From {label(suggestions.idea_options[i].industry)}",
            key=f"idea_choice_{result.improvement_id}",
        )
        with st.container(border=True):
            st.markdown(safe(suggestions.idea_options[idea_choice].text))
    if st.button("Save my choice on the item", key=f"save_choice_{result.improvement_id}"):
        try:
            backend().backlog(with_models=False).choose_suggestions(
                result.improvement_id,
                fix=suggestions.fix_options[fix_choice] if suggestions.fix_options else None,
                idea=suggestions.idea_options[idea_choice] if suggestions.idea_options else None,
                actor=actor(),
            )
            st.success("Saved on the item; its history records the choice.")
        except DomainError as error:
            st.error(safe(error))


def render_similar(result: LoggedProblem) -> None:
    """Similar problems, one line per backlog item (a merged item may hold several alike reports)."""
    st.markdown("#### Similar problems already logged")
    merged = st.session_state.get("log_merged")
    if merged is not None and merged[0] == result.improvement_id:
        source_id, target_id = merged
        st.success(f"Merged item #{source_id} into item #{target_id}; every report is kept.", icon=":material/merge:")
        if st.button("Undo the merge", key=f"log_unmerge_{source_id}", icon=":material/undo:"):
            try:
                backend().backlog().unmerge(source_id, actor=actor())
                st.session_state.pop("log_merged", None)
                st.success(f"Item #{source_id} is on its own again.", icon=":material/call_split:")
            except DomainError as error:
                st.error(safe(error), icon=":material/error:")
        return
    groups = group_similar(result)
    coverage = result.index_coverage
    if not groups and coverage is not None and coverage.missing:
        # Nothing found means little when the index lacks problems (seed-demo --no-index, a restore, an import).
        gap = (
            "the similar-problems index is empty"
            if coverage.indexed <= 1  # the problem just logged is the only one in it
            else f"the similar-problems index holds only {coverage.indexed:,} of {coverage.logged:,} logged problems"
        )
        st.warning(
            f"None found, but that does not mean this is new: {gap}, so similar problems "
            "already logged cannot all be found. Run `backlog doctor --repair` to build it.",
            icon=":material/manage_search:",
        )
    elif not groups:
        st.caption("None found: this looks new.")
    for improvement_id, hits in groups[:MAX_SIMILAR_ITEMS]:
        best = hits[0]
        with st.container(border=True):
            text, action = st.columns([5, 2], vertical_alignment="center")
            alike = f"{len(hits)} similar reports, best " if len(hits) > 1 else ""
            text.markdown(f"#{improvement_id}: {safe(best.title)}  \n{alike}{best.similarity:.0%} alike")
            if improvement_id != result.improvement_id and action.button(
                f"Merge into #{improvement_id}", key=f"merge_{improvement_id}", icon=":material/merge:"
            ):
                st.session_state["log_merge_target"] = improvement_id
    target_id = st.session_state.get("log_merge_target")
    if target_id is not None:
        confirm_merge(result, int(target_id))


def group_similar(result: LoggedProblem) -> list[tuple[int, list[SimilarProblem]]]:
    groups: dict[int, list[SimilarProblem]] = {}
    for similar in result.similar:  # best first
        groups.setdefault(similar.improvement_id, []).append(similar)
    return list(groups.items())


def confirm_merge(result: LoggedProblem, target_id: int) -> None:
    """Say what a merge combines, and do it only when the person confirms."""
    service = backend().backlog()
    try:
        preview = service.merge_preview(target_id, [result.improvement_id])
    except DomainError as error:
        st.session_state.pop("log_merge_target", None)
        st.error(safe(error), icon=":material/error:")
        return
    with st.container(border=True):
        st.markdown(f"**Merge this problem (item #{result.improvement_id}) into item #{target_id}?**")
        st.markdown(
            f"#{target_id} {safe(preview.target.title)} will then hold **{preview.report_count} reports**, "
            f"{preview.customers_affected:,} customers affected, value at risk "
            f"{preview.value_at_risk:,.0f} {' + '.join(preview.currencies)}. You can undo it."
        )
        yes, no = st.columns(2)
        if yes.button("Merge", key="log_merge_confirm", type="primary", icon=":material/merge:"):
            try:
                service.merge(target_id, [result.improvement_id], actor=actor())
                st.session_state["log_merged"] = (result.improvement_id, target_id)
            except DomainError as error:
                st.error(safe(error), icon=":material/error:")
            st.session_state.pop("log_merge_target", None)
            st.rerun()
        if no.button("Cancel", key="log_merge_cancel", icon=":material/close:"):
            st.session_state.pop("log_merge_target", None)
            st.rerun()


result = st.session_state.get("last_logged")
if result is not None:
    st.divider()
    left, right = st.columns([3, 2])
    with left:
        st.subheader(f"{KIND_ICONS[result.kind]} This calls for **{result.kind}**")
        st.progress(min(max(result.confidence, 0.0), 1.0), text=f"Confidence {percent(result.confidence)}")
        if result.needs_review:
            st.warning(
                "Needs review: the classifier is not sure. Please decide the kind below.", icon=":material/rate_review:"
            )
        st.markdown(f"**Why:** {safe(result.rationale)}")
        st.caption(f"Saved as backlog item #{result.improvement_id} (problem #{result.problem_id}).")
        for warning in result.warnings:
            st.warning(safe(warning), icon=":material/warning:")
        with st.form("override_kind"):
            kinds = [k.value for k in Kind]
            chosen = st.selectbox(
                "Decide the kind yourself", kinds, index=kinds.index(result.kind), key="override_kind_choice"
            )
            if st.form_submit_button("Save my decision"):
                try:
                    backend().backlog(with_models=False).override_kind(result.improvement_id, chosen, actor=actor())
                    st.success(f"Recorded: {chosen}, decided by {safe(actor())}.")
                except DomainError as error:
                    st.error(safe(error))
    with right:
        render_suggestions(result)
    render_similar(result)
