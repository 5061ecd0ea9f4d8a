"""Is a SQLite file a backlog database this product made? Used before a restore replaces the live one.

A file passes when its Alembic revision is one of ours and its schema objects (tables, indexes, triggers,
views) are exactly those our migrations create at that revision: nothing missing, nothing added (a trigger
or view slipped into a backup would otherwise run inside the live database).
"""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path

from db.engine import alembic_config, make_engine

# Objects SQLite itself may add (statistics from ANALYZE); never code.
_INTERNAL_PREFIXES = ("sqlite_stat", "sqlite_autoindex")


class NotOurDatabase(ValueError):
    """The file is not a backlog database this product made; the message says why."""


def known_revisions() -> list[str]:
    from alembic.script import ScriptDirectory

    config = alembic_config(make_engine("sqlite://"))
    return [script.revision for script in ScriptDirectory.from_config(config).walk_revisions()]


def schema_objects(path: Path) -> dict[tuple[str, str], str]:
    """(type, name) -> normalised SQL of every schema object in a SQLite file."""
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = connection.execute("SELECT type, name, sql FROM sqlite_master").fetchall()
    finally:
        connection.close()
    return {
        (kind, name): " ".join((sql or "").split())
        for kind, name, sql in rows
        if not name.startswith(_INTERNAL_PREFIXES)
    }


def stored_revision(path: Path) -> str | None:
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return connection.execute("SELECT version_num FROM alembic_version").fetchone()[0]  # type: ignore[no-any-return]
    except (sqlite3.Error, TypeError):
        return None
    finally:
        connection.close()


def reference_objects(revision: str) -> dict[tuple[str, str], str]:
    """The schema our migrations create at ``revision``, built in a scratch SQLite file."""
    from alembic import command

    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "reference.db"
        engine = make_engine(f"sqlite:///{path}")
        try:
            config = alembic_config(engine)
            with engine.begin() as connection:
                config.attributes["connection"] = connection
                command.upgrade(config, revision)
        finally:
            engine.dispose()
        return schema_objects(path)


def bring_to_head(path: Path) -> None:
    """Apply this version's migrations to a restored file (an older backup)."""
    from alembic import command

    engine = make_engine(f"sqlite:///{path}")
    try:
        config = alembic_config(engine)
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    finally:
        engine.dispose()


def verify(path: Path) -> str:
    """Raise NotOurDatabase unless ``path`` is a backlog database our migrations made; return its revision."""
    try:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            if connection.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
                raise NotOurDatabase("it fails SQLite's integrity check")
        finally:
            connection.close()
    except sqlite3.DatabaseError as error:
        raise NotOurDatabase(f"it is not a readable SQLite database ({error})") from None
    revision = stored_revision(path)
    if revision is None:
        raise NotOurDatabase("it has no schema revision (alembic_version): not made by this product")
    if revision not in known_revisions():
        raise NotOurDatabase(f"its schema revision {revision!r} is not one this version of the product knows")
    found, expected = schema_objects(path), reference_objects(revision)
    extra = sorted(f"{kind} {name}" for kind, name in found.keys() - expected.keys())
    missing = sorted(f"{kind} {name}" for kind, name in expected.keys() - found.keys())
    changed = sorted(
        f"{kind} {name}"
        for key in found.keys() & expected.keys()
        if found[key] != expected[key]
        for kind, name in [key]
    )
    if extra:
        raise NotOurDatabase(f"it holds objects this product did not create: {', '.join(extra[:5])}")
    if missing:
        raise NotOurDatabase(f"it lacks expected tables or objects: {', '.join(missing[:5])}")
    if changed:
        raise NotOurDatabase(f"these objects differ from what this product creates: {', '.join(changed[:5])}")
    return revision
