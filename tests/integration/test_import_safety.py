"""Imports that cannot hurt. SQLite and PostgreSQL.

- re-importing an export, or the same file twice (with or without times), adds nothing twice;
- a long import is validated whole, then written in batches: others write in between, progress is shown,
  and an import stopped between batches is completed by running it again, without duplicates;
- absurd nesting is bad input (exit 2).
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

from db.models import Improvement, Problem
from improvement import transfer
from improvement.cli import main
from improvement.domain import DomainError
from improvement.transfer import ImportFailed, import_file
from improvement.wiring import make_backend


def _cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "improvement", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=dict(os.environ),
    )


def _write_csv(path: Path, rows: int, *, start: int = 0, times: bool = False) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["description", "kind", "quarter", "value_at_risk", *(["created_at"] if times else [])])
        for i in range(start, start + rows):
            moment = [f"2026-10-01T09:{(i // 60) % 60:02d}:{i % 60:02d}+00:00"] if times else []
            writer.writerow([f"Problem number {i} about a late refund", "kaizen", "2026-Q4", i, *moment])
    return path


def _counts(sessions: sessionmaker[Session]) -> tuple[int, int, int]:
    with sessions() as session:
        items = session.scalar(select(func.count()).select_from(Improvement)) or 0
        problems = session.scalar(select(func.count()).select_from(Problem)) or 0
        distinct = session.scalar(select(func.count(func.distinct(Problem.description)))) or 0
    return items, problems, distinct


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_reimporting_an_export_duplicates_nothing(sessions, tmp_path: Path, fmt: str, capsys) -> None:  # type: ignore[no-untyped-def]
    for text_ in ("Parcels arrive late and nobody says so", "Refunds pass four teams", "The app logs people out"):
        assert main(["add", text_, "--quarter", "2026-Q4"]) == 0
    assert main(["merge", "1", "2"]) == 0  # an item with two reports
    out = tmp_path / f"backlog.{fmt}"
    assert main(["export", "--format", fmt, "-o", str(out)]) == 0
    capsys.readouterr()
    assert main(["import", str(out), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result == {"items": 0, "problems": 0, "already_present": 3, "repeated_in_file": 0}
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


def test_the_same_file_without_times_imported_twice_adds_nothing_twice(sessions, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    path = _write_csv(tmp_path / "plain.csv", 5)
    assert main(["import", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["problems"] == 5
    assert main(["import", str(path)]) == 0
    assert "skipped 5 already imported" in capsys.readouterr().out
    assert _counts(sessions) == (5, 5, 5)
    # ... and its export (which now carries the times the import gave) is recognised too.
    out = tmp_path / "export.csv"
    assert main(["export", "--format", "csv", "-o", str(out)]) == 0
    assert main(["import", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["already_present"] == 5
    assert _counts(sessions) == (5, 5, 5)


def test_a_row_repeating_an_earlier_row_is_imported_once_and_reported(sessions, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "twice.json"
    same = {"description": "The gate change was not announced", "touchpoint": "airport", "kind": "kaizen"}
    other_time = {**same, "created_at": "2026-10-01T10:00:00+00:00"}
    path.write_text(json.dumps([same, {**same, "touchpoint": " airport "}, other_time, dict(other_time)]))
    assert main(["import", str(path), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    # White space is normalised; a report with a time is not the same as one without.
    assert result == {"items": 2, "problems": 2, "already_present": 0, "repeated_in_file": 2}
    assert main(["import", str(path)]) == 0
    assert "2 row(s) repeating an earlier row" in capsys.readouterr().out
    assert _counts(sessions)[1] == 2


def test_a_long_import_is_written_in_batches_with_progress(sessions, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = _write_csv(tmp_path / "long.csv", 50, times=True)
    seen: list[tuple[int, int]] = []
    service = make_backend().backlog()
    result = import_file(
        service, sessions, path, actor="importer", batch_rows=20, progress=lambda d, t: seen.append((d, t))
    )
    assert result["problems"] == 50
    assert seen == [(20, 50), (40, 50), (50, 50)]
    with sessions() as session:  # one transaction a batch: three moments of writing
        moments = session.scalars(select(Improvement.updated_at).distinct()).all()
    assert len(moments) == 3


def test_a_bad_last_row_writes_nothing_even_in_batches(sessions, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = _write_csv(tmp_path / "bad.csv", 60)
    with path.open("a", newline="") as handle:
        csv.writer(handle).writerow(["A last problem with a bad kind", "kaizan", "2026-Q4", 1])
    service = make_backend().backlog()
    with pytest.raises(ImportFailed) as refused:
        import_file(service, sessions, path, actor="importer", batch_rows=10)
    assert "row 61, field kind" in str(refused.value)
    assert _counts(sessions) == (0, 0, 0)


def test_an_import_stopped_between_batches_is_completed_by_running_it_again(  # type: ignore[no-untyped-def]
    sessions, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write_csv(tmp_path / "stopped.csv", 45)
    service = make_backend().backlog()
    real = transfer._write_batch
    calls = {"n": 0}

    def dies_at_the_third_batch(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt  # as if killed between two batches
        return real(*args, **kwargs)

    monkeypatch.setattr(transfer, "_write_batch", dies_at_the_third_batch)
    with pytest.raises(KeyboardInterrupt):
        import_file(service, sessions, path, actor="importer", batch_rows=10)
    assert _counts(sessions) == (20, 20, 20)  # two whole batches, nothing of the third
    monkeypatch.setattr(transfer, "_write_batch", real)
    result = import_file(service, sessions, path, actor="importer", batch_rows=10)
    assert result == {"items": 25, "problems": 25, "already_present": 20, "repeated_in_file": 0}
    assert _counts(sessions) == (45, 45, 45)


def test_the_cli_shows_progress_on_stderr_and_keeps_json_on_stdout(  # type: ignore[no-untyped-def]
    sessions, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.setenv("BACKLOG_IMPORT_BATCH_ROWS", "10")
    path = _write_csv(tmp_path / "progress.csv", 25)
    assert main(["import", str(path), "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out) == {"items": 25, "problems": 25, "already_present": 0, "repeated_in_file": 0}
    assert captured.err.splitlines() == [
        "import: 10 of 25 reports done",
        "import: 20 of 25 reports done",
        "import: 25 of 25 reports done",
    ]


def test_another_writer_gets_in_while_a_long_import_runs(sessions, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """`backlog add` from another process succeeds while 20,000 rows are imported (500 per transaction)."""
    monkeypatch.setenv("BACKLOG_IMPORT_BATCH_ROWS", "500")
    path = _write_csv(tmp_path / "long.csv", 20_000)
    assert _cli("db", "upgrade").returncode == 0
    importer = subprocess.Popen(
        [sys.executable, "-m", "improvement", "import", str(path), "--json"],
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert importer.stderr is not None
        first = importer.stderr.readline()  # the first batch is written: the import is under way
        assert first.startswith("import: 500 of 20,000"), first
        added = _cli("add", "Customers are not told when their delivery slot moves", "--json", timeout=300)
        assert added.returncode == 0, added.stderr
        still_importing = importer.poll() is None
        out, err = importer.communicate(timeout=900)
    finally:
        if importer.poll() is None:
            importer.kill()
    assert importer.returncode == 0, err
    assert json.loads(out)["problems"] == 20_000
    assert _counts(sessions)[0] == 20_001
    if not still_importing:  # the add landed after the import: the test proved nothing this time
        pytest.skip("the import finished before the add; nothing was concurrent")


def test_existing_reports_get_their_key_from_the_migration(sessions, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Reports written before migration 0010 are keyed by it (of two identical ones, the oldest), so an
    export taken before it is recognised when imported again."""
    from alembic import command

    from db import engine as engine_module
    from db.engine import alembic_config

    assert main(["add", "An old report about the app", "--quarter", "2026-Q4"]) == 0
    out = tmp_path / "before.csv"
    assert main(["export", "--format", "csv", "-o", str(out)]) == 0
    engine = sessions.kw["bind"]
    with engine.connect() as connection:  # the key `add` gave it
        added_key = connection.execute(text("SELECT report_key FROM problems")).scalar_one()
    config = alembic_config(engine)
    columns = ", ".join(c.name for c in Problem.__table__.columns if c.name not in ("id", "report_key"))
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "0009")
        with engine.begin() as connection:  # a second, identical report, as old data may hold
            connection.execute(text(f"INSERT INTO problems ({columns}) SELECT {columns} FROM problems"))
    finally:
        engine_module._upgraded.clear()
        engine_module.upgrade(engine)
    with engine.connect() as connection:
        keys = connection.execute(text("SELECT report_key FROM problems ORDER BY id")).scalars().all()
    assert keys == [added_key, None]  # the migration computes the same key as the code
    assert main(["import", str(out)]) == 0
    assert _counts(sessions) == (1, 2, 1)  # the export's report was recognised: nothing added


def test_json_nested_ten_thousand_deep_is_bad_input(sessions, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 10_000 + "]" * 10_000)
    assert main(["import", str(deep)]) == 2
    err = capsys.readouterr().err
    assert "nested too deeply" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    # ... and as a process, where the stack is the interpreter's own
    result = _cli("import", str(deep))
    assert result.returncode == 2 and "nested too deeply" in result.stderr and "Traceback" not in result.stderr


def test_a_wrong_extension_is_refused_before_anything(sessions, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "backlog.xlsx"
    path.write_bytes(b"PK\x03\x04")
    with pytest.raises(DomainError, match="unknown import format"):
        import_file(make_backend().backlog(), sessions, path, actor="importer")
