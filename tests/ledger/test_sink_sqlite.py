"""The SQLite sink writes with sqlite3 what SQLAlchemy's SQLite dialect wrote, value for value:
the reports read it through SQLAlchemy, and a row replayed from an older gateway's spool (or
written by one sharing the file) must meet its twin in ON CONFLICT."""

from __future__ import annotations

import sqlite3
from datetime import timedelta, timezone
from decimal import Decimal
from pathlib import Path

from sqlalchemy.dialects.sqlite import insert

from gateway.ledger.codec import to_row
from gateway.ledger.database import create_engine, parse_database_url
from gateway.ledger.models import spend_log
from gateway.ledger.record import SpendRecord
from gateway.ledger.schema import migrate
from gateway.ledger.sink_sqlite import SqliteSink
from tests.ledger.factories import NOW, record

RECORDS = [
    record(1),
    record(2, cost_usd=None, ttft_ms=None, team=None, tags={}, error_type="timeout"),
    record(3, created_at=NOW.astimezone(timezone(timedelta(hours=-5))), tags={"é": "ü", "a": "1"}),
    record(4, cost_usd=Decimal("12.5000000001"), key_id="k1", cache_write_tokens=7),
]


async def _by_sqlalchemy(url: str, records: list[SpendRecord]) -> None:
    """As the sink before this one wrote (INSERT ... ON CONFLICT DO NOTHING through SQLAlchemy)."""
    engine = create_engine(parse_database_url(url))
    try:
        await migrate(engine)
        if not records:
            return
        statement = insert(spend_log).on_conflict_do_nothing(
            index_elements=["request_id", "created_at"]
        )
        async with engine.begin() as conn:
            await conn.execute(statement, [to_row(r) for r in records])
    finally:
        await engine.dispose()


def _stored(path: Path) -> list[tuple[object, ...]]:
    """Every column but id, as SQLite holds it: the value and its storage class."""
    names = [c.name for c in spend_log.columns if c.name != "id"]
    shown = ", ".join(f"{n}, typeof({n})" for n in names)
    with sqlite3.connect(path) as conn:
        return conn.execute(f"SELECT {shown} FROM spend_log ORDER BY request_id").fetchall()


async def test_rows_are_stored_as_sqlalchemy_stored_them(tmp_path: Path) -> None:
    old, new = tmp_path / "old.db", tmp_path / "new.db"
    await _by_sqlalchemy(f"sqlite:///{old}", RECORDS)
    await _by_sqlalchemy(f"sqlite:///{new}", [])  # the schema only
    sink = SqliteSink(parse_database_url(f"sqlite:///{new}"))
    try:
        assert await sink.insert(RECORDS) == len(RECORDS)
    finally:
        await sink.close()
    assert _stored(new) == _stored(old)


async def test_a_row_an_older_gateway_wrote_is_a_duplicate(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    await _by_sqlalchemy(url, RECORDS[:2])
    sink = SqliteSink(parse_database_url(url))
    try:
        assert await sink.insert(RECORDS) == 2  # the first two were there already
        assert await sink.insert(RECORDS) == 0
    finally:
        await sink.close()
    assert len(_stored(tmp_path / "ledger.db")) == len(RECORDS)
