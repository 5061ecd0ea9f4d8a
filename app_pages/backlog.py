"""The backlog: filter, search, saved views; a table or a board by status; click a row to open an item;
tick items on any page for bulk changes; edit, merge (previewed, confirmed) and unmerge."""

import dataclasses
import hashlib
import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import streamlit as st

from app_pages.common import KIND_ICONS, STATUS_LABELS, actor, backend, owner_choices, safe, status_label
from improvement.access import Action
from improvement.classification import percent
from improvement.domain import TRANSITIONS, DomainError, Kind, StaleEdit, Status
from improvement.models import ItemDetail, ItemFilter, ItemView
from improvement.transfer import MAX_IMPORT_BYTES, ImportFailed, import_summary, import_upload
from improvement.validation import ValidationFailed

PAGE_SIZE = 50
BOARD_CARDS = 12
SORTS = ["priority", "value_at_risk", "newest", "oldest", "confidence"]
SORT_LABELS = {
    "priority": "Priority",
    "value_at_risk": "Value at risk",
    "newest": "Newest",
    "oldest": "Oldest",
    "confidence": "Least confident first",
}
SEARCH_MODES = {"words": "Words, any order", "text": "Exact text"}
service = backend().backlog(with_models=False)
state = st.session_state
selected: set[int] = state.setdefault("bulk_selected", set())  # ticked items, on any page
opened_versions: dict[int, int] = state.setdefault("opened_versions", {})


def open_view() -> None:
    """Fill the filters from the saved view just chosen (a callback: it runs before the widgets)."""
    name = state.get("saved_view")
    view = next((v for v in service.saved_views() if v.name == name), None)
    if view is None:
        return
    flt = view.filters
    state["f_kind"] = list(flt.kinds)
    state["f_status"] = list(flt.statuses)
    state["f_quarter"] = list(flt.quarters)
    state["f_owner"] = list(flt.owners)
    state["f_review"] = bool(flt.needs_review)
    state["f_search"] = flt.words or flt.text
    state["f_mode"] = "text" if flt.text and not flt.words else "words"
    state["f_sort"] = view.sort
    state["view_name"] = view.name


def forget_item(*item_ids: int) -> None:
    """After this person's own write the items reopen at their new version (no 'someone else saved')."""
    for item_id in item_ids:
        opened_versions.pop(item_id, None)
    state["table_version"] = state.get("table_version", 0) + 1  # a fresh table, with the new values


def render_import() -> None:
    """Import a CSV or JSON file through the same use case as `backlog import`: the whole file is checked
    first (any bad row and nothing is written), then written in batches with a progress bar."""
    with st.expander("Import a file", icon=":material/upload_file:"):
        st.caption(
            "CSV or JSON in the columns `backlog export` writes (only `description` is required). Every row is "
            "checked first: one bad row and nothing is written. Reports already in the backlog are skipped."
        )
        upload = st.file_uploader(
            "Backlog file",
            type=["csv", "json"],
            key="import_upload",
            max_upload_size=MAX_IMPORT_BYTES // 2**20,
        )
        if not st.button("Import", key="import_file", disabled=upload is None, icon=":material/upload:"):
            return
        assert upload is not None
        bar = st.progress(0.0, text="Checking every row…")

        def progress(done: int, total: int) -> None:
            bar.progress(done / total, text=f"Imported {done:,} of {total:,} reports")

        try:
            result = import_upload(
                service,
                backend().sessions,
                upload.name,
                upload.getvalue(),
                actor=actor(),
                batch_rows=backend().settings.import_batch_rows,
                progress=progress,
            )
        except ImportFailed as error:
            bar.empty()
            shown = "\n".join(f"- {safe(line)}" for line in error.errors[:20])
            more = f"\n\nand {len(error.errors) - 20:,} more" if len(error.errors) > 20 else ""
            st.error(f"Nothing was imported: {len(error.errors):,} error(s).\n\n{shown}{more}")
            return
        except DomainError as error:
            bar.empty()
            st.error(f"Nothing was imported: {safe(error)}")
            return
        state["backlog_flash"] = import_summary(result).capitalize() + "."
        state.pop("import_upload", None)
        state["table_version"] = state.get("table_version", 0) + 1
        st.rerun()


