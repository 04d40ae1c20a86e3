"""Teams and API keys with fixed ids and prefixes, and spend rows, written straight to tables."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.ledger.codec import to_row
from gateway.ledger.models import spend_log
from gateway.ledger.partitions import create_partition_sql, month_of
from gateway.ledger.record import SpendRecord
from gateway.tenancy.tables import api_keys, teams

AT = datetime(2026, 1, 1, tzinfo=UTC)  # created_at / updated_at of every team and key here


def team(name: str, day: str | None = None, month: str | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "budget_usd_day": None if day is None else Decimal(day),
        "budget_usd_month": None if month is None else Decimal(month),
        "created_at": AT,
        "updated_at": AT,
    }


def key(ident: str, team: str, name: str | None = None, **fields: Any) -> dict[str, Any]:
    """A key row: id key_<ident>, prefix gw-<ident>, a hash that is no key's (never shown)."""
    row: dict[str, Any] = {
        "id": f"key_{ident}",
        "prefix": f"gw-{ident}",
        "key_hash": f"hash-{ident}-" + "0" * 40,
        "team": team,
        "name": name,
        "budget_usd_day": None,
        "budget_usd_month": None,
        "revoked_at": None,
        "created_at": AT,
        "updated_at": AT,
    }
    return row | fields


async def add(
    engine: AsyncEngine,
    team_rows: Sequence[dict[str, Any]] = (),
    key_rows: Sequence[dict[str, Any]] = (),
    spend: Sequence[SpendRecord] = (),
) -> None:
    async with engine.begin() as conn:
        if engine.dialect.name == "postgresql":  # a row may fall in a month before this one
            for month in {month_of(r.created_at.astimezone(UTC)) for r in spend}:
                await conn.execute(text(create_partition_sql(month)))
        if team_rows:
            await conn.execute(insert(teams), list(team_rows))
        if key_rows:
            await conn.execute(insert(api_keys), list(key_rows))
        if spend:
            await conn.execute(insert(spend_log), [to_row(r) for r in spend])


def month_days(now: datetime) -> list[date]:
    """This UTC month's days, from the 1st to today."""
    today = now.astimezone(UTC).date()
    return [today.replace(day=d) for d in range(1, today.day + 1)]


def burn(
    days: Sequence[date], spent: dict[date, Decimal], day: str | None, month: str | None
) -> list[tuple[Any, ...]]:
    """The expected burn-down rows of one team or key: (day, day_usd, budget_usd_day, day_used_pct,
    day_left_usd, month_to_date_usd, budget_usd_month, month_used_pct, month_left_usd)."""
    day_budget = None if day is None else Decimal(day)
    month_budget = None if month is None else Decimal(month)
    rows, total = [], Decimal(0)
    for d in days:
        usd = spent.get(d, Decimal(0))
        total += usd
        today = (usd, day_budget, _pct(usd, day_budget), _left(day_budget, usd))
        so_far = (total, month_budget, _pct(total, month_budget), _left(month_budget, total))
        rows.append((d, *today, *so_far))
    return rows


def _pct(usd: Decimal, budget: Decimal | None) -> Decimal | None:
    if not budget:
        return None
    return (100 * usd / budget).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def _left(budget: Decimal | None, usd: Decimal) -> Decimal | None:
    return None if budget is None else max(budget - usd, Decimal(0))
