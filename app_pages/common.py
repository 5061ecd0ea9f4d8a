"""What every page shares: the backend (created once per process), the current user, safe text."""

from __future__ import annotations

import re
from typing import Any

import streamlit as st

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
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$])")


@st.cache_resource(show_spinner=False)
def backend() -> Backend:
    """One backend per server process: engine, models and Chroma client are shared by every session."""
    shared = make_backend()
    shared.trial_in_background = True  # a chat model is trialled as a classifier without holding up a page
    return shared


@st.cache_resource(show_spinner="Loading the classifier and the playbook…")
def warm_models() -> bool:
    shared = backend()
    shared.classifier()  # the embedding model and the fitted classifier
    shared.problem_index()  # Chroma
    _ = shared.playbook  # the playbook's vectors and its fitted ranking
    return True


def safe(text: Any) -> str:
    """User text shown through st.markdown: every Markdown/HTML character escaped, so nothing renders."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", str(text or ""))


def status_label(status: str) -> str:
    return STATUS_LABELS.get(status, status)


def actor() -> str:
    return str(st.session_state.get("actor") or "anonymous")


def money(amount: float, currency: str = "EUR") -> str:
    """Money as a leader reads it on a slide: 1.2 M EUR, 85 k EUR, 900 EUR."""
    for size, suffix in ((1e9, " bn"), (1e6, " M"), (1e3, " k")):
        if abs(amount) >= size:
            return f"{amount / size:,.1f}{suffix} {currency}".strip()
    return f"{amount:,.0f} {currency}".strip()
