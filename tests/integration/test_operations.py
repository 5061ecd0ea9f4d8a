"""Crash safety, drift repair, backup and restore."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import text

from assistant.doctor import check
from improvement.cli import main
from improvement.wiring import make_backend


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "improvement", *args], capture_output=True, text=True, timeout=300, env=dict(os.environ)
    )


def test_a_killed_import_is_completed_by_running_it_again(tmp_path: Path) -> None:
    """Killed (SIGKILL) in the middle of writing 30,000 rows: whole batches or nothing of each, and the
    same import run again completes it without a duplicate."""
    path = tmp_path / "big.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["description", "kind", "quarter", "value_at_risk"])
        for i in range(30_000):
            writer.writerow([f"Problem number {i} about a late refund", "kaizen", "2026-Q4", i])
    assert _cli("db", "upgrade").returncode == 0
    env = {**os.environ, "BACKLOG_IMPORT_BATCH_ROWS": "1000"}
    process = subprocess.Popen(
        [sys.executable, "-m", "improvement", "import", str(path)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    assert process.stderr.readline().startswith("import: 1,000 of 30,000")  # at least one batch is written
    process.send_signal(signal.SIGKILL)
    process.wait()
    total = json.loads(_cli("review", "--quarter", "2026-Q4", "--json").stdout)["total_items"]
    assert total % 1000 == 0 and 1000 <= total < 30_000  # whole batches only
    again = subprocess.run(
        [sys.executable, "-m", "improvement", "import", str(path), "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert again.returncode == 0, again.stderr
    result = json.loads(again.stdout)
    assert result["already_present"] == total and result["problems"] == 30_000 - total
    assert json.loads(_cli("review", "--quarter", "2026-Q4", "--json").stdout)["total_items"] == 30_000
    backend = make_backend()
    with backend.sessions() as session:
        distinct = session.execute(text("SELECT COUNT(DISTINCT description), COUNT(*) FROM problems")).one()
    assert tuple(distinct) == (30_000, 30_000)


def test_doctor_finds_and_repairs_drift_between_sql_and_chroma() -> None:
    assert main(["add", "The SMS link is cut off on some phones"]) == 0
    assert main(["add", "Refunds take thirty days across four teams"]) == 0
    backend = make_backend()
    assert check(backend)["ok"]
    backend.vector_store.problems.delete([1])  # as if the process died between SQL and Chroma
    backend.vector_store.knowledge.add(
        ids=["orphan-1"], documents=["left behind by a crash"], metadatas=[{"source": "ghost.md"}]
    )
    with backend.sessions.begin() as session:  # as if someone loaded rows with the triggers switched off
        session.execute(text("UPDATE rollup_by_kind SET item_count = 0"))
    report = check(backend)
    assert not report["ok"] and report["problems_missing_from_index"] == 1
    assert report["chunks_without_document"] == ["ghost.md"]
    assert report["rollups"]["kind_rows_wrong"] > 0
    check(backend, repair=True)
    assert check(backend)["ok"]
    assert backend.backlog(with_models=False).list_items().total == 2


def test_backup_and_restore_round_trip(tmp_path: Path) -> None:
    assert main(["add", "Gate changes are not announced in the app", "--value", "900"]) == 0
    backup_dir = tmp_path / "backup"
    assert _cli("backup", str(backup_dir)).returncode == 0
    before = json.loads(_cli("list", "--json").stdout)
    assert _cli("add", "A second problem logged after the backup").returncode == 0
    assert len(json.loads(_cli("list", "--json").stdout)) == 2
    restored = _cli("restore", str(backup_dir), "--json")
    assert restored.returncode == 0, restored.stderr
    assert json.loads(_cli("list", "--json").stdout) == before
    assert json.loads(_cli("search", "proactive", "--json").stdout)  # the knowledge base came back too
    assert _cli("backup", str(backup_dir)).returncode == 2  # never overwrites an existing backup


def test_a_killed_ingest_is_found_and_repaired_by_doctor(tmp_path: Path) -> None:
    folder = tmp_path / "articles"
    folder.mkdir()
    paragraph = "Customers want to be told before a delay happens, not after they call. " * 12
    for i in range(20):
        (folder / f"article-{i:02d}.md").write_text(f"# Article {i}\n\n" + "\n\n".join([paragraph] * 15))
    assert _cli("db", "upgrade").returncode == 0
    process = subprocess.Popen(
        [sys.executable, "-m", "improvement", "ingest", str(folder)],
        env=dict(os.environ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(8)
    process.send_signal(signal.SIGKILL)
    process.wait()
    report = json.loads(_cli("doctor", "--repair", "--json").stdout)
    assert "repaired" in report or report["ok"]
    after = json.loads(_cli("doctor", "--json").stdout)
    assert after["ok"], after  # SQL and Chroma agree again: every document whole, or gone
    again = _cli("ingest", str(folder), "--json")
    assert again.returncode == 0 and json.loads(again.stdout)["documents"] == 20
