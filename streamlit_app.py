"""Improvement Backlog: the entry point is a router; pages live in app_pages/."""

import streamlit as st

from app_pages.common import backend

st.set_page_config(page_title="Improvement Backlog", page_icon=":material/explore:", layout="wide")

pages = [
    st.Page(
        "app_pages/log_problem.py", title="Log a problem", icon=":material/edit_note:", default=True, url_path="log"
    ),
    st.Page("app_pages/backlog.py", title="Backlog", icon=":material/view_list:", url_path="backlog"),
    st.Page("app_pages/review.py", title="Quarterly review", icon=":material/monitoring:", url_path="review"),
    st.Page("app_pages/assistant.py", title="Assistant", icon=":material/chat:", url_path="assistant"),
    st.Page("app_pages/knowledge.py", title="Knowledge base", icon=":material/library_books:", url_path="knowledge"),
]

with st.sidebar:
    st.text_input(
        "Your name",
        key="actor",
        placeholder="who is making changes",
        help="Recorded in the history of every change you make.",
    )
    info = backend().describe()
    st.caption(
        f"**Database:** {info['database']}  \n**Knowledge base:** {info['knowledge']}  \n**Model:** {info['model']}"
    )

st.navigation(pages).run()
