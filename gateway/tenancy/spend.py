"""Spend so far per key or team (this UTC day and month) from the ledger, beside their budgets."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Literal

from gateway.core.caller import Allowance

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

_QUANTUM = Decimal("1e-10")
_ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Spend:
    day: Decimal = _ZERO
    month: Decimal = _ZERO


def headroom(budget: Decimal | None, spent: Decimal) -> Decimal | None:
    """What is left of a budget (never below 0); None: no budget."""
    return None if budget is None else max(budget - spent, _ZERO)


async def spend_by(
    engine: AsyncEngine,
    by: Literal["key_id", "team"],
    *,
    only: str | None = None,
    now: datetime | None = None,
) -> dict[str, Spend]:
    """key id (or team) → its spend since the start of this UTC day and month."""
    # Here, not at import: a gateway without keys is ready without SQLAlchemy (start-up time).
    from sqlalchemy import case, func, select

    from gateway.ledger.models import spend_log

    moment = (now or datetime.now(UTC)).astimezone(UTC)
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    month = day.replace(day=1)
    column = spend_log.c.key_id if by == "key_id" else spend_log.c.team
    today = case((spend_log.c.created_at >= day, spend_log.c.cost_usd), else_=None)
    query = (
        select(column, func.sum(today), func.sum(spend_log.c.cost_usd))
        .where(spend_log.c.created_at >= month, column.is_not(None))
        .group_by(column)
    )
    if only is not None:
        query = query.where(column == only)
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    return {str(name): Spend(_usd(day_sum), _usd(month_sum)) for name, day_sum, month_sum in rows}


def _usd(value: object) -> Decimal:
    # SQLite sums its text costs into a float: back to the ledger's 10 decimals.
    return _ZERO if value is None else Decimal(str(value)).quantize(_QUANTUM)


def ledger_seeder(
    engine: AsyncEngine,
) -> Callable[[Allowance, float], Awaitable[tuple[Decimal, Decimal]]]:
    """What a key or team spent this UTC day and month by the ledger: how the limiter rebuilds
    a budget's counters that are missing (Redis flushed or restarted, a replica restarted)."""

    async def seed(allowance: Allowance, now: float) -> tuple[Decimal, Decimal]:
        kind, _, name = allowance.scope.partition(":")
        by: Literal["key_id", "team"] = "key_id" if kind == "key" else "team"
        moment = datetime.fromtimestamp(now, UTC)
        spent = (await spend_by(engine, by, only=name, now=moment)).get(name, Spend())
        return spent.day, spent.month

    return seed
