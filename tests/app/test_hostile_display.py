"""One rule for showing data: every page, with hostile text in every field, a hostile document and a hostile answer.

The walk collects every string Streamlit renders as Markdown (bodies of markdown/caption/alerts/headings,
widget and expander labels, help texts, radio options), renders it with a CommonMark parser that lets raw
HTML through, and fails on any tag that is not plain formatting (a link, an image, a script, a hostile
<b>) and on any unescaped URL that GitHub-flavoured Markdown would turn into a live link.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from google.protobuf.json_format import MessageToDict
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from markdown_it import MarkdownIt
from streamlit.testing.v1 import AppTest

from tests.app.test_pages import PAGES, app

HOSTILE = (
    "[Reset your password here](https://evil.example/reset) ![x](https://evil.example/leak.png?d=1) "
    '<img src="https://evil.example/i.png"> <script>alert(1)</script> <b>bold</b> https://evil.example/bare '
    "www.evil.example me@evil.example :red[red] $x^2$"
)
# Tags a page's own formatting may produce; data must never add anything else.
FORMATTING = {"p", "strong", "em", "br", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "code", "pre", "hr"}
RENDERER = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
PLAIN = {"text", "code"}  # st.text and st.code show their text as text
# What GitHub-flavoured Markdown links in the text *after* parsing (escapes removed), like remark-gfm does.
AUTOLINK = re.compile(r"(?:https?://|www\.|mailto:|[-.\w+]@[-\w]+\.|javascript:)", re.IGNORECASE)


def _strings(value: Any, keys: set[str]) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key in keys and isinstance(item, str):
                yield item
            elif key in keys and isinstance(item, list):
                yield from (s for s in item if isinstance(s, str))
            else:
                yield from _strings(item, keys)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item, keys)


def rendered_markdown(at: AppTest) -> list[str]:
    """Every string on the page that Streamlit renders as Markdown."""
    found: list[str] = []

    def walk(node: Any) -> None:
        proto = getattr(node, "proto", None)
        if proto is not None and hasattr(proto, "DESCRIPTOR") and getattr(node, "type", "") not in PLAIN:
            data = MessageToDict(proto)
            keys = {"body", "label", "help", "caption"}
            if getattr(node, "type", "") == "radio":
                keys.add("options")
            found.extend(_strings(data, keys))
        children = getattr(node, "children", {})
        for child in children.values() if isinstance(children, dict) else children:
            walk(child)

    walk(at._tree)
    return found


def assert_nothing_live(at: AppTest, where: str) -> int:
    assert not at.exception, at.exception
    strings = rendered_markdown(at)
    hostile_seen = 0
    for text in strings:
        html = RENDERER.render(text)
        tags = {tag.lower() for tag in re.findall(r"<\s*([a-zA-Z][a-zA-Z0-9]*)", html)}
        assert tags <= FORMATTING, f"{where}: {sorted(tags - FORMATTING)} live in {text!r}"
        assert not AUTOLINK.search(text.replace("\\", "")), f"{where}: an autolink in {text!r}"
        hostile_seen += "Reset your password" in text
    return hostile_seen


def hostile_fields() -> dict[str, Any]:
    return {
        "title": HOSTILE[:190],
        "description": f"Parcels arrive late and nobody tells the customer. {HOSTILE}",
        "customer_story": HOSTILE,
        "touchpoint": HOSTILE[:190],
        "segment": HOSTILE[:190],
        "industry": HOSTILE[:190],
        "root_cause": HOSTILE,
    }


@pytest.fixture
def hostile_data(monkeypatch: pytest.MonkeyPatch) -> int:
    """An item whose every field is hostile, done (so the review credits its hostile owner), and a hostile document."""
    monkeypatch.setenv("BACKLOG_STARTER_KNOWLEDGE", "false")
    monkeypatch.setenv("BACKLOG_USER", HOSTILE[:190])  # local mode's name, shown in the sidebar
    from improvement.domain import quarter_of
    from improvement.settings import get_settings
    from improvement.wiring import make_backend

    get_settings.cache_clear()
    backend = make_backend()
    service = backend.backlog()
    logged = service.log_problem({**hostile_fields(), "quarter": quarter_of(datetime.now(UTC))}, actor=HOSTILE[:190])
    item_id = logged.improvement_id
    for status in ("triaged", "in_progress", "done"):
        service.update_item(
            item_id,
            {"owner": HOSTILE[:190], "target": HOSTILE, "outcome": HOSTILE},
            status=status,
            actor=HOSTILE[:190],
        )
    document = (
        f"---\ntitle: {HOSTILE}\nauthor: {HOSTILE[:150]}\n---\n"
        f"Refund zebras proactively when parcels are late. {HOSTILE}\n\nCall zebras before they call you. {HOSTILE}\n"
    ).encode()
    backend.knowledge.ingest_upload("zebra [notes](https://evil.example).md", document)
    backend.engine.dispose()
    return item_id


@pytest.mark.parametrize("page", PAGES)
def test_no_page_renders_markup_from_hostile_data(page: str, hostile_data: int) -> None:
    at = app(page)
    assert_nothing_live(at, page)


def test_log_page_result_with_hostile_fields(hostile_data: int) -> None:
    at = app()
    keys = {
        "title": "log_title",
        "touchpoint": "log_touchpoint",
        "segment": "log_segment",
        "industry": "log_industry",
    }
    fields = hostile_fields()
    for field, key in keys.items():
        at.text_input(key=key).set_value(fields[field])
    at.text_area(key="log_description").set_value(fields["description"])
    at.text_area(key="log_story").set_value(fields["customer_story"])
    at.text_area(key="log_root_cause").set_value(fields["root_cause"])
    at.button[0].click().run()
    if any(b.key == "log_dup_anyway" for b in at.button):  # the same hostile problem was logged minutes ago
        assert assert_nothing_live(at, "duplicate warning") >= 1
        at.button(key="log_dup_anyway").click().run()
    assert any("This calls for" in s.value for s in at.subheader)
    assert assert_nothing_live(at, "log result") >= 1  # the hostile similar problem is on the page, escaped


def test_backlog_item_with_hostile_fields(hostile_data: int) -> None:
    at = app("app_pages/backlog.py")
    at.session_state["open_item"] = hostile_data  # what a click on its row does
    at.run()
    # The hostile root cause, story, description and title are shown (as text) and nothing in them is live.
    assert assert_nothing_live(at, "backlog item") >= 4


def test_assistant_with_a_hostile_document_and_a_hostile_answer(hostile_data: int) -> None:
    at = app("app_pages/assistant.py")
    at.session_state["assistant_chat_model"] = GenericFakeChatModel(
        messages=iter([AIMessage(content=f"Refund zebras first [1]. {HOSTILE} [1]")])
    )
    at.chat_input(key="chat_question").set_value("How do we refund zebras proactively?").run()
    assert at.expander, "the hostile document is cited"
    assert any("Reset your password" in e.label for e in at.expander)  # its title is the label, escaped
    assert assert_nothing_live(at, "assistant") >= 2
