"""Content-free text is recognised, and no real problem is mistaken for it."""

import pytest

from improvement.classification import load_content_free, load_examples, load_heldout
from improvement.content import content_problem


def test_every_shipped_content_free_input_is_recognised_with_a_reason() -> None:
    texts = load_content_free()
    assert len(texts) >= 40
    reasons = {t: content_problem(t) for t in texts}
    assert [t for t, r in reasons.items() if r is None] == []
    assert "too short" in str(reasons["ok"]) and "keyboard mash" in str(reasons["asdf qwer zxcv"])
    assert "placeholder" in str(reasons["lorem ipsum dolor sit amet"])


def test_no_labelled_problem_is_taken_for_content_free_text() -> None:
    texts = [e.text for e in load_examples()] + [e.text for e in load_heldout()]
    assert [t for t in texts if content_problem(t)] == []


@pytest.mark.parametrize(
    "text",
    [
        "Refund took three weeks",
        "app crashes at checkout",
        "SMS PDF link broken",
        "wrong price on shelf label",
        "Die Rechnung ist falsch und niemand ruft uns zurück",  # another language is content, judged elsewhere
    ],
)
def test_short_real_problems_have_content(text: str) -> None:
    assert content_problem(text) is None


@pytest.mark.parametrize(
    "text", ["", "   ", "test test", "please fix", "<insert description here>", "qwertyuiop", "!!!"]
)
def test_more_content_free_inputs(text: str) -> None:
    assert content_problem(text)
