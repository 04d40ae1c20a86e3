"""Every query in docs/sql runs on Postgres against a known history and gives the expected rows."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.ledger.database import create_engine, parse_database_url
from gateway.ledger.schema import migrate
from tests.conftest import postgres_schema
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
