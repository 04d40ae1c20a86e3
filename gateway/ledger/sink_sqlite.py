"""SQLite sink (the embedded default): executemany of INSERT ... ON CONFLICT DO NOTHING."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from sqlalchemy.dialects.sqlite import insert
from sqlalchemy.exc import OperationalError

from gateway.ledger.codec import to_row
from gateway.ledger.database import Database, create_engine
from gateway.ledger.models import spend_log
from gateway.ledger.record import SpendRecord
from gateway.ledger.sink import DatabaseUnavailable

_INSERT = insert(spend_log).on_conflict_do_nothing(index_elements=["request_id", "created_at"])


class SqliteSink:
    def __init__(self, db: Database) -> None:
        self._engine = create_engine(db)

    async def insert(self, records: Sequence[SpendRecord]) -> int:
        if not records:
            return 0
        try:
            async with self._engine.begin() as conn:
                result = await conn.execute(_INSERT, [to_row(r) for r in records])
        except (OperationalError, sqlite3.OperationalError, OSError) as exc:
            # Locked for too long, disk full, file gone: the rows are fine, the file is not.
            raise DatabaseUnavailable(f"{type(exc).__name__}: {exc}") from exc
        return max(result.rowcount, 0)

    async def close(self) -> None:
        await self._engine.dispose()
