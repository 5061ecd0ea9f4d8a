"""Imports that cannot hurt: re-importing an export adds nothing twice; absurd nesting is bad input (exit 2).
SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from improvement.cli import main


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_reimporting_an_export_duplicates_nothing(sessions, tmp_path: Path, fmt: str, capsys) -> None:  # type: ignore[no-untyped-def]
    for text in ("Parcels arrive late and nobody says so", "Refunds pass four teams", "The app logs people out"):
        assert main(["add", text, "--quarter", "2026-Q4"]) == 0
    assert main(["merge", "1", "2"]) == 0  # an item with two reports
    out = tmp_path / f"backlog.{fmt}"
    assert main(["export", "--format", fmt, "-o", str(out)]) == 0
    capsys.readouterr()
    assert main(["import", str(out), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result == {"items": 0, "problems": 0, "already_present": 3}
    assert main(["list", "--json", "--limit", "100"]) == 0
    items = json.loads(capsys.readouterr().out)
    assert len(items) == 2 and sum(i["report_count"] for i in items) == 3

    # A row that is new is still imported; the known ones beside it are skipped.
    rows = out.read_text()
    if fmt == "json":
        data = json.loads(rows)
        data.append({**data[0], "description": "A new report in the same file", "created_at": ""})
        out.write_text(json.dumps(data))
        assert main(["import", str(out), "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["problems"] == 1


def test_json_nested_ten_thousand_deep_is_bad_input(sessions, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 10_000 + "]" * 10_000)
    assert main(["import", str(deep)]) == 2
    err = capsys.readouterr().err
    assert "nested too deeply" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
