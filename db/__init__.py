"""Storage: SQLAlchemy models, engine and sessions, repositories, Alembic migrations."""
