"""Migrations build both databases; a database behind the code is refused with one clear line."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.ledger.database import create_engine, parse_database_url
from gateway.ledger.partitions import months_ahead, partition_name
from gateway.ledger.schema import SchemaOutdated, check, head_revision, migrate
from tests.ledger.factories import NOW, is_postgres


async def test_migrate_then_check(ledger_url: str) -> None:
    engine = create_engine(parse_database_url(ledger_url))
    try:
        with pytest.raises(SchemaOutdated, match=r"has no ledger schema.*gateway migrate"):
            await check(engine)
        assert await migrate(engine) == (None, head_revision())
        assert await migrate(engine) == (head_revision(), head_revision())  # idempotent
        await check(engine)
    finally:
        await engine.dispose()


async def test_postgres_partitions_exist_ahead_of_time(
    ledger_url: str, engine: AsyncEngine
) -> None:
    if not is_postgres(ledger_url):
        return  # SQLite has no partitions
    async with engine.connect() as conn:
        names = set(
            await conn.scalars(
                text(
                    "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                    "WHERE i.inhparent = 'spend_log'::regclass"
                )
            )
        )
    assert {partition_name(m) for m in months_ahead(NOW)} <= names