st.title(":material/view_list: Backlog")
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
    if not actor().can(Action.ADMINISTER):
        st.caption("Admins can retrain it from the team's decisions.")
    elif st.button("Retrain from the team's decisions", key="retrain_classifier", icon=":material/model_training:"):
        with st.spinner("Refitting and judging the new model…"):
            try:
                report = models.retrain(actor=actor())
                st.session_state["retrain_result"] = ("success" if report.accepted else "info", report.reason)
            except DomainError as error:
                st.session_state["retrain_result"] = ("error", safe(error))
            except Exception as error:  # the page stays up; the reason is shown, never a traceback
                st.session_state["retrain_result"] = ("error", f"Retraining failed: {type(error).__name__}")
        st.rerun()
    if result := st.session_state.pop("retrain_result", None):
        getattr(st, result[0])(result[1])
    known = ["shipped", *(v.version for v in models.versions())]
    if len(known) > 1 and actor().can(Action.ADMINISTER):
        restore_choice = st.selectbox("Model version", known, index=known.index(active_model), key="restore_version")
        if restore_choice != active_model and st.button(f"Restore {restore_choice}", key="restore_classifier"):
            models.restore(restore_choice, actor=actor())
            st.session_state["retrain_result"] = (
                "success",
                f"Model {restore_choice} is active again (was {active_model}).",
            )
            st.rerun()
    if actor().can(Action.TRIAGE):
        render_import()
if flash := st.session_state.pop("backlog_flash", None):
    st.success(flash)
# The 48-hour promise (BACKLOG_TRIAGE_HOURS): the moment is taken to the hour, so the filter (and the page
# it keeps) stays the same from one rerun to the next.
TRIAGE_HOURS = backend().settings.triage_hours
TRIAGE_CUTOFF = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=TRIAGE_HOURS)
TRIAGE_HELP = "Items still new that were logged before the promise ran out (checked to the hour)."
with st.container(border=True):
    c1, c2, c3, c4 = st.columns(4)
    kinds = c1.multiselect("Kind", [k.value for k in Kind], key="f_kind")
    statuses = c2.multiselect("Status", [s.value for s in Status], key="f_status", format_func=status_label)
    quarters = c3.multiselect("Quarter", list(reversed(service.distinct("quarter"))), key="f_quarter")
    owners = c4.multiselect("Owner", service.distinct("owner"), key="f_owner")
    c5, c6, c7, c8 = st.columns([2.6, 1.8, 1.3, 1], vertical_alignment="bottom")
    search = c5.text_input(
        "Search titles and descriptions",
        key="f_search",
        max_chars=200,
        placeholder="e.g. logs out: finds 'logs customers out' and 'logging out'",
    )
    mode = c6.segmented_control(
        "Match", list(SEARCH_MODES), format_func=SEARCH_MODES.__getitem__, key="f_mode", default="words"
    )
    needs_review = c7.checkbox("Needs review only", key="f_review")
    overdue = c7.checkbox(f"Untriaged > {TRIAGE_HOURS:g} h", key="f_overdue", help=TRIAGE_HELP)
    sort = c8.selectbox("Sort by", SORTS, key="f_sort", format_func=SORT_LABELS.__getitem__)
    # The filters as chosen: listed below and saved as a view (a view keeps no moment, so not the 48-hour flag).
    flt = ItemFilter(
        kinds=kinds,
        statuses=statuses,
        quarters=quarters,
        owners=owners,
        needs_review=True if needs_review else None,
        text=search.strip() if mode == "text" else "",
        words=search.strip() if mode != "text" else "",
        untriaged_before=TRIAGE_CUTOFF if overdue else None,
    )
    views = service.saved_views()
    v1, v2, v3, v4 = st.columns([2, 2, 1, 1], vertical_alignment="bottom")
    v1.selectbox(
        "Saved views",
        [v.name for v in views],
        index=None,
        key="saved_view",
        placeholder="Open a saved view…" if views else "No saved views yet",
        on_change=open_view,
    )
    view_name = v2.text_input("Save these filters as", key="view_name", max_chars=100, placeholder="e.g. My triage")
    if v3.button("Save view", key="view_save", icon=":material/bookmark_add:", width="stretch"):
        try:
            service.save_view(view_name, flt, sort=sort, actor=actor())
            state["view_flash"] = f"Saved the view '{view_name.strip()}'."
            st.rerun()
        except DomainError as error:
            st.error(f"Not saved: {safe(error)}", icon=":material/error:")
    if v4.button(
        "Delete view",
        key="view_delete",
        icon=":material/delete:",
        width="stretch",
        disabled=not state.get("saved_view"),
    ):
        try:
            service.delete_view(str(state.get("saved_view")))
            state["view_flash"] = f"Deleted the view '{state.get('saved_view')}'."
            state.pop("saved_view", None)
            st.rerun()
        except DomainError as error:
            st.error(safe(error), icon=":material/error:")
    if flash := state.pop("view_flash", None):
        st.success(safe(flash), icon=":material/check_circle:")

