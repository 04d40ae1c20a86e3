"""Monthly range partitions of spend_log on Postgres: create ahead of time, and prune by DROP.

On SQLite (no partitions) prune is a DELETE: the embedded file is small by nature.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

MONTHS_AHEAD = 2  # the current month and the next two exist before any row needs them
_NAME = re.compile(r"^spend_log_p(\d{4})_(\d{2})$")


def month_of(moment: datetime | date) -> date:
    return date(moment.year, moment.month, 1)


def add_months(month: date, n: int) -> date:
    index = month.year * 12 + month.month - 1 + n
    return date(index // 12, index % 12 + 1, 1)


def partition_name(month: date) -> str:
    return f"spend_log_p{month.year:04d}_{month.month:02d}"


def create_partition_sql(month: date) -> str:
    # Bounds carry +00: a bare date would be read in the session's TimeZone.
    start, end = month.isoformat(), add_months(month, 1).isoformat()
    return (
        f"CREATE TABLE IF NOT EXISTS {partition_name(month)} PARTITION OF spend_log "
        f"FOR VALUES FROM ('{start} 00:00:00+00') TO ('{end} 00:00:00+00')"
    )


def months_ahead(now: datetime, ahead: int = MONTHS_AHEAD) -> list[date]:
    first = month_of(now.astimezone(UTC))
    return [add_months(first, n) for n in range(ahead + 1)]


@dataclass(frozen=True, slots=True)
class Pruned:
    partitions: tuple[str, ...]  # dropped (Postgres)
    rows: int  # deleted (SQLite)


async def prune(conn: AsyncConnection, older_than: timedelta, now: datetime) -> Pruned:
    """Drop every month that ends before now - older_than (whole partitions only)."""
    from sqlalchemy import text  # here: the gateway's start imports this module, not SQLAlchemy

    cutoff = now.astimezone(UTC) - older_than
    if conn.dialect.name != "postgresql":
        result = await conn.execute(
            text("DELETE FROM spend_log WHERE created_at < :cutoff"),
            # SQLite holds naive UTC text in SQLAlchemy's format: compare like with like.
            {"cutoff": cutoff.strftime("%Y-%m-%d %H:%M:%S.%f")},
        )
        return Pruned((), result.rowcount)
    names = await conn.scalars(
        text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'spend_log'::regclass ORDER BY c.relname"
        )
    )
    dropped = []
    for name in names.all():
        match = _NAME.match(name)
        if not match:
            continue  # not ours: leave it alone
        month = date(int(match[1]), int(match[2]), 1)
        end = datetime.combine(add_months(month, 1), datetime.min.time(), UTC)
        if end <= cutoff:
            await conn.execute(text(f"DROP TABLE {name}"))
            dropped.append(name)
    return Pruned(tuple(dropped), 0)
