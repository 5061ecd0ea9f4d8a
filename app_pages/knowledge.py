"""The knowledge base: the articles the assistant answers from; upload, remove, re-ingest."""

import pandas as pd
import streamlit as st

from app_pages.common import actor, backend, safe
from assistant.ingest import MAX_FILE_BYTES, IngestError
from improvement.access import Action

st.title(":material/library_books: Knowledge base")
knowledge = backend().knowledge
with st.spinner("Opening the knowledge base…"):
    knowledge.ensure_starter_knowledge()
documents = knowledge.documents()
# What the last action did, shown after the rerun that refreshed the table.
if flash := st.session_state.pop("kb_flash", None):
    kind, flash_lines = flash
    (st.error if kind == "error" else st.success)(
        "  \n".join(flash_lines), icon=":material/error:" if kind == "error" else ":material/check_circle:"
    )
st.caption(
    f"{len(documents)} document(s), {sum(d.chunk_count for d in documents):,} chunk(s). "
    "Starter notes are the product's own summaries of four CX-leadership articles, with attribution."
)
st.dataframe(
    pd.DataFrame(
        [
            {
                "title": d.title,
                "author": d.author,
                "source": d.source,
                "url": d.url,
                "chunks": d.chunk_count,
                "starter": d.starter,
                "ingested": d.ingested_at.strftime("%Y-%m-%d %H:%M"),
            }
            for d in documents
        ]
    ),
    hide_index=True,
    width="stretch",
    column_config={"url": st.column_config.LinkColumn(), "starter": st.column_config.CheckboxColumn()},
)

if not actor().can(Action.ADMINISTER):
    st.caption("Only admins add, reload or remove articles.")
    st.stop()

st.subheader("Add articles")
uploads = st.file_uploader(
    f"Text, Markdown, HTML or PDF files ({MAX_FILE_BYTES // 2**20} MB each at most)",
    accept_multiple_files=True,
    type=["txt", "md", "html", "htm", "pdf"],
    key="kb_upload",
    max_upload_size=MAX_FILE_BYTES // 2**20,  # the uploader refuses what ingestion would refuse
)
if st.button("Ingest", type="primary", disabled=not uploads, key="kb_ingest", icon=":material/upload_file:"):
    lines: list[str] = []
    failures = 0
    with st.spinner("Ingesting…"):
        for upload in uploads or []:
            try:
                added = knowledge.ingest_upload(upload.name, upload.getvalue(), actor=actor())
                replaced = " (replaced the earlier upload of that name)" if added.replaced else ""
                lines.append(f"{safe(added.source)}: {added.chunks} chunk(s){replaced}")
            except IngestError as error:
                failures += 1
                lines.append(f"{safe(upload.name)}: not ingested, {safe(error)}")
    done = len(uploads or []) - failures
    st.session_state["kb_flash"] = ("error" if failures else "ok", [f"{done} ingested, {failures} failed", *lines])
    st.session_state.pop("kb_upload", None)
    st.rerun()  # the table above lists what was just added

with st.expander("Starter notes", icon=":material/menu_book:"):
    st.caption("The product's own notes on four CX-leadership articles. Reloading replaces them, never duplicates.")
    if st.button("Reload the starter notes", key="kb_reload_starter", icon=":material/refresh:"):
        with st.spinner("Re-ingesting the starter notes…"):
            chunks = knowledge.reload_starter_knowledge(actor=actor())
        st.session_state["kb_flash"] = ("ok", [f"Reloaded: {chunks} chunk(s)."])
        st.rerun()

if documents:
    st.subheader("Remove a document")
    source = st.selectbox(
        "Document",
        [d.source for d in documents],
        key="kb_remove_choice",
        format_func=lambda s: next(f"{d.title} ({d.source})" for d in documents if d.source == s),
    )
    if st.button("Remove…", key="kb_remove", icon=":material/delete:"):
        st.session_state["kb_remove_pending"] = source
    pending = st.session_state.get("kb_remove_pending")
    if pending:
        title = next((d.title for d in documents if d.source == pending), pending)
        st.warning(
            f"Remove **{safe(title)}** and all its chunks? The assistant will no longer cite it.",
            icon=":material/warning:",
        )
        yes, no = st.columns(2)
        if yes.button("Remove it", key="kb_remove_confirm", type="primary", icon=":material/delete_forever:"):
            knowledge.remove(pending, actor=actor())
            st.session_state.pop("kb_remove_pending", None)
            st.session_state["kb_flash"] = ("ok", [f"Removed {safe(title)}, with all its chunks."])
            st.rerun()
        if no.button("Keep it", key="kb_remove_cancel", icon=":material/close:"):
            st.session_state.pop("kb_remove_pending", None)
            st.rerun()
