"""``backlog backup`` / ``backlog restore``: a consistent copy of the SQL backlog and the knowledge base.

SQLite is copied with its online backup API (consistent while others write); the embedded Chroma
folder is copied beside it. PostgreSQL and a Chroma server have their own tools (pg_dump, volume
snapshots), which we point to rather than re-implement.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from improvement.domain import DomainError


def _sqlite_path(backend: Any) -> Path:
    url = backend.engine.url
    if url.get_backend_name() != "sqlite" or not url.database:
        raise DomainError("backup/restore copy the embedded SQLite store; for PostgreSQL use pg_dump/pg_restore")
    if backend.settings.chroma_host:
        raise DomainError("the knowledge base is on a Chroma server; back up its volume with the server's tools")
    return Path(url.database)


def backup(backend: Any, target: Path) -> dict[str, Any]:
    database = _sqlite_path(backend)
    if target.exists() and any(target.iterdir()):
        raise DomainError(f"{target} exists and is not empty; choose a new folder")
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    source = sqlite3.connect(database)
    dest = sqlite3.connect(partial / "backlog.db")
    with dest:
        source.backup(dest)
    source.close()
    dest.close()
    chroma = backend.settings.chroma_path
    if chroma.exists():
        shutil.copytree(chroma, partial / "chroma")
    manifest = {
        "created_at": datetime.now(UTC).isoformat(),
        "database": "backlog.db",
        "chroma": (partial / "chroma").exists(),
    }
    (partial / "manifest.json").write_text(json.dumps(manifest, indent=2))
    if target.exists():
        target.rmdir()
    partial.rename(target)  # the backup appears whole or not at all
    return {"path": str(target), **manifest}


def restore(backend: Any, source: Path) -> dict[str, Any]:
    database = _sqlite_path(backend)
    manifest_path = source / "manifest.json"
    if not manifest_path.exists():
        raise DomainError(f"{source} is not a backup folder (no manifest.json)")
    check = sqlite3.connect(source / "backlog.db")
    try:
        if check.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
            raise DomainError(f"{source}/backlog.db fails SQLite's integrity check; not restored")
        items = check.execute("SELECT count(*) FROM improvements").fetchone()[0]
    finally:
        check.close()
    backend.engine.dispose()
    src = sqlite3.connect(source / "backlog.db")
    dest = sqlite3.connect(database)
    with dest:
        src.backup(dest)
    src.close()
    dest.close()
    chroma = backend.settings.chroma_path
    if (source / "chroma").exists():
        staging = chroma.with_name("chroma.restoring")
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copytree(source / "chroma", staging)
        shutil.rmtree(chroma, ignore_errors=True)
        staging.rename(chroma)
    return {"items": int(items), "path": str(source)}