waiting_page = service.list_items(ItemFilter(untriaged_before=TRIAGE_CUTOFF), limit=1)
waiting = waiting_page.total
if waiting and not overdue:
    more = "" if waiting_page.total_is_exact else "+"  # counting stops at a limit on very large backlogs
    st.warning(
        f"{waiting:,}{more} item(s) have waited more than {TRIAGE_HOURS:g} hours for triage: tick "
        f"“Untriaged > {TRIAGE_HOURS:g} h” to see them.",
        icon=":material/schedule:",
    )
signature = hashlib.sha1(repr((flt, sort)).encode()).hexdigest()[:10]
if state.get("f_signature") != signature:  # new filters start on page 1
    state["f_signature"] = signature
    state["f_page"] = 1

layout = st.segmented_control(
    "View",
    ["table", "board"],
    format_func=lambda v: {"table": ":material/table_rows: Table", "board": ":material/view_kanban: Board"}[v],
    key="view_mode",
    default="table",
    label_visibility="collapsed",
)


def render_bulk_actions() -> None:
    """Bulk changes on the ticked items of every page: a count, the change, then a confirmation."""
    if flash := state.pop("bulk_flash", None):
        st.success(flash, icon=":material/check_circle:")
    if not selected:
        st.caption("Tick rows (on any page) to change several items at once; click a row to open it.")
        return
    with st.container(border=True):
        head, clear = st.columns([4, 1], vertical_alignment="center")
        head.markdown(f"**{len(selected):,} item(s) selected** across pages for a bulk change")
        if clear.button("Clear selection", key="bulk_clear", icon=":material/deselect:"):
            selected.clear()
            forget_item()
            st.rerun()
        c1, c2, c3, c4 = st.columns([1, 1, 1, 1], vertical_alignment="bottom")
        bulk_status = c1.selectbox(
            "Move to status",
            [None, *[s.value for s in Status]],
            key="bulk_status",
            format_func=lambda s: status_label(s) if s else "(keep)",
        )
        bulk_people = owner_choices(None)
        if bulk_people is None:
            bulk_owner = c2.text_input("Set owner", key="bulk_owner", max_chars=200)
        else:
            bulk_owner = c2.selectbox("Set owner", bulk_people, key="bulk_owner", format_func=lambda o: o or "(keep)")
        bulk_quarter = c3.text_input("Set quarter", key="bulk_quarter", max_chars=7, placeholder="2026-Q4")
        change = {"status": bulk_status, "owner": bulk_owner.strip() or None, "quarter": bulk_quarter.strip() or None}
        if c4.button(
            f"Apply to {len(selected):,} item(s)…",
            key="bulk_go",
            disabled=not any(change.values()),
            icon=":material/edit_note:",
        ):
            state["bulk_pending"] = change
        pending = state.get("bulk_pending")
        if pending:
            what = ", ".join(
                f"{name} → {status_label(value) if name == 'status' else value}"
                for name, value in pending.items()
                if value
            )
            st.warning(f"Change {len(selected):,} item(s): {safe(what)}?", icon=":material/help:")
            yes, no = st.columns(2)
            if yes.button("Confirm the change", key="bulk_confirm", type="primary", icon=":material/done_all:"):
                chosen = sorted(selected)
                try:
                    count = service.bulk_change(chosen, actor=actor(), **pending)
                    state["bulk_flash"] = f"Updated {count:,} item(s): {safe(what)}."
                    selected.clear()
                    forget_item(*chosen)
                except DomainError as error:
                    st.error(f"Nothing was changed: {safe(error)}", icon=":material/error:")
                    state.pop("bulk_pending", None)
                    return
                state.pop("bulk_pending", None)
                st.rerun()
            if no.button("Cancel", key="bulk_cancel", icon=":material/close:"):
                state.pop("bulk_pending", None)
                st.rerun()


