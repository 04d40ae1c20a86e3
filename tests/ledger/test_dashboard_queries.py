"""Every query in docs/sql runs on Postgres against a known history and gives the expected rows."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.ledger.codec import to_row
from gateway.ledger.database import create_engine, parse_database_url
from gateway.ledger.factory import build_sink
from gateway.ledger.models import spend_log
from gateway.ledger.partitions import create_partition_sql, month_of
from gateway.ledger.schema import migrate
from tests.conftest import postgres_schema
from tests.ledger.factories import record
from tests.ledger.seed import seed

SQL = Path(__file__).resolve().parents[2] / "docs" / "sql"


@pytest.fixture
async def seeded() -> AsyncIterator[AsyncEngine]:
    async with postgres_schema() as url:  # dashboards are Postgres: no SQLite variant
        engine = create_engine(parse_database_url(url))
        await migrate(engine)
        await seed(url)
        yield engine
        await engine.dispose()


async def run(engine: AsyncEngine, name: str) -> list[Any]:
    async with engine.connect() as conn:
        return list((await conn.execute(text((SQL / name).read_text()))).all())


def test_every_query_in_docs_sql_is_tested() -> None:
    tested = set(globals())
    for path in SQL.glob("*.sql"):
        assert f"test_{path.stem}" in tested, path.name


async def test_spend_per_team_per_day(seeded: AsyncEngine) -> None:
    got = {
        r.team: (r.cost_usd, r.requests) for r in await run(seeded, "spend_per_team_per_day.sql")
    }
    assert got == {
        "search": (Decimal("0.0004"), 4),
        "ads": (Decimal("0.0008"), 2),
        "(none)": (Decimal(0), 1),
    }


async def test_top_models_by_cost(seeded: AsyncEngine) -> None:
    got = [tuple(r) for r in await run(seeded, "top_models_by_cost.sql")]
    assert got == [("chat", Decimal("0.0012"), 6, 100), ("nope", Decimal(0), 1, 0)]


async def test_cost_per_1k_requests_by_provider(seeded: AsyncEngine) -> None:
    got = [tuple(r) for r in await run(seeded, "cost_per_1k_requests_by_provider.sql")]
    assert got == [("b", 2, Decimal("0.4")), ("a", 4, Decimal("0.1"))]


async def test_p95_ttft_per_provider_per_hour(seeded: AsyncEngine) -> None:
    got = [
        (r.provider, r.requests, r.p95_ttft_ms)
        for r in await run(seeded, "p95_ttft_per_provider_per_hour.sql")
    ]
    assert got == [("a", 4, 40.0), ("b", 2, 70.0)]


async def test_traffic_share_by_provider(seeded: AsyncEngine) -> None:
    got = [tuple(r) for r in await run(seeded, "traffic_share_by_provider.sql")]
    assert got == [("a", 4, Decimal("66.67")), ("b", 2, Decimal("33.33"))]


async def test_savings_vs_most_expensive(seeded: AsyncEngine) -> None:
    # b costs 0.00002 USD per token; all 100 tokens of the route there: 0.002 instead of 0.0012
    got = [tuple(r) for r in await run(seeded, "savings_vs_most_expensive.sql")]
    assert got == [("chat", Decimal("0.0012"), Decimal("0.002"), Decimal("0.0008"), Decimal("40"))]


async def test_pool_cost_per_team_per_day() -> None:
    # Two days ago (a whole day): a reserved pool at 20 $/h, 800k tokens, 3/4 of them search's.
    day = (datetime.now(UTC) - timedelta(days=2)).replace(hour=12, minute=0)
    reserved = {"pool_gpu_usd_per_hour": "20.0", "pool_billing": "reserved"}
    pool = {"provider": "h100", "deployment": "h100/m", "created_at": day, "cost_usd": Decimal(0)}
    big = {"prompt_tokens": 150_000, "completion_tokens": 50_000}
    rows = [
        *(record(200 + i, **pool, **big, team="search", tags=reserved) for i in range(3)),
        record(210, **pool, **big, team="ads", tags=reserved),
        record(211, **{**pool, "provider": "burst"}, **big, tags={**reserved, "pool_billing": "x"}),
        record(212, created_at=day),  # a vendor's row: not a pool
    ]  # fmt: skip
    async with postgres_schema() as url:
        engine = create_engine(parse_database_url(url))
        await migrate(engine)
        async with engine.begin() as conn:  # the month of that day may precede the current one
            await conn.execute(text(create_partition_sql(month_of(day))))
        sink = build_sink(parse_database_url(url))
        assert await sink.insert(rows) == len(rows)
        await sink.close()
        got = [tuple(r) for r in await run(engine, "pool_cost_per_team_per_day.sql")]
        await engine.dispose()
    bill = Decimal(20 * 24)  # 480 USD that day, over 800k tokens
    assert got == [
        (day.date(), "h100", "ads", 200_000, Decimal("120.000000"), Decimal("600.0000")),
        (day.date(), "h100", "search", 600_000, Decimal("360.000000"), Decimal("600.0000")),
    ]
    assert sum(r[4] for r in got) == bill  # the whole bill, nothing more


async def test_spend_per_session(seeded: AsyncEngine) -> None:
    # The seeded history has no sessions; two sessions' rows join it here.
    rows = [
        record(200 + i, tags={"session_id": s}, cost_usd=Decimal(c), team="eng")
        for i, (s, c) in enumerate([("cc-1", "0.01"), ("cc-1", "0.02"), ("cc-2", "0.005")])
    ]
    async with seeded.begin() as conn:
        await conn.execute(insert(spend_log), [to_row(r) for r in rows])
    got = [tuple(r)[:5] for r in await run(seeded, "spend_per_session.sql")]
    assert got == [
        ("cc-1", "eng", 2, 30, Decimal("0.03")),
        ("cc-2", "eng", 1, 15, Decimal("0.005")),
    ]
