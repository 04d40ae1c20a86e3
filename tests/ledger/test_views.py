"""spend_daily and provider_latency_daily give the same answers on Postgres and SQLite."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.ledger.factories import NOW
from tests.ledger.seed import money, seed


async def test_spend_daily(ledger_url: str, engine: AsyncEngine) -> None:
    await seed(ledger_url)
    async with engine.connect() as conn:
        result = await conn.execute(text("SELECT * FROM spend_daily"))
        got = {
            (str(r.day), r.team, r.provider, r.model): (r.requests, r.tokens, money(r.cost_usd))
            for r in result
        }
    day = NOW.date().isoformat()
    assert got == {
        (day, "search", "a", "chat"): (4, 60, money("0.0004")),
        (day, "ads", "b", "chat"): (2, 40, money("0.0008")),
        (day, None, None, "nope"): (1, 0, money(0)),
    }


async def test_provider_latency_daily(ledger_url: str, engine: AsyncEngine) -> None:
    await seed(ledger_url)
    async with engine.connect() as conn:
        result = await conn.execute(text("SELECT * FROM provider_latency_daily"))
        got = {
            r.deployment: (
                str(r.day),
                r.provider,
                r.requests,
                r.p50_ttft_ms,
                r.p95_ttft_ms,
                r.p50_latency_ms,
                r.p95_latency_ms,
                float(r.error_rate),
            )
            for r in result
        }
    day = NOW.date().isoformat()
    assert got == {
        # nearest rank: p50 of 4 values is the 2nd, p95 the 4th; of 2 values the 1st and 2nd
        "a/m": (day, "a", 4, 20.0, 40.0, 200.0, 400.0, 0.25),
        "b/m": (day, "b", 2, 50.0, 70.0, 500.0, 700.0, 0.0),
    }
