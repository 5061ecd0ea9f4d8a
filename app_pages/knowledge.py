"""The knowledge base: the articles the assistant answers from; upload, remove, re-ingest."""

import pandas as pd
import streamlit as st

from app_pages.common import backend, safe
from assistant.ingest import MAX_FILE_BYTES, IngestError

st.title("📚 Knowledge base")
knowledge = backend().knowledge
with st.spinner("Opening the knowledge base…"):
    knowledge.ensure_starter_knowledge()
documents = knowledge.documents()
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

st.subheader("Add articles")
uploads = st.file_uploader(
    f"Text, Markdown, HTML or PDF files ({MAX_FILE_BYTES // 2**20} MB each at most)",
    accept_multiple_files=True,
    type=["txt", "md", "html", "htm", "pdf"],
    key="kb_upload",
    max_upload_size=MAX_FILE_BYTES // 2**20,  # the uploader refuses what ingestion would refuse
)
if st.button("Ingest", type="primary", disabled=not uploads, key="kb_ingest"):
    with st.status("Ingesting…", expanded=True) as status:
        failures = 0
        for upload in uploads or []:
            try:
                added = knowledge.ingest_upload(upload.name, upload.getvalue())
                replaced = " (replaced the earlier upload of that name)" if added.replaced else ""
                st.write(f"✅ {safe(added.source)}: {added.chunks} chunk(s){replaced}")
            except IngestError as error:
                failures += 1
                st.write(f"❌ {safe(upload.name)}: {safe(error)}")
        status.update(
            label=f"Done: {len(uploads or []) - failures} ingested, {failures} failed",
            state="error" if failures else "complete",
        )

with st.expander("Starter notes"):
    st.caption("The product's own notes on four CX-leadership articles. Reloading replaces them, never duplicates.")
    if st.button("Reload the starter notes", key="kb_reload_starter"):
        with st.spinner("Re-ingesting the starter notes…"):
            chunks = knowledge.reload_starter_knowledge()
        st.success(f"Reloaded: {chunks} chunk(s).")

if documents:
    st.subheader("Remove a document")
    source = st.selectbox(
        "Document",
        [d.source for d in documents],
        key="kb_remove_choice",
        format_func=lambda s: next(f"{d.title} ({d.source})" for d in documents if d.source == s),
    )
    if st.button("Remove", key="kb_remove"):
        knowledge.remove(source)
        st.success("Removed, with all its chunks.")
        st.rerun()
