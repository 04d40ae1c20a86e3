"""Apply the Alembic migrations in migrations/ and check that a database is at the head revision.

Alembic is imported only when the database is not already at head (revision.py tells).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.ledger.revision import MIGRATIONS, engine_revision, head_of_files

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy.engine import Connection
    from sqlalchemy.ext.asyncio import AsyncEngine

# Any constant works: it only has to be the same in every gateway process that migrates.
_LOCK_ID = 0x5BE4D106


class SchemaOutdated(RuntimeError):
    """The database's schema is behind (or ahead of) the code: one line that says what to run."""


def alembic_config() -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "migrations/versions is empty"
    return head


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as conn:
        return await conn.run_sync(_current)


async def migrate(engine: AsyncEngine) -> tuple[str | None, str]:
    """Upgrade to head; returns (revision before, revision after). Safe to run concurrently."""
    head = await _at_head(engine)
    if head is not None:
        return head, head  # nothing to do: the usual start
    from sqlalchemy import text

    async with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            # Several replicas may start with --migrate at once: one migrates, the others wait.
            await conn.execute(text(f"SELECT pg_advisory_lock({_LOCK_ID})"))
            await conn.commit()
        try:
            before = await conn.run_sync(_current)
            await conn.run_sync(_upgrade)
            await conn.commit()
        finally:
            if conn.dialect.name == "postgresql":
                await conn.execute(text(f"SELECT pg_advisory_unlock({_LOCK_ID})"))
                await conn.commit()
    return before, head_revision()


async def check(engine: AsyncEngine) -> None:
    """Raise SchemaOutdated unless the database is at the head revision."""
    if await _at_head(engine) is not None:
        return
    current, head = await current_revision(engine), head_revision()
    if current == head:
        return
    state = "has no ledger schema" if current is None else f"is at schema revision {current}"
    raise SchemaOutdated(
        f"the ledger database {state}, this gateway needs {head}: "
        "run `gateway migrate` (or start with --migrate / GATEWAY_LEDGER_MIGRATE=true)"
    )


async def _at_head(engine: AsyncEngine) -> str | None:
    """The head revision if the database is at it (no Alembic involved), else None."""
    head = head_of_files()
    if head is not None and await engine_revision(engine) == head:
        return head
    return None


def _current(conn: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(conn).get_current_revision()


def _upgrade(conn: Connection) -> None:
    from alembic import command

    cfg = alembic_config()
    cfg.attributes["connection"] = conn
    command.upgrade(cfg, "head")
