"""Plain-text output cannot be forged: a line break, an escape sequence or a bidi override in stored text
never makes a new row in `backlog list` or a new line in the history (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from improvement.cli import main
from improvement.domain import clean_text

FORGED_ROW = "Real title\n999  kaizen  done  2026-Q4  0 EUR  ceo  Forged row"
FORGED_ACTOR = "ana\n  2026-01-01 00:00 ceo: status 'new' -> 'done'"


def test_bidi_overrides_and_controls_are_stripped_at_validation() -> None:
    from improvement.domain import printable

    assert clean_text("Refund\u202e gnp.exe\u2066x\u2069\x1b[2J", field="title", required=True) == "Refund gnp.exex[2J"
    assert printable("a\nb\u202ec\x1b") == "a\\nb\\u202ec\\x1b"


def test_a_newline_in_a_title_or_actor_forges_nothing(sessions, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    assert main(["add", "Parcels arrive late", "--title", FORGED_ROW, "--quarter", "2026-Q4"]) == 0
    assert main(["edit", "1", "--owner", "Kim", "--actor", FORGED_ACTOR]) == 0
    # Rows written by other tools (or before this check) may still hold line breaks and escape sequences.
    with sessions.begin() as session:
        session.execute(text("UPDATE improvements SET owner = :o"), {"o": "x\n1000  kakushin  new\x1b[2K\u202e"})
    capsys.readouterr()

    assert main(["list", "--quarter", "2026-Q4"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3, lines  # header, one item, the count
    assert not any(line.startswith(("999", "1000")) for line in lines)
    assert "\x1b" not in "".join(lines) and "\u202e" not in "".join(lines)

    assert main(["show", "1"]) == 0
    out = capsys.readouterr().out
    assert "\nForged row" not in out and "\n  2026-01-01 00:00 ceo" not in out
