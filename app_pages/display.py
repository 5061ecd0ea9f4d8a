"""The one rule for showing user, document and model text in the app: as text, never as markup.

Streamlit renders Markdown (GitHub-flavoured, with autolinks, images, its own ``:color[...]`` and
``$math$`` directives) in ``st.markdown``, ``st.caption``, ``st.write``, alert bodies, expander and
radio labels. Text that came from a person, a document or a model goes through :func:`safe` (bodies)
or :func:`label` (labels) before it reaches one of those, and streamed answers through
:func:`safe_stream`, so no link, image or HTML from data is ever live. ``st.text``, ``st.code``,
dataframes and selectbox/multiselect options show text as text already and need nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

# Every ASCII punctuation character that starts or ends a Markdown construct, plus ":" (breaks
# "https://" autolinks and Streamlit's ":red[...]"/":material/...:" directives), "@" (e-mail
# autolinks) and "&" (HTML entities). CommonMark allows a backslash before any ASCII punctuation.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:@&=\"'])")
# Characters that reorder or hide text (bidi overrides and isolates, zero-width marks) and C0/C1 controls
# other than tab and newline: shown in the app they could make one string look like another.
_INVISIBLE = re.compile(r"[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")


# GitHub-flavoured Markdown turns URLs, www. addresses and e-mail addresses in *text* into links after
# parsing, so backslash escapes do not stop it; an invisible WORD JOINER (U+2060) inside "://", "www." and
# before "@" does, and the text still reads the same.
_AUTOLINK = re.compile(r"(?i)(?<=[a-z]:)(?=//)|(?<=www)(?=\.)|(?=@)|(?<=mailto:)|(?<=xmpp:)")


def plain(text: Any) -> str:
    """The text without controls, bidi overrides or zero-width characters (for any display)."""
    return _INVISIBLE.sub("", "" if text is None else str(text))


def safe(text: Any) -> str:
    """Text for a Markdown body (st.markdown, st.caption, st.error, st.write...): nothing in it renders."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", _AUTOLINK.sub("\u2060", plain(text)))


def label(text: Any) -> str:
    """Text for a widget or expander label (rendered as inline Markdown): one line, nothing live."""
    return safe(" ".join(plain(text).split()))


def safe_stream(chunks: Iterable[Any], raw: list[str]) -> Iterator[str]:
    """Escape a streamed answer chunk by chunk for ``st.write_stream``; ``raw`` collects what was said.

    A URL or address can arrive split over chunks, so text is released up to the last whitespace only: a
    word is always escaped whole.
    """
    pending = ""
    for chunk in chunks:
        text = "" if chunk is None else str(chunk)
        raw.append(text)
        pending += text
        cut = max(pending.rfind(" "), pending.rfind("\n"), pending.rfind("\t"))
        if cut >= 0:
            yield safe(pending[: cut + 1])
            pending = pending[cut + 1 :]
    if pending:
        yield safe(pending)
