"""Database wiring: the declarative base, engine options and the advanced-alchemy config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from advanced_alchemy.extensions.litestar import (
    AlembicAsyncConfig,
    AsyncSessionConfig,
    EngineConfig,
    SQLAlchemyAsyncConfig,
)
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from hub.settings import Settings

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the ledger writer and readers work at the same time; busy_timeout makes concurrent
    # writers (several workers on one file) wait instead of failing with "database is locked".
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def create_engine(settings: Settings) -> AsyncEngine:
    """Create the async engine for the configured database (SQLite file or PostgreSQL)."""
    if settings.is_sqlite:
        path = settings.database_url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(settings.database_url, connect_args={"timeout": 10})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(settings.database_url, pool_size=10, max_overflow=20, pool_pre_ping=True)


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker:
    """Session factory for code outside a request (CLI, ledger writer, background tasks)."""
    return async_sessionmaker(engine, expire_on_commit=False)


def alchemy_config(settings: Settings, engine: AsyncEngine) -> SQLAlchemyAsyncConfig:
    """The advanced-alchemy plugin config: one session per request, committed on 2xx."""
    return SQLAlchemyAsyncConfig(
        engine_instance=engine,
        engine_config=EngineConfig(),
        session_config=AsyncSessionConfig(expire_on_commit=False),
        before_send_handler="autocommit",
        create_all=False,
        # Our app-wide handler renders repository errors in the one error envelope.
        set_default_exception_handler=False,
        alembic_config=AlembicAsyncConfig(
            script_config=str(MIGRATIONS_DIR / "alembic.ini"),
            script_location=str(MIGRATIONS_DIR),
            version_table_name="ddl_version",
        ),
    )