# The table's columns in order, with their widths in pixels: what triage reads first (priority, confidence) comes
# right after the title, and the widths add up so that they are in view on a laptop (1,400 px wide, sidebar open);
# the rest scrolls. (Pinned columns would read grey, like an index: the title must stay legible.)
TABLE_COLUMNS = {
    "id": 64,
    "title": 240,
    "kind": 72,
    "status": 88,
    "priority": 64,
    "confidence": 96,
    "value at risk": 96,
    "owner": 104,
    "quarter": 72,
    "customers": 84,
    "review": 104,
    "reports": 64,
}


def table_columns() -> dict[str, Any]:
    width = TABLE_COLUMNS
    column = st.column_config
    return {
        "id": column.NumberColumn(width=width["id"], format="%d"),
        "title": column.TextColumn(width=width["title"]),
        "kind": column.TextColumn(width=width["kind"]),
        "status": column.TextColumn(width=width["status"]),
        "priority": column.NumberColumn(width=width["priority"], format="%.1f", help="Ranks items within a kind"),
        "confidence": column.ProgressColumn(
            width=width["confidence"], min_value=0.0, max_value=1.0, format="%.2f", help="The classifier's confidence"
        ),
        "value at risk": column.NumberColumn(width=width["value at risk"], format="localized"),
        "owner": column.TextColumn(width=width["owner"]),
        "quarter": column.TextColumn(width=width["quarter"]),
        "customers": column.NumberColumn(width=width["customers"], format="localized"),
        "review": column.TextColumn(width=width["review"]),
        "reports": column.NumberColumn(width=width["reports"]),
    }


def render_table() -> list[ItemView]:
    counted = service.list_items(flt, limit=1)
    total = counted.total
    pages = max(1, math.ceil(total / PAGE_SIZE))
    if state.get("f_page", 1) > pages:
        state["f_page"] = pages
    pager, counter = st.columns([1, 4], vertical_alignment="bottom")
    page_number = int(pager.number_input(f"Page (of {pages:,})", min_value=1, max_value=pages, key="f_page"))
    page = service.list_items(flt, sort=sort, limit=PAGE_SIZE, offset=(page_number - 1) * PAGE_SIZE, with_total=False)
    counter.caption(
        f"{total:,} item(s) match"
        if counted.total_is_exact
        else f"More than {total:,} items match: filter or search to narrow them down"
    )
    render_bulk_actions()
    ids = [i.id for i in page.items]
    frame = pd.DataFrame(
        [
            {
                "id": i.id,
                "title": i.title,
                "kind": i.kind,
                "status": STATUS_LABELS.get(i.status, i.status),
                "quarter": i.quarter,
                "owner": i.owner or "",
                "value at risk": i.value_at_risk,
                "customers": i.customers_affected,
                "priority": i.priority,
                "confidence": i.confidence,
                "review": "needs review" if i.needs_review else "",
                "reports": i.report_count,
            }
            for i in page.items
        ],
        columns=list(TABLE_COLUMNS),
    )
    key = f"backlog_table_{signature}_{page_number}_{state.get('table_version', 0)}"
    state["backlog_table_key"] = key
    if key not in state:  # a page shown again: its ticks come back from the selection kept across pages
        state[key] = {
            "selection": {"rows": [n for n, i in enumerate(ids) if i in selected], "columns": [], "cells": []}
        }
    event = st.dataframe(
        frame,
        key=key,
        on_select="rerun",
        selection_mode=["multi-row", "single-cell"],
        hide_index=True,
        width="stretch",
        height=min(38 + 35 * max(len(frame), 1), 560),
        column_config=table_columns(),
    )
    ticked = {ids[n] for n in event.selection.rows if n < len(ids)}
    if ticked != selected & set(ids):
        selected.difference_update(ids)
        selected.update(ticked)
        st.rerun()  # the count and the bulk panel above the table follow the ticks
    cells = event.selection.cells
    if cells and cells[0][0] < len(ids):
        clicked = (key, tuple(cells[0]))
        if state.get("last_cell") != clicked:
            state["last_cell"] = clicked
            state["open_item"] = ids[cells[0][0]]
    return page.items


