"""People and roles (admins): who may read, log, triage, lead and administer."""

from __future__ import annotations

import streamlit as st

from app_pages.common import actor, backend, safe
from improvement.access import Action, Role
from improvement.domain import DomainError

st.title("People")
st.caption(
    "Roles: **viewer** reads, reviews and asks; **agent** also logs problems; **owner** also triages, edits and "
    "merges; **leader** also sets review targets; **admin** also manages people, knowledge and backups. "
    "Someone signing in for the first time gets the default role "
    f"({safe(backend().settings.default_role)})."
)

me = actor()
if not me.can(Action.ADMINISTER):
    st.warning("Only admins manage people.")
    st.stop()

people = backend().people()
if flash := st.session_state.pop("people_flash", None):
    st.success(flash)  # after the table below was refreshed
rows = people.everyone()
st.dataframe(
    [
        {
            "E-mail": p.email,
            "Name": p.name,
            "Role": p.role or "(access revoked)",
            "Granted by": p.role_changed_by,
            "Last signed in": p.last_seen_at,
        }
        for p in rows
    ],
    hide_index=True,
    width="stretch",
)

left, right = st.columns(2)
with left, st.form("grant", clear_on_submit=True):
    st.subheader("Give a role")
    email = st.text_input("E-mail", key="grant_email", placeholder="name@company.com")
    role = st.selectbox("Role", [r.value for r in Role], index=1, key="grant_role")
    if st.form_submit_button("Save role", type="primary"):
        try:
            saved = people.grant(me, email, role)
            st.session_state["people_flash"] = f"{safe(saved.email)} is now {saved.role}."
            st.rerun()
        except DomainError as error:
            st.error(safe(error))
with right, st.form("revoke"):
    st.subheader("Revoke access")
    choices = [p.email for p in rows if p.role]
    who = st.selectbox("Person", choices, index=None, key="revoke_email", placeholder="choose someone")
    sure = st.checkbox("Yes, they may no longer open this backlog", key="revoke_sure")
    if st.form_submit_button("Revoke"):
        if not who or not sure:
            st.error("Choose the person and tick the confirmation.")
        else:
            try:
                people.revoke(me, who)
                st.session_state["people_flash"] = f"{safe(who)} no longer has access."
                st.rerun()
            except DomainError as error:
                st.error(safe(error))
