"""Backup and restore lose nothing: no backup inside the data folder, no restore of a file we did not make,
and every restore keeps the state it replaces so it can be undone.

Backup and restore copy the embedded SQLite store (PostgreSQL has pg_dump); these tests run on SQLite.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

DATA = Path("data")  # the conftest data folder, relative to the test's working directory


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "improvement", *args], capture_output=True, text=True, timeout=300, env=dict(os.environ)
    )


def titles() -> list[str]:
    return sorted(item["title"] for item in json.loads(_cli("list", "--json").stdout))


@pytest.fixture
def two_items() -> list[str]:
    assert _cli("add", "Gate changes are not announced in the app").returncode == 0
    assert _cli("add", "Refunds take thirty days across four teams").returncode == 0
    return titles()


def test_a_backup_inside_the_data_folder_is_refused(two_items: list[str]) -> None:
    data_dir = Path(os.environ["BACKLOG_DATA_DIR"])
    for target in (data_dir / "backup", data_dir / "chroma" / "backup", data_dir):
        result = _cli("backup", str(target))
        assert result.returncode == 2 and "inside the data folder" in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
    assert not list(data_dir.glob("backup*")) and not list((data_dir / "chroma").glob("backup*"))
    assert _cli("doctor", "--json").returncode == 0


SABOTAGE = {
    "a trigger that wipes the history": "CREATE TRIGGER wipe AFTER INSERT ON changes BEGIN DELETE FROM changes; END",
    "a view": "CREATE VIEW everything AS SELECT * FROM problems",
    "a changed trigger": (
        "DROP TRIGGER improvements_rollup_insert; CREATE TRIGGER improvements_rollup_insert AFTER INSERT ON "
        "improvements BEGIN DELETE FROM changes; END"
    ),
    "a missing table": "DROP TABLE documents",
    "no schema revision": "DROP TABLE alembic_version",
}


@pytest.mark.parametrize("what", list(SABOTAGE))
def test_a_backup_with_objects_we_did_not_create_is_refused(two_items: list[str], tmp_path: Path, what: str) -> None:
    backup = tmp_path / "backup"
    assert _cli("backup", str(backup)).returncode == 0
    connection = sqlite3.connect(backup / "backlog.db")
    connection.executescript(SABOTAGE[what])
    connection.close()
    result = _cli("restore", str(backup))
    assert result.returncode == 2 and "not restored" in result.stderr, result.stderr
    assert titles() == two_items
    assert _cli("add", "One more problem after the refused restore").returncode == 0
    history = json.loads(_cli("show", "1", "--json").stdout)["history"]
    assert history, "the history is intact"


def test_a_fake_backup_with_one_empty_table_is_refused(two_items: list[str], tmp_path: Path) -> None:
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "manifest.json").write_text("{}")
    connection = sqlite3.connect(fake / "backlog.db")
    connection.execute("CREATE TABLE improvements (id INTEGER PRIMARY KEY)")
    connection.commit()
    connection.close()
    result = _cli("restore", str(fake))
    assert result.returncode == 2 and "no schema revision" in result.stderr, result.stderr
    assert titles() == two_items


def test_a_restore_keeps_the_state_it_replaces_and_can_be_undone(two_items: list[str], tmp_path: Path) -> None:
    backup = tmp_path / "backup"
    assert _cli("backup", str(backup)).returncode == 0
    assert _cli("add", "Logged after the backup").returncode == 0
    after = titles()
    restored = _cli("restore", str(backup), "--json")
    assert restored.returncode == 0, restored.stderr
    aside = Path(json.loads(restored.stdout)["previous_state"])
    assert titles() == two_items
    undone = _cli("restore", str(aside), "--json")
    assert undone.returncode == 0, undone.stderr
    assert titles() == after
    assert json.loads(_cli("doctor", "--json").stdout)["ok"]
    shutil.rmtree(aside)
