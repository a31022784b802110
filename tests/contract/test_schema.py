"""The two ways a database reaches the newest schema give the same schema, on SQLite and PostgreSQL.

`schema.upgrade` creates an empty database's tables from `tables.metadata` in one step and stamps it; a
database with data climbs the migrations one by one. A migration that forgot a column, an index or a
constraint the metadata has (or the other way round) shows here as a difference between the two.
"""

from __future__ import annotations

from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from dyngen.adapters.db import schema
from dyngen.adapters.db.tables import metadata
from tests.support.databases import empty_postgres


def _described(connection: Connection) -> dict[str, Any]:
    """Every table as the database reports it: columns, keys, indexes and constraints, sorted."""
    seen = inspect(connection)
    described: dict[str, Any] = {}
    for table in sorted(seen.get_table_names()):
        if table == "alembic_version":
            continue
        described[table] = {
            "columns": [
                (c["name"], str(c["type"]), c["nullable"], str(c.get("default"))) for c in seen.get_columns(table)
            ],
            "primary_key": seen.get_pk_constraint(table)["constrained_columns"],
            "indexes": sorted(
                (i["name"], tuple(i["column_names"]), bool(i["unique"])) for i in seen.get_indexes(table)
            ),
            "unique": sorted(tuple(u["column_names"]) for u in seen.get_unique_constraints(table)),
            "foreign_keys": sorted(
                (tuple(f["constrained_columns"]), f["referred_table"], tuple(f["referred_columns"]))
                for f in seen.get_foreign_keys(table)
            ),
        }
    return described


async def _describe(engine: AsyncEngine) -> dict[str, Any]:
    async with engine.connect() as conn:
        return await conn.run_sync(_described)


async def _differences(engine: AsyncEngine) -> list[Any]:
    async with engine.connect() as conn:
        return await conn.run_sync(lambda sync: compare_metadata(MigrationContext.configure(sync), metadata))


@pytest.mark.empty_database
async def test_an_empty_database_gets_the_schema_the_migrations_build_one_by_one(engine: AsyncEngine) -> None:
    head = schema.head_revision()
    assert head is not None
    await schema.upgrade(engine, head)  # a revision, not "head": Alembic runs every migration in turn
    assert await schema.current_revision(engine) == head
    climbed = await _describe(engine)
    assert await _differences(engine) == [], "the migrations and tables.metadata disagree"

    if engine.dialect.name == "postgresql":
        await empty_postgres(engine.url.render_as_string(hide_password=False))
    else:
        async with engine.begin() as conn:
            for table in reversed(await conn.run_sync(lambda sync: inspect(sync).get_table_names())):
                await conn.exec_driver_sql(f'DROP TABLE "{table}"')
    await engine.dispose()

    await schema.upgrade(engine)  # empty: the tables at once, stamped with the head revision

    assert await schema.current_revision(engine) == head
    assert await _describe(engine) == climbed
    assert set(climbed) == set(metadata.tables)
