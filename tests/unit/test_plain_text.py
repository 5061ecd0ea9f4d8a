"""Answers shown as plain paragraphs: no Markdown headings, no empty citation bullets (issue 17)."""

from assistant.chain import plain_text


def test_headings_and_bullets_become_plain_text() -> None:
    raw = "- # Proactive service ## Why it matters\n\n## Call them first [1]\n* > Report in **money** [2]"
    assert plain_text(raw) == "Proactive service Why it matters\n\nCall them first [1]\n\nReport in money [2]"


def test_a_line_of_only_citations_joins_the_line_before() -> None:
    assert plain_text("Leaders pre-empt problems.\n- [3]\n\n[4] [5]") == "Leaders pre-empt problems. [3] [4] [5]"
    assert plain_text("- [3]") == ""


def test_ordinary_text_is_unchanged() -> None:
    text = "Refunds take 30 days; the 3 teams hand off #42 twice. Cost: 1-2 weeks [1]."
    assert plain_text(text) == text
