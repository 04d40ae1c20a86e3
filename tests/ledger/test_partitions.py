"""Retention: whole old months are dropped (Postgres) or deleted (SQLite); recent rows stay."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.ledger.database import parse_database_url
from gateway.ledger.factory import build_sink
from gateway.ledger.partitions import add_months, create_partition_sql, months_ahead, prune
from gateway.ledger.writer import LedgerWriter
from tests.ledger.factories import NOW, is_postgres, record, rows


def test_month_arithmetic() -> None:
    assert add_months(date(2026, 11, 1), 2) == date(2027, 1, 1)
    assert add_months(date(2026, 1, 1), -1) == date(2025, 12, 1)
    assert months_ahead(datetime(2026, 12, 31, 23, tzinfo=UTC)) == [
        date(2026, 12, 1),
        date(2027, 1, 1),
        date(2027, 2, 1),
    ]
    assert "FROM ('2026-12-01 00:00:00+00') TO ('2027-01-01 00:00:00+00')" in create_partition_sql(
        date(2026, 12, 1)
    )


async def test_prune_keeps_recent_rows(
    ledger_url: str, engine: AsyncEngine, tmp_path: Path
) -> None:
    old = NOW - timedelta(days=200)  # the writer creates the partition this needs
    writer = LedgerWriter(
        build_sink(parse_database_url(ledger_url)), tmp_path, flush_interval_s=0.01
    )
    await writer.start()
    writer.submit(record(1, created_at=old))
    writer.submit(record(2))
    await writer.close()
    assert writer.stats.inserted == 2
    async with engine.begin() as conn:
        pruned = await prune(conn, timedelta(days=90), NOW)
    if is_postgres(ledger_url):
        assert f"spend_log_p{old.year:04d}_{old.month:02d}" in pruned.partitions
        assert all(p < f"spend_log_p{NOW.year:04d}_{NOW.month:02d}" for p in pruned.partitions)
    else:
        assert pruned.rows == 1
    assert [r.request_id for r in await rows(engine)] == ["req-2"]
