"""Improvement Backlog: the entry point is a router; pages live in app_pages/."""

import logging
import uuid

import streamlit as st

from app_pages.common import backend
from app_pages.display import safe
from improvement.wiring import outage_message

log = logging.getLogger("improvement.app")

st.set_page_config(page_title="Improvement Backlog", page_icon="🧭", layout="wide")

pages = [
    st.Page("app_pages/log_problem.py", title="Log a problem", icon="📝", default=True, url_path="log"),
    st.Page("app_pages/backlog.py", title="Backlog", icon="📋", url_path="backlog"),
    st.Page("app_pages/review.py", title="Quarterly review", icon="📊", url_path="review"),
    st.Page("app_pages/assistant.py", title="Assistant", icon="💬", url_path="assistant"),
    st.Page("app_pages/knowledge.py", title="Knowledge base", icon="📚", url_path="knowledge"),
]

try:
    with st.sidebar:
        st.text_input(
            "Your name",
            key="actor",
            placeholder="who is making changes",
            help="Recorded in the history of every change you make.",
        )
        info = backend().describe()
        st.caption(
            f"**Database:** {safe(info['database'])}  \n**Knowledge base:** {safe(info['knowledge'])}  \n"
            f"**Model:** {safe(info['model'])}"
        )
    st.navigation(pages).run()
except Exception as error:
    message = outage_message(error)
    if message is None:
        raise  # a bug: Streamlit shows no details to users (client.showErrorDetails = "none")
    reference = uuid.uuid4().hex[:8]
    log.error("a page could not be shown (reference %s)", reference, exc_info=error)
    st.error(f"{message} (reference {reference})", icon="🔌")
