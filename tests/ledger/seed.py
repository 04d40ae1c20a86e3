"""A small, known spend history (two providers, one failure) for the views and dashboard queries."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from gateway.ledger.database import parse_database_url
from gateway.ledger.factory import build_sink
from gateway.ledger.record import SpendRecord
from tests.ledger.factories import NOW, record


def history() -> list[SpendRecord]:
    # Every row at one instant: the same UTC day and hour whenever the suite runs.
    a = [
        record(i, created_at=NOW, ttft_ms=t, latency_ms=t * 10, status_code=s)
        for i, (t, s) in enumerate([(10.0, 200), (20.0, 200), (30.0, 200), (40.0, 502)])
    ]
    a = [replace(r, cost_usd=Decimal("0.0001")) for r in a]  # 4 x (10 + 5) tokens
    b = [
        record(
            10 + i,
            created_at=NOW,
            provider="b",
            deployment="b/m",
            team="ads",
            ttft_ms=t,
            latency_ms=t * 10,
            prompt_tokens=15,
            completion_tokens=5,
            cost_usd=Decimal("0.0004"),
        )
        for i, t in enumerate([50.0, 70.0])
    ]
    failed = record(
        99,
        created_at=NOW,
        requested_model="nope",
        policy=None,
        provider=None,
        deployment=None,
        upstream_model=None,
        team=None,
        status_code=404,
        prompt_tokens=0,
        completion_tokens=0,
        cost_usd=None,
        ttft_ms=None,
        latency_ms=1.0,
    )
    return [*a, *b, failed]


async def seed(url: str) -> None:
    """Insert history() into a migrated ledger database."""
    sink = build_sink(parse_database_url(url))
    try:
        assert await sink.insert(history()) == 7
    finally:
        await sink.close()


def money(value: object) -> Decimal:
    """Both databases' sums compared at the ledger's precision (SQLite sums in floating point)."""
    return Decimal(str(value)).quantize(Decimal("1e-10"))
