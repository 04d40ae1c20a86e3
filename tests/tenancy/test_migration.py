"""Migration 0003 builds exactly the tables the code declares, and comes off cleanly."""

from __future__ import annotations

from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from gateway.ledger.models import metadata
from gateway.ledger.schema import alembic_config, head_revision, migrate
from gateway.tenancy.store import KeyStore

TABLES = {"teams", "api_keys", "tenancy_version"}


def _table(diff: Any) -> str | None:
    """The table an autogenerate difference is about."""
    if isinstance(diff, list):  # [("modify_type", schema, table, column, ...)]
        return str(diff[0][2])
    if diff[0] in ("add_column", "remove_column"):  # (op, schema, table, column)
        return str(diff[2])
    item = diff[1]  # a Table, an Index or a constraint
    return getattr(getattr(item, "table", item), "name", None)


def _differences(conn: Connection) -> list[Any]:
    diffs = compare_metadata(MigrationContext.configure(conn), metadata)
    return [d for d in diffs if _table(d) in TABLES]


def _downgrade(conn: Connection) -> None:
    cfg = alembic_config()
    cfg.attributes["connection"] = conn
    command.downgrade(cfg, "0002")


async def test_the_migration_matches_the_tables_and_downgrades(store: KeyStore) -> None:
    assert head_revision() == "0003"
    async with store.engine.connect() as conn:
        assert await conn.run_sync(_differences) == []
        await conn.run_sync(_downgrade)
        await conn.commit()
        names = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
    assert not names & TABLES and "spend_log" in names
    await migrate(store.engine)
    rec, _ = await store.create_key("acme")
    assert await store.get_key(rec.id) == rec
