"""Spend records for tests, and reading spend_log back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.ledger.models import spend_log
from gateway.ledger.record import SpendRecord

NOW = datetime.now(UTC).replace(microsecond=123456)


def record(n: int = 0, **fields: Any) -> SpendRecord:
    base: dict[str, Any] = {
        "created_at": NOW - timedelta(seconds=n % 50),
        "request_id": f"req-{n}",
        "endpoint": "/v1/chat/completions",
        "requested_model": "chat",
        "stream": bool(n % 2),
        "status_code": 200,
        "attempts": 1,
        "latency_ms": 100.0 + n,
        "policy": "chat",
        "provider": "a",
        "deployment": "a/m",
        "upstream_model": "m",
        "prompt_tokens": 10,
        "completion_tokens": 5,
        "cost_usd": Decimal("0.0000123456"),
        "ttft_ms": 10.0,
        "team": "search",
        "tags": {"env": "test"},
    }
    base.update(fields)
    return SpendRecord(**base)


async def rows(engine: AsyncEngine) -> list[Any]:
    async with engine.connect() as conn:
        result = await conn.execute(select(spend_log).order_by(spend_log.c.request_id))
        return list(result.all())


def is_postgres(url: str) -> bool:
    return url.startswith("postgresql")
