"""Read the period's served requests from spend_log, in time order, as Recorded rows."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.core.usage import Usage
from gateway.ledger.models import spend_log
from gateway.ledger.record import CAPABILITIES_TAG
from gateway.replay.recorded import Recorded

BATCH = 5_000

_c = spend_log.c
_COLUMNS = (
    _c.created_at,
    _c.requested_model,
    _c.team,
    _c.endpoint,
    _c.stream,
    _c.deployment,
    _c.prompt_tokens,
    _c.completion_tokens,
    _c.cached_tokens,
    _c.reasoning_tokens,
    _c.cache_write_tokens,
    _c.cost_usd,
    _c.ttft_ms,
    _c.latency_ms,
    _c.tags,
)


async def served(engine: AsyncEngine, start: datetime) -> AsyncIterator[list[Recorded]]:
    """Batches of the requests since `start` that a deployment answered, oldest first."""
    query = (
        select(*_COLUMNS)
        .where(_c.created_at >= start, _c.deployment.is_not(None))
        .order_by(_c.created_at, _c.id)
        .execution_options(yield_per=BATCH)
    )
    async with engine.connect() as conn:
        result = await conn.stream(query)
        async for batch in result.partitions(BATCH):
            yield [_recorded(row) for row in batch]


async def unserved_count(engine: AsyncEngine, start: datetime) -> int:
    """Requests since `start` that no deployment answered (client errors, all attempts failed)."""
    query = select(func.count()).where(_c.created_at >= start, _c.deployment.is_(None))
    async with engine.connect() as conn:
        return int((await conn.execute(query)).scalar_one())


def _recorded(row: Any) -> Recorded:
    at: datetime = row.created_at
    if at.tzinfo is None:  # SQLite gives back the UTC it stored, without the zone
        at = at.replace(tzinfo=UTC)
    tags = row.tags if isinstance(row.tags, dict) else {}
    needs = tags.get(CAPABILITIES_TAG)
    return Recorded(
        at=at.timestamp(),
        model=row.requested_model,
        team=row.team,
        endpoint=row.endpoint,
        stream=bool(row.stream),
        deployment=row.deployment,
        usage=Usage(
            prompt_tokens=row.prompt_tokens,
            completion_tokens=row.completion_tokens,
            cached_tokens=row.cached_tokens,
            reasoning_tokens=row.reasoning_tokens,
            cache_write_tokens=row.cache_write_tokens,
        ),
        cost_usd=row.cost_usd,
        ttft_ms=row.ttft_ms,
        latency_ms=float(row.latency_ms),
        capabilities=frozenset(needs.split(","))
        if isinstance(needs, str) and needs
        else frozenset(),
    )
