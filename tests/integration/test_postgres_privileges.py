"""A database provisioned by a DBA: our role may create tables but not install extensions."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text

from db.engine import HEAD_REVISION, make_engine, make_session_factory, upgrade
from improvement.models import ItemFilter
from improvement.services import BacklogService
from tests.conftest import POSTGRES_ADMIN_URL

pytestmark = pytest.mark.postgres


@pytest.fixture
def restricted_url() -> Iterator[str]:
    suffix = uuid.uuid4().hex[:8]
    database, role = f"backlog_dba_{suffix}", f"backlog_app_{suffix}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE ROLE "{role}" LOGIN'))
        conn.execute(text(f'CREATE DATABASE "{database}"'))  # owned by the admin, not by our role
    owned = create_engine(POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{database}", isolation_level="AUTOCOMMIT")
    with owned.connect() as conn:
        conn.execute(text(f'GRANT USAGE, CREATE ON SCHEMA public TO "{role}"'))
    owned.dispose()
    base = POSTGRES_ADMIN_URL.split("://", 1)[1].split("@", 1)[1].rsplit("/", 1)[0]
    try:
        yield f"postgresql+psycopg://{role}@{base}/{database}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{database}'"))
            conn.execute(text(f'DROP DATABASE IF EXISTS "{database}"'))
            conn.execute(text(f'DROP ROLE IF EXISTS "{role}"'))
        admin.dispose()


def test_without_the_right_to_install_pg_trgm_the_schema_still_upgrades_and_search_works(
    restricted_url: str, offline_classifier
) -> None:  # type: ignore[no-untyped-def]
    engine = make_engine(restricted_url)
    upgrade(engine)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == HEAD_REVISION
        assert conn.execute(text("SELECT count(*) FROM pg_extension WHERE extname = 'pg_trgm'")).scalar() == 0
    service = BacklogService(make_session_factory(engine), classifier_provider=lambda: offline_classifier)
    service.log_problem({"description": "Refunds take a month across four teams"}, actor="t")
    service.log_problem({"description": "The app logs people out mid-transfer"}, actor="t")
    page = service.list_items(ItemFilter(text="REFUND"))
    assert [i.title for i in page.items] == ["Refunds take a month across four teams"] and page.total == 1
    engine.dispose()