def render_board() -> list[ItemView]:
    """One column per status, the highest priority first; a card opens its item."""
    shown = [Status(s) for s in statuses] if statuses else list(Status)
    columns = st.columns(len(shown))
    items: list[ItemView] = []
    for column, status in zip(columns, shown, strict=True):
        column_page = service.list_items(
            dataclasses.replace(flt, statuses=[status.value]), sort=sort, limit=BOARD_CARDS
        )
        with column:
            more = "" if column_page.total_is_exact else "+"
            st.markdown(f"**{status_label(status.value)}** · {column_page.total:,}{more}")
            for item in column_page.items:
                with st.container(border=True):
                    st.markdown(
                        f"{KIND_ICONS.get(item.kind, '')} **#{item.id}** {safe(item.title[:90])}"
                        f"{'…' if len(item.title) > 90 else ''}  \n"
                        f"{item.value_at_risk:,.0f} {item.currency} · {item.owner and safe(item.owner) or 'no owner'}"
                    )
                    if st.button("Open", key=f"board_open_{item.id}", icon=":material/open_in_new:"):
                        state["open_item"] = item.id
            if column_page.total > len(column_page.items):
                st.caption(f"and {column_page.total - len(column_page.items):,}{more} more")
            items.extend(column_page.items)
    return items


items = render_board() if layout == "board" else render_table()
if not items:
    st.info(
        "No items match. Log a problem, import a file with `backlog import`, or load demo data with "
        "`backlog seed-demo`.",
        icon=":material/info:",
    )
    st.stop()


def history_lines(detail: ItemDetail) -> list[str]:
    """Every change as one readable line: when, who, what, from, to (status names as people say them)."""

    def shown(field: str, value: str | None) -> str:
        if value is None or value == "":
            return "(empty)"
        if field == "status":
            return status_label(value)
        return safe(value if len(value) <= 160 else value[:160] + "…")

    return [
        f"**{c.changed_at:%Y-%m-%d %H:%M}** · {safe(c.changed_by)} · {safe(c.field.replace('_', ' '))}: "
        f"{shown(c.field, c.old_value)} → {shown(c.field, c.new_value)}"
        for c in reversed(detail.history)
    ]


def render_merge(item: ItemView) -> None:
    """Merge other items into this one: typed numbers, a preview of what combines, a confirmation."""
    with st.expander("Merge duplicates into this item", icon=":material/merge:"):
        typed = st.text_input(
            "Item numbers to merge into this one", key=f"merge_ids_{item.id}", placeholder="e.g. 57, 58"
        )
        numbers = [int(n) for n in typed.replace(",", " ").split() if n.isdigit()]
        bad = [n for n in typed.replace(",", " ").split() if not n.isdigit()]
        if bad:
            st.error(f"Not an item number: {safe(' '.join(bad))}", icon=":material/error:")
            return
        if not numbers:
            return
        try:
            preview = service.merge_preview(item.id, numbers)
        except DomainError as error:
            st.error(safe(error), icon=":material/error:")
            return
        st.markdown(f"This will fold into **#{item.id}**:")
        for source in preview.sources:
            st.markdown(
                f"- #{source.id} {safe(source.title)} ({source.report_count} report(s), "
                f"{source.value_at_risk:,.0f} {source.currency})"
            )
        st.markdown(
            f"Afterwards #{item.id} holds **{preview.report_count} report(s)**, "
            f"{preview.customers_affected:,} customers, {preview.value_at_risk:,.0f} "
            f"{' + '.join(preview.currencies)} at risk. Every report is kept and the merge can be undone."
        )
        if st.button(
            f"Merge {len(preview.sources)} item(s) into #{item.id}",
            key=f"merge_go_{item.id}",
            type="primary",
            icon=":material/merge:",
        ):
            try:
                merged = backend().backlog().merge(item.id, [s.id for s in preview.sources], actor=actor())
                state[f"item_flash_{item.id}"] = f"Merged; the item now has {merged.report_count} report(s)."
                state.pop(f"merge_ids_{item.id}", None)
                selected.difference_update(s.id for s in preview.sources)
                forget_item(item.id)
                st.rerun()
            except DomainError as error:
                st.error(safe(error), icon=":material/error:")


