"""`gateway spend`: totals by team, provider or model since a moment, read from spend_daily."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Literal

from sqlalchemy import Date, bindparam, text
from sqlalchemy.ext.asyncio import AsyncEngine

By = Literal["team", "provider", "model"]
_UNITS = {"h": 3600, "d": 86400, "w": 7 * 86400}


@dataclass(frozen=True, slots=True)
class SpendLine:
    key: str | None  # team, provider or model; None: not set (e.g. no team)
    requests: int
    tokens: int
    cost_usd: Decimal


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
    column = {"team": "team", "provider": "provider", "model": "model"}[by]  # never user text
    query = text(
        f"SELECT {column} AS key, sum(requests) AS requests, sum(tokens) AS tokens, "
        "sum(cost_usd) AS cost_usd FROM spend_daily WHERE day >= :since "
        f"GROUP BY {column} ORDER BY sum(cost_usd) DESC, {column}"
    ).bindparams(bindparam("since", type_=Date))
    async with engine.connect() as conn:
        rows = (await conn.execute(query, {"since": start})).all()
    return [
        SpendLine(
            row.key,
            int(row.requests or 0),
            int(row.tokens or 0),
            # SQLite sums text costs into a float: round back to the ledger's 10 decimals.
            Decimal(str(row.cost_usd or 0)).quantize(Decimal("1e-10")),
        )
        for row in rows
    ]
