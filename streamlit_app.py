"""Improvement Backlog: the entry point is a router; pages live in app_pages/."""

import logging
import uuid

import streamlit as st

from app_pages.common import backend, sign_in_gate, start_delivery, warm_in_background
from app_pages.display import safe
from improvement.access import Action
from improvement.wiring import outage_message

log = logging.getLogger("improvement.app")

st.set_page_config(page_title="Improvement Backlog", page_icon=":material/explore:", layout="wide")

backlog_page = st.Page("app_pages/backlog.py", title="Backlog", icon=":material/view_list:", url_path="backlog")
pages = [
    st.Page(
        "app_pages/log_problem.py", title="Log a problem", icon=":material/edit_note:", default=True, url_path="log"
    ),
    backlog_page,
    st.Page("app_pages/review.py", title="Quarterly review", icon=":material/monitoring:", url_path="review"),
    st.Page("app_pages/assistant.py", title="Assistant", icon=":material/chat:", url_path="assistant"),
    st.Page("app_pages/knowledge.py", title="Knowledge base", icon=":material/library_books:", url_path="knowledge"),
]

try:
    warm_in_background()  # the first person to log or ask does not wait for the models to load
    person = sign_in_gate()  # with BACKLOG_AUTH=oidc, a visitor who has not signed in sees only the sign-in page
    if person.can(Action.ADMINISTER) and backend().settings.auth == "oidc":
        pages.append(st.Page("app_pages/people.py", title="People", icon=":material/group:", url_path="people"))

    with st.sidebar:
        if backend().settings.auth == "oidc":
            st.markdown(f"Signed in as **{safe(person.name)}**  \n{safe(person.email)} · {person.role.value}")
            st.button("Sign out", on_click=st.logout, key="sign_out")
        else:
            st.caption(f"Local mode: no sign-in. Changes are recorded as **{safe(person.label)}** (`BACKLOG_USER`).")
        info = backend().describe()
        if problem_with_notifications := start_delivery():
            st.warning(safe(problem_with_notifications))
        st.caption(
            f"**Database:** {safe(info['database'])}  \n**Knowledge base:** {safe(info['knowledge'])}  \n"
            f"**Model:** {safe(info['model'])}"
        )

    navigation = st.navigation(pages)
    # A shared link (?item=42, as in e-mails and channel messages) opens that item on the Backlog page.
    if (linked := st.query_params.get("item")) is not None:
        del st.query_params["item"]
        if linked.isdigit():
            st.session_state["open_item"] = int(linked)
            st.switch_page(backlog_page)
    navigation.run()
except Exception as error:
    message = outage_message(error)
    if message is None:
        raise  # a bug: Streamlit shows no details to users (client.showErrorDetails = "none")
    reference = uuid.uuid4().hex[:8]
    log.error("a page could not be shown (reference %s)", reference, exc_info=error)
    st.error(f"{message} (reference {reference})", icon=":material/power_off:")
