"""What every page shares: the backend (created once per process), the current user, safe text."""

from __future__ import annotations

import logging
import threading

import streamlit as st

# The safe-display rule lives in app_pages/display.py; pages may import it from here too.
from app_pages.display import label as label
from app_pages.display import safe as safe
from improvement.access import Actor
from improvement.domain import DomainError
from improvement.wiring import Backend, make_backend

# Streamlit's Material icons: emoji render as empty boxes on machines without an emoji font.
KIND_ICONS = {"kaizen": ":material/build:", "kaikaku": ":material/construction:", "kakushin": ":material/lightbulb:"}
KIND_COLORS = {"kaizen": "#2E86AB", "kaikaku": "#E07A5F", "kakushin": "#81B29A"}
STATUS_LABELS = {
    "new": "New",
    "triaged": "Triaged",
    "planned": "Planned",
    "in_progress": "In progress",
    "done": "Done",
    "dropped": "Dropped",
}


@st.cache_resource(show_spinner=False)
def backend() -> Backend:
    """One backend per server process: engine, models and Chroma client are shared by every session."""
    shared = make_backend()
    shared.trial_in_background = True  # a chat model is trialled as a classifier without holding up a page
    shared.signed_in_only = shared.settings.auth == "oidc"  # the services refuse changes without a signed-in person
    return shared


@st.cache_resource(show_spinner="Loading the classifier and the playbook…")
def warm_models() -> bool:
    shared = backend()
    shared.classifier()  # the embedding model and the fitted classifier
    shared.problem_index()  # Chroma
    _ = shared.playbook  # the playbook's vectors and its fitted ranking
    return True


log = logging.getLogger(__name__)


@st.cache_resource(show_spinner=False)
def warm_in_background() -> threading.Thread | None:
    """Load the classifier, the similar-problem index, the playbook's ranking and the knowledge base in a
    background thread as soon as the server serves its first page, so the first person to log a problem or
    ask the assistant does not wait for them (on a first start the playbook's ranking is fitted: a few
    minutes on 2 cores). A page that needs one of them meanwhile waits for the same load, never a second one.
    """

    if not backend().settings.warm_up:
        return None

    def warm() -> None:
        try:
            shared = backend()
            shared.classifier()
            shared.problem_index()
            _ = shared.playbook
            shared.knowledge.ensure_starter_knowledge()
            shared.knowledge.search("customer", k=1)  # builds the word index over the passages
        except Exception:  # a page that needs the part that failed reports it; the log has the details
            log.exception("warming up the models in the background failed")

    thread = threading.Thread(target=warm, name="backlog-warm-up", daemon=True)
    thread.start()
    return thread


@st.cache_resource(show_spinner=False)
def start_delivery() -> str:
    """Deliver the outbox from the app too (one background thread per server process) when a webhook, team
    channel or mail server is set; returns why notifications are off when a setting is wrong."""
    shared = backend()
    try:
        deliverer = shared.deliverer()
    except DomainError as error:
        return f"Notifications are off: {error}"
    if deliverer.channels.any:
        threading.Thread(
            target=deliverer.serve,
            kwargs={"interval": 10.0, "triage_hours": shared.settings.triage_hours},
            name="backlog-delivery",
            daemon=True,
        ).start()
    return ""


def status_label(status: str) -> str:
    return STATUS_LABELS.get(status, status)


def local_name() -> str:
    """Local mode's one person: BACKLOG_USER, else the operating-system user."""
    import getpass

    try:
        fallback = getpass.getuser()
    except (KeyError, OSError):  # no user name in a bare container
        fallback = "local"
    return backend().settings.user or fallback


def actor() -> Actor:
    """The person acting in this session: the signed-in person (set by streamlit_app.py), or local mode's."""
    signed_in = st.session_state.get("backlog_actor")
    if isinstance(signed_in, Actor):
        return signed_in
    return Actor.local(local_name())


def owner_choices(current: str | None) -> list[str] | None:
    """With sign-in, who may own an item ("" for nobody, then everyone with the owner role or above, as
    "Name <email>"); None in local mode, where a name is typed."""
    if backend().settings.auth != "oidc":
        return None
    people = backend().people().owners()
    return ["", *sorted({*people, *([current] if current else [])})]


def sign_in_gate() -> Actor:
    """With BACKLOG_AUTH=oidc, nothing below this runs for a visitor who has not signed in."""
    settings = backend().settings
    if settings.auth != "oidc":
        return actor()
    if not st.user.is_logged_in:
        st.title("Improvement Backlog")
        st.write("Sign in with your company account to see and change the backlog.")
        st.button("Sign in", type="primary", on_click=st.login, key="sign_in")
        st.stop()
    email = str(st.user.get("email") or "")
    cached = st.session_state.get("backlog_actor")
    if isinstance(cached, Actor) and cached.email == email.lower():
        return cached
    try:
        person = backend().people().sign_in(email, str(st.user.get("name") or ""))
    except DomainError as error:
        st.error(safe(error))
        st.button("Sign out", on_click=st.logout, key="sign_out_refused")
        st.stop()
    st.session_state["backlog_actor"] = person
    return person


def money(amount: float, currency: str = "EUR") -> str:
    """Money as a leader reads it on a slide: 1.2 M EUR, 85 k EUR, 900 EUR."""
    for size, suffix in ((1e9, " bn"), (1e6, " M"), (1e3, " k")):
        if abs(amount) >= size:
            return f"{amount / size:,.1f}{suffix} {currency}".strip()
    return f"{amount:,.0f} {currency}".strip()
