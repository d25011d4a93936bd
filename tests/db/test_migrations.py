"""The Alembic migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from advanced_alchemy.base import orm_registry
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Column, inspect
from sqlalchemy.engine import Connection
from sqlalchemy.types import TypeEngine

from hub.app import import_models
from hub.db import create_engine
from hub.settings import Settings
from tests.db.conftest import downgrade, migrate

EXPECTED_TABLES = {
    "audit_event",
    "audit_chain_head",
    "backend",
    "model",
    "model_grant",
    "tenant",
    "api_key",
    "usage_record",
    "usage_daily",
    "quota_policy",
    "ki_pass",
    "staff_member",
    "catalog_use_case",
    "catalog_funding_programme",
    "catalog_experience_report",
    "register_entry",
    "register_version",
    "evaluation_report",
    "rollout_requirement",
    "rollout_override",
}


def _compare_type(
    context: MigrationContext,
    inspected_column: Column[Any],
    metadata_column: Column[Any],
    _inspected_type: TypeEngine[Any],
    metadata_type: TypeEngine[Any],
) -> bool | None:
    """Alembic's type comparison, made exact for SQLite.

    SQLite reflects unknown type names by affinity (``BINARY(16)``, the GUID columns, comes back as
    ``NUMERIC(16)``), which alembic would report as a change. On SQLite compare the declared type text
    of the column with the DDL the model's type compiles to instead; elsewhere use alembic's default.
    """
    if context.dialect.name != "sqlite":
        return None
    table = inspected_column.table.name
    declared = {row[1]: row[2] for row in context.connection.exec_driver_sql(f"PRAGMA table_info('{table}')").all()}
    expected = metadata_type.compile(dialect=context.dialect)
    return declared[metadata_column.name].upper() != expected.upper()


def _schema_diff(connection: Connection) -> list[Any]:
    import_models()
    context = MigrationContext.configure(
        connection,
        opts={"compare_type": _compare_type, "compare_server_default": False, "version_table": "ddl_version"},
    )
    return compare_metadata(context, orm_registry.metadata)


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


async def _inspect(url: str) -> tuple[set[str], list[Any], list[str]]:
    engine = create_engine(Settings(database_url=url))
    try:
        async with engine.connect() as conn:
            tables = await conn.run_sync(_tables)
            diff = await conn.run_sync(_schema_diff) if tables >= EXPECTED_TABLES else []
            versions = (
                [row[0] for row in (await conn.exec_driver_sql("SELECT version_num FROM ddl_version")).all()]
                if "ddl_version" in tables
                else []
            )
    finally:
        await engine.dispose()
    return tables, diff, versions


async def test_upgrade_matches_models_and_downgrade_removes_everything(empty_db_url: str) -> None:
    tables, _, _ = await _inspect(empty_db_url)
    assert tables == set()

    migrate(empty_db_url)
    tables, diff, versions = await _inspect(empty_db_url)
    assert tables == EXPECTED_TABLES | {"ddl_version"}
    assert diff == [], f"migrated schema differs from the models: {diff}"
    assert len(versions) == 1

    downgrade(empty_db_url)
    tables, _, versions = await _inspect(empty_db_url)
    assert tables == {"ddl_version"}
    assert versions == []

    # and back up again: the downgrade left nothing behind that blocks a new upgrade
    migrate(empty_db_url)
    tables, diff, versions = await _inspect(empty_db_url)
    assert tables == EXPECTED_TABLES | {"ddl_version"}
    assert diff == []
    assert len(versions) == 1


async def test_models_table_set_is_what_the_migration_creates() -> None:
    import_models()
    assert set(orm_registry.metadata.tables) == EXPECTED_TABLES
