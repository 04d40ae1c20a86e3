"""Build the ledger from Settings: check (or migrate) the schema, pick the sink, make the writer."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime

from gateway.ledger import cost_map, revision
from gateway.ledger.database import (
    Database,
    LedgerConfigError,
    create_engine,
    parse_database_url,
)
from gateway.ledger.partitions import months_ahead
from gateway.ledger.schema import SchemaOutdated, check, migrate
from gateway.ledger.sink import DatabaseUnavailable, Sink
from gateway.ledger.sink_sqlite import SqliteSink
from gateway.ledger.writer import LedgerWriter
from gateway.settings import Settings

log = logging.getLogger("gateway.ledger")


def wants_migration(settings: Settings, db: Database) -> bool:
    """The setting wins; unset, a SQLite file (the gateway's own) migrates itself, Postgres not."""
    if settings.ledger_migrate is not None:
        return settings.ledger_migrate
    return db.dialect == "sqlite"


async def prepare_schema(db: Database, *, migrate_now: bool) -> bool:
    """Migrate or check the schema. False: the database is unreachable (start anyway, spool).

    Raises SchemaOutdated when the database is reachable and behind the code.
    """
    if db.sqlite_path is not None:
        # The usual start of the embedded gateway: a file already at head, read with sqlite3
        # (no SQLAlchemy, no Alembic: ~0.3 s of imports).
        head = revision.head_of_files()
        if (
            head is not None
            and await asyncio.to_thread(revision.sqlite_revision, db.sqlite_path) == head
        ):
            return True
    from sqlalchemy.exc import DBAPIError

    engine = create_engine(db)
    try:
        if migrate_now:
            before, after = await migrate(engine)
            if before != after:
                log.info("ledger schema migrated from %s to %s", before or "nothing", after)
        else:
            await check(engine)
    except (OSError, TimeoutError, DBAPIError) as exc:
        if not _transient(exc):
            # Wrong database, user or password, unreadable file: a setting to fix, not an outage.
            detail = str(getattr(exc, "orig", None) or exc).splitlines()[0]
            raise LedgerConfigError(f"ledger database {db.safe_url}: {detail}") from None
        # A gateway must route even while its ledger database is down: rows wait in the spool.
        log.warning(
            "ledger database %s is unreachable at start-up (%s); rows go to the spool",
            db.safe_url,
            type(exc).__name__,
        )
        return False
    finally:
        await engine.dispose()
    return True


def _transient(exc: BaseException) -> bool:
    """Is this 'the server is not there now' (as opposed to a bad setting)?"""
    if isinstance(exc, OSError | TimeoutError):
        return True
    import asyncpg  # here: a gateway on SQLite never loads it (start-up time)

    driver_error = getattr(getattr(exc, "orig", None), "__cause__", None)
    return isinstance(
        driver_error,
        asyncpg.PostgresConnectionError
        | asyncpg.exceptions.OperatorInterventionError
        | asyncpg.exceptions.InsufficientResourcesError,
    )


def build_sink(db: Database) -> Sink:
    if db.dialect == "postgresql":
        from gateway.ledger.sink_postgres import PostgresSink  # asyncpg only when used

        return PostgresSink(db)
    return SqliteSink(db)


async def open_ledger(settings: Settings, *, load_cost_map: bool = True) -> LedgerWriter:
    """The writer the lifespan starts. Raises LedgerConfigError or SchemaOutdated.
    `load_cost_map`: some deployment is priced by litellm's map (pricing.needs_cost_map)."""
    db = parse_database_url(settings.database_url)
    if load_cost_map:
        await asyncio.to_thread(cost_map.load)  # now, not on the first unpriced request
    reachable = await prepare_schema(db, migrate_now=wants_migration(settings, db))
    sink = build_sink(db)
    if reachable and db.dialect == "postgresql":
        from gateway.ledger.sink_postgres import PostgresSink

        assert isinstance(sink, PostgresSink)
        # If this fails, the writer creates partitions with the first batch that needs them.
        with contextlib.suppress(DatabaseUnavailable):
            await sink.ensure_partitions(set(months_ahead(datetime.now(UTC))))
    return LedgerWriter(
        sink,
        settings.ledger_spool_dir,
        batch_size=settings.ledger_batch_size,
        flush_interval_s=settings.ledger_flush_interval_s,
        queue_max=settings.ledger_queue_max,
    )


__all__ = ["SchemaOutdated", "build_sink", "open_ledger", "prepare_schema", "wants_migration"]
