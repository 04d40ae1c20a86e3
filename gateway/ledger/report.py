"""`gateway spend`: totals by team, key, provider or model since a moment.

Team, provider and model come from spend_daily; keys from spend_log beside api_keys' public prefix
and name (never the key's hash: the key itself is stored nowhere).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Literal

from sqlalchemy import Date, bindparam, column, func, select, table, text
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.ledger.models import spend_log

By = Literal["team", "key", "provider", "model"]
_UNITS = {"h": 3600, "d": 86400, "w": 7 * 86400}
# gateway.tenancy's api_keys table (migration 0003), seen from the ledger below it: public columns.
_API_KEYS = table("api_keys", column("id"), column("prefix"), column("name"))


@dataclass(frozen=True, slots=True)
class SpendLine:
    key: str | None  # team, key id, provider or model; None: not set (e.g. no team, no key)
    requests: int
    tokens: int
    cost_usd: Decimal
    prefix: str | None = None  # --by key: the key's public prefix and name, from api_keys
    name: str | None = None


def parse_duration(raw: str) -> timedelta:
    """'90d', '12h', '2w' → timedelta; a one-line ValueError otherwise."""
    match = re.fullmatch(r"\s*(\d+)\s*([hdw])\s*", raw.lower())
    if not match:
        raise ValueError(f"'{raw}' is not a duration: use a number and h, d or w (e.g. 7d)")
    return timedelta(seconds=int(match[1]) * _UNITS[match[2]])


async def spend_by(
    engine: AsyncEngine, by: By, since: timedelta, *, now: datetime | None = None
) -> list[SpendLine]:
    """Whole UTC days from (now - since) on, most expensive first."""
    start: date = ((now or datetime.now(UTC)).astimezone(UTC) - since).date()
    if by == "key":
        return await _spend_by_key(engine, start)
    column_name = {"team": "team", "provider": "provider", "model": "model"}[by]  # never user text
    query = text(
        f"SELECT {column_name} AS key, sum(requests) AS requests, sum(tokens) AS tokens, "
        "sum(cost_usd) AS cost_usd FROM spend_daily WHERE day >= :since "
        f"GROUP BY {column_name} ORDER BY sum(cost_usd) DESC, {column_name}"
    ).bindparams(bindparam("since", type_=Date))
    async with engine.connect() as conn:
        rows = (await conn.execute(query, {"since": start})).all()
    return [
        SpendLine(row.key, int(row.requests or 0), int(row.tokens or 0), _usd(row.cost_usd))
        for row in rows
    ]


async def _spend_by_key(engine: AsyncEngine, start: date) -> list[SpendLine]:
    """Per key id (None: requests without a key), with the key's prefix and name when known."""
    log = spend_log.c
    cost = func.coalesce(func.sum(log.cost_usd), 0)
    query = (
        select(
            log.key_id,
            _API_KEYS.c.prefix,
            _API_KEYS.c.name,
            func.count().label("requests"),
            func.sum(log.prompt_tokens + log.completion_tokens).label("tokens"),
            cost.label("cost_usd"),
        )
        .select_from(spend_log.outerjoin(_API_KEYS, _API_KEYS.c.id == log.key_id))
        .where(log.created_at >= datetime.combine(start, time(), UTC))
        .group_by(log.key_id, _API_KEYS.c.prefix, _API_KEYS.c.name)
        # The same order on both databases: costs at the ledger's 10 decimals (SQLite sums them
        # in floating point), and NULL, which sorts first on SQLite, last on Postgres, last.
        .order_by(func.round(cost, 10).desc(), log.key_id.is_(None), log.key_id)
    )
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    return [
        SpendLine(
            row.key_id,
            int(row.requests or 0),
            int(row.tokens or 0),
            _usd(row.cost_usd),
            prefix=row.prefix,
            name=row.name,
        )
        for row in rows
    ]


async def requests_by_deployment(
    engine: AsyncEngine, since: timedelta, *, now: datetime | None = None
) -> dict[str, int]:
    """Requests each deployment served in whole UTC days from (now - since) on (a request that
    failed on every attempt is credited to none)."""
    start: date = ((now or datetime.now(UTC)).astimezone(UTC) - since).date()
    log = spend_log.c
    query = (
        select(log.deployment, func.count())
        .where(log.created_at >= datetime.combine(start, time(), UTC), log.deployment.is_not(None))
        .group_by(log.deployment)
    )
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    return {str(deployment): int(n) for deployment, n in rows}


def _usd(value: object) -> Decimal:
    # SQLite sums text costs into a float: round back to the ledger's 10 decimals.
    return Decimal(str(value or 0)).quantize(Decimal("1e-10"))
