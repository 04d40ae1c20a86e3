"""SQLite sink (the embedded default): executemany of INSERT ... ON CONFLICT DO NOTHING.

The standard library's sqlite3 on one thread of its own, with prepared tuples: SQLAlchemy's
parameter binding and aiosqlite's worker were most of the ledger's CPU per request
(bench/README.md). Values are stored exactly as SQLAlchemy's SQLite dialect stores them (the
reports and `gateway spend` read them through it, and a row replayed from an older gateway's
spool must meet its twin): created_at as naive UTC text `YYYY-MM-DD HH:MM:SS.ffffff`, the cost
as its decimal text, tags as `json.dumps` text, booleans as 0/1.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from gateway.ledger.codec import COLUMNS, row_values, utc
from gateway.ledger.database import Database
from gateway.ledger.record import SpendRecord
from gateway.ledger.sink import DatabaseUnavailable

_INSERT = (
    f"INSERT INTO spend_log ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))}) "
    "ON CONFLICT (request_id, created_at) DO NOTHING"
)
_PRAGMAS = (
    # WAL: `gateway spend` and dashboards read while the gateway writes; several workers write.
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA busy_timeout=30000",
)


class SqliteSink:
    def __init__(self, db: Database) -> None:
        assert db.sqlite_path is not None, "a SQLite database"
        self._path = db.sqlite_path
        self._conn: sqlite3.Connection | None = None  # used on the executor's thread only
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="ledger-sqlite")

    async def insert(self, records: Sequence[SpendRecord]) -> int:
        if not records:
            return 0
        rows = [_values(r) for r in records]
        try:
            return await asyncio.get_running_loop().run_in_executor(self._thread, self._write, rows)
        except (sqlite3.OperationalError, OSError) as exc:
            # Locked for too long, disk full, file gone: the rows are fine, the file is not.
            raise DatabaseUnavailable(f"{type(exc).__name__}: {exc}") from exc

    async def close(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._thread, self._disconnect)
        self._thread.shutdown(wait=False)

    def _write(self, rows: list[tuple[object, ...]]) -> int:
        try:
            conn = self._connect()
            with conn:  # one transaction: committed, or rolled back on any error
                cursor = conn.executemany(_INSERT, rows)
        except (sqlite3.OperationalError, OSError):
            self._disconnect()  # the next batch opens the file afresh (moved, back, unlocked)
            raise
        return max(cursor.rowcount, 0)

    def _connect(self) -> sqlite3.Connection:
        if self._conn is None:
            conn = sqlite3.connect(self._path, timeout=30)
            try:
                for pragma in _PRAGMAS:
                    conn.execute(pragma)
            except BaseException:
                conn.close()
                raise
            self._conn = conn
        return self._conn

    def _disconnect(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            conn.close()


def _values(r: SpendRecord) -> tuple[object, ...]:
    """One row, bound as SQLAlchemy's SQLite types bind them."""
    created = utc(r.created_at).replace(tzinfo=None).isoformat(" ", "microseconds")
    cost = None if r.cost_usd is None else str(r.cost_usd)
    return row_values(r, created=created, cost=cost, tags=json.dumps(dict(r.tags)))