def render_unmerge(item: ItemView) -> None:
    merged = service.merged_items(item.id)
    if not merged:
        return
    with st.expander(f"Merged into this item ({len(merged)})", icon=":material/call_split:"):
        for source in merged:
            line, action = st.columns([4, 2], vertical_alignment="center")
            line.markdown(f"#{source.id} {safe(source.title)}")
            if action.button("Split back out", key=f"unmerge_{source.id}", icon=":material/call_split:"):
                try:
                    restored = backend().backlog().unmerge(source.id, actor=actor())
                    state[f"item_flash_{item.id}"] = (
                        f"Item #{restored.id} is on its own again with {restored.report_count} report(s)."
                    )
                    forget_item(item.id, source.id)
                    st.rerun()
                except DomainError as error:
                    st.error(safe(error), icon=":material/error:")


live_ids = {i.id for i in items}
open_id = state.get("open_item")
try:
    detail = service.get_item(int(open_id)) if open_id is not None else None
except DomainError:
    detail = None
if detail is None or detail.item.merged_into_id is not None:
    detail = service.get_item(items[0].id)
item = detail.item
st.divider()

left, right = st.columns([3, 2])
with left:
    st.subheader(f"#{item.id} {safe(item.title)}")
    decided = (
        f"decided by {safe(item.kind_decided_by_name or item.kind_decided_by)}"
        if item.kind_decided_by == "person"
        else f"classifier {safe(detail.classifier)}, {percent(item.confidence)} sure"
    )
    st.markdown(
        f"{KIND_ICONS.get(item.kind, '')} **{item.kind}** ({decided}) · **{status_label(item.status)}** · "
        f"{item.quarter} · value at risk **{item.value_at_risk:,.0f} {item.currency}** · version {item.version}"
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
        st.warning("Needs review: decide the kind.", icon=":material/rate_review:")
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
                st.caption(f"Root cause: {safe(problem.root_cause)}")
    if st.button("Ask the assistant about this problem", key="ask_about", icon=":material/chat:"):
        state["ask_problem_id"] = detail.problems[0].id
        st.switch_page("app_pages/assistant.py")
    with st.expander("History", icon=":material/history:"):
        with st.container(height=320, border=False):
            for line in history_lines(detail):
                st.markdown(line)

# The version this person opened: their form is keyed by it and saved against it, so a change made by
# someone else meanwhile is detected (StaleEdit) instead of silently replacing what they typed.
opened = opened_versions.setdefault(item.id, item.version)

with right:
    if opened != item.version:
        st.warning(
            f"Someone else saved this item (now version {item.version}) after you opened it "
            f"(version {opened}). Your form still shows your entries.",
            icon=":material/sync_problem:",
        )
        if st.button("Load the latest version (replaces your entries)", key=f"reload_{item.id}"):
            opened_versions[item.id] = item.version
            st.rerun()
    with st.form(f"edit_item_{item.id}"):
        allowed = [item.status, *sorted(s.value for s in TRANSITIONS[Status(item.status)])]
        new_status = st.selectbox("Status", allowed, format_func=status_label, key=f"edit_status_{item.id}_{opened}")
        people = owner_choices(item.owner)
        if people is None:  # local mode: one person types any name
            owner = st.text_input("Owner", value=item.owner or "", key=f"edit_owner_{item.id}_{opened}", max_chars=200)
        else:  # with sign-in: the people who may own items, never free text
            owner = st.selectbox(
                "Owner",
                people,
                index=people.index(item.owner or ""),
                format_func=lambda o: o or "nobody",
                key=f"edit_owner_{item.id}_{opened}",
            )
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
        if st.form_submit_button("Save", type="primary", icon=":material/save:"):
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
                state[f"item_flash_{item.id}"] = f"Saved item #{item.id} (version {saved.version})."
                forget_item()  # the table shows the saved values
                opened_versions[item.id] = saved.version
                st.rerun()
            except StaleEdit as error:
                st.error(f"{safe(error)} Your entries are still in the form.", icon=":material/sync_problem:")
            except ValidationFailed as error:
                for field, message in error.errors.items():
                    st.error(f"**{safe(field)}**: {safe(message)}", icon=":material/error:")
            except DomainError as error:
                st.error(safe(error), icon=":material/error:")
    # Next to the button that caused it, not at the top of the page.
    if flash := state.pop(f"item_flash_{item.id}", None):
        st.success(flash, icon=":material/check_circle:")
    render_merge(item)
    render_unmerge(item)
