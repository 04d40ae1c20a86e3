"""Postgres sink: binary COPY of a batch into a temporary table, then INSERT ... ON CONFLICT.

COPY is the fastest way in (no per-value parameter encoding); COPY cannot skip duplicates, so
the rows go through a per-connection staging table and ON CONFLICT DO NOTHING makes replays of
the spool harmless. Both steps share one transaction.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import date

import asyncpg
import orjson

from gateway.ledger.codec import COLUMNS, row_values, utc
from gateway.ledger.database import Database
from gateway.ledger.partitions import create_partition_sql, month_of
from gateway.ledger.record import SpendRecord
from gateway.ledger.sink import DatabaseUnavailable

_TYPES = {
    "created_at": "timestamptz",
    "request_id": "text",
    "team": "text",
    "key_id": "text",
    "endpoint": "text",
    "requested_model": "text",
    "policy": "text",
    "provider": "text",
    "deployment": "text",
    "upstream_model": "text",
    "stream": "bool",
    "status_code": "int4",
    "error_type": "text",
    "attempts": "int4",
    "prompt_tokens": "int4",
    "completion_tokens": "int4",
    "cached_tokens": "int4",
    "reasoning_tokens": "int4",
    "cache_write_tokens": "int4",
    "cost_usd": "numeric",
    "ttft_ms": "float8",
    "latency_ms": "float8",
    "tags": "jsonb",
}
_COLUMNS = list(COLUMNS)
assert set(_TYPES) == set(COLUMNS), "a spend_log column without its Postgres type"
_STAGE = "spend_log_stage"
_CREATE_STAGE = (
    f"CREATE TEMP TABLE IF NOT EXISTS {_STAGE} "
    f"({', '.join(f'{c} {t}' for c, t in _TYPES.items())}) ON COMMIT DELETE ROWS"
)
_INSERT = (
    f"INSERT INTO spend_log ({', '.join(_COLUMNS)}) SELECT {', '.join(_COLUMNS)} FROM {_STAGE} "
    "ON CONFLICT (request_id, created_at) DO NOTHING"
)
# Errors that say "the server is not there now", as opposed to "these rows are wrong".
_UNAVAILABLE: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,  # class 08
    asyncpg.exceptions.OperatorInterventionError,  # class 57: shutting down, starting up
    asyncpg.exceptions.InsufficientResourcesError,  # class 53: too many connections, disk full
    asyncpg.InterfaceError,  # the connection was closed under us
    # The schema is not migrated yet (a start while the database was down): the rows are fine.
    asyncpg.exceptions.UndefinedTableError,
    asyncpg.exceptions.UndefinedColumnError,
)


class PostgresSink:
    def __init__(self, db: Database, *, pool_size: int = 2) -> None:
        self._db = db
        self._pool_size = pool_size
        self._pool: asyncpg.Pool | None = None
        self._months: set[date] = set()  # partitions known to exist

    async def insert(self, records: Sequence[SpendRecord]) -> int:
        if not records:
            return 0
        tuples = [_values(r) for r in records]
        try:
            pool = await self._get_pool()
            async with pool.acquire() as conn:
                await self._ensure_partitions(conn, {month_of(r.created_at) for r in records})
                async with conn.transaction():
                    await conn.execute(_CREATE_STAGE)
                    await conn.copy_records_to_table(_STAGE, records=tuples, columns=_COLUMNS)
                    status = await conn.execute(_INSERT)
        except _UNAVAILABLE as exc:
            raise DatabaseUnavailable(f"{type(exc).__name__}: {exc}") from exc
        return int(status.rsplit(" ", 1)[-1])  # "INSERT 0 <n>"

    async def ensure_partitions(self, months: set[date]) -> None:
        try:
            pool = await self._get_pool()
            async with pool.acquire() as conn:
                await self._ensure_partitions(conn, months)
        except _UNAVAILABLE as exc:
            raise DatabaseUnavailable(f"{type(exc).__name__}: {exc}") from exc

    async def _ensure_partitions(self, conn: asyncpg.Connection, months: set[date]) -> None:
        for month in sorted(months - self._months):
            # Another replica may create it between our IF NOT EXISTS check and the CREATE.
            with contextlib.suppress(asyncpg.DuplicateTableError, asyncpg.UniqueViolationError):
                await conn.execute(create_partition_sql(month))
            self._months.add(month)

    async def _get_pool(self) -> asyncpg.Pool:
        if self._pool is None:
            self._pool = await asyncpg.create_pool(
                self._db.asyncpg_dsn(),
                min_size=0,  # no floor to restore in the background while the database is down
                max_size=self._pool_size,
                **self._db.asyncpg_options(),
            )
        return self._pool

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None


def _values(r: SpendRecord) -> tuple[object, ...]:
    """One COPY record (the hot loop of a batch: no dict in between). Text that came from a
    client may hold NUL, which Postgres text and jsonb refuse: it is replaced, so one odd model
    name cannot send a whole batch to the rejected spool."""
    tags = orjson.dumps(r.tags).decode().replace("\\u0000", "\\ufffd")
    return row_values(r, created=utc(r.created_at), cost=r.cost_usd, tags=tags, text=_text)


def _text(value: str | None) -> str | None:
    return value.replace("\x00", "\ufffd") if value and "\x00" in value else value
