"""``backlog backup`` / ``backlog restore``: a consistent copy of the SQL backlog and the knowledge base.

SQLite is copied with its online backup API (consistent while others write); the embedded Chroma
folder and the kept originals of ingested files are copied beside it. PostgreSQL and a Chroma server
have their own tools (pg_dump, volume snapshots), which we point to rather than re-implement.

A backup is never written inside the data folder (it would copy itself). A restore first checks the
backup (SQLite integrity, a schema revision this product knows, exactly the tables, indexes and triggers
our migrations create: no more, no less), then keeps the current state aside as a backup of its own
(``<data dir>/before-restore-<time>``), so ``backlog restore`` of that folder undoes it.
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


def _inside(path: Path, folder: Path) -> bool:
    path, folder = path.resolve(), folder.resolve()
    return path == folder or folder in path.parents


def backup(backend: Any, target: Path) -> dict[str, Any]:
    database = _sqlite_path(backend)
    data_dir = backend.settings.data_dir
    if _inside(target, data_dir) or _inside(target, backend.settings.chroma_path):
        raise DomainError(f"{target} is inside the data folder {data_dir}; write the backup somewhere else")
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
    manifest = _copy_folders(backend, partial)
    if target.exists():
        target.rmdir()
    partial.rename(target)  # the backup appears whole or not at all
    return {"path": str(target), **manifest}


def _copy_folders(backend: Any, partial: Path) -> dict[str, Any]:
    chroma = backend.settings.chroma_path
    if chroma.exists():
        shutil.copytree(chroma, partial / "chroma")
    originals = backend.settings.data_dir / "originals"
    if originals.exists():
        shutil.copytree(originals, partial / "originals")
    manifest = {
        "created_at": datetime.now(UTC).isoformat(),
        "database": "backlog.db",
        "chroma": (partial / "chroma").exists(),
        "originals": (partial / "originals").exists(),
    }
    (partial / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return manifest


def _keep_current_state(backend: Any, database: Path) -> Path:
    """Move the live state into a backup folder of its own inside the data folder; returns its path."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    aside = backend.settings.data_dir / f"before-restore-{stamp}"
    aside.mkdir(parents=True)
    source = sqlite3.connect(database)
    dest = sqlite3.connect(aside / "backlog.db")
    with dest:
        source.backup(dest)
    source.close()
    dest.close()
    _copy_folders(backend, aside)
    return aside


def restore(backend: Any, source: Path) -> dict[str, Any]:
    from db.schema_check import NotOurDatabase, verify

    database = _sqlite_path(backend)
    manifest_path = source / "manifest.json"
    if not manifest_path.exists() or not (source / "backlog.db").is_file():
        raise DomainError(f"{source} is not a backup folder (no manifest.json and backlog.db)")
    try:
        revision = verify(source / "backlog.db")
    except NotOurDatabase as error:
        raise DomainError(f"{source}/backlog.db is not restored: {error}") from None
    check = sqlite3.connect(f"file:{source / 'backlog.db'}?mode=ro", uri=True)
    try:
        items = check.execute("SELECT count(*) FROM improvements").fetchone()[0]
    finally:
        check.close()
    backend.engine.dispose()
    aside = _keep_current_state(backend, database)
    src = sqlite3.connect(source / "backlog.db")
    dest = sqlite3.connect(database)
    with dest:
        src.backup(dest)
    src.close()
    dest.close()
    for name, live in (
        ("chroma", backend.settings.chroma_path),
        ("originals", backend.settings.data_dir / "originals"),
    ):
        if (source / name).exists():
            staging = live.with_name(f"{name}.restoring")
            shutil.rmtree(staging, ignore_errors=True)
            shutil.copytree(source / name, staging)
            shutil.rmtree(live, ignore_errors=True)
            staging.rename(live)
    from db.schema_check import bring_to_head

    bring_to_head(database)  # an older backup is brought to this version's schema
    return {"items": int(items), "path": str(source), "revision": revision, "previous_state": str(aside)}
