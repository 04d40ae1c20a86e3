"""Every SQL query of the Grafana dashboards runs on Postgres against a known ledger, with
Grafana's macros and variables expanded as Grafana would, and gives the expected rows."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from decimal import Decimal as D
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.ledger.database import create_engine, parse_database_url
from gateway.ledger.schema import migrate
from tests.conftest import postgres_schema
from tests.deploy.grafana import POSTGRES_UID, Query, Range, queries, render_sql
from tests.ledger.factories import record
from tests.ledger.tenants import add, team

# The dashboard's time range: 3 November 2026, 00:00 to 12:00 UTC, in 1-hour intervals.
SPAN = Range(datetime(2026, 11, 3, tzinfo=UTC), datetime(2026, 11, 3, 12, tzinfo=UTC), 3600)
ALL_TEAMS = ("(none)", "ads", "research", "search")
H = 3600
T0 = int(SPAN.start.timestamp())  # epoch of 3 November 00:00


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11 if day > 0 else 10, day if day > 0 else 31, hour, minute, tzinfo=UTC)


def ledger() -> list[Any]:
    """Two vendors on route chat (a at 1/150000 USD per token, b at 1/50000), a pricier route
    big on c, a request without a team, one that reached no provider; rows outside the range
    (before, after, the previous month) that only the budget panels may count."""
    b = {"provider": "b", "deployment": "b/m", "prompt_tokens": 15}
    return [
        record(1, created_at=at(1, 6), cost_usd=D("0.002")),  # this month, before the range
        record(2, created_at=at(3, 1, 10), cost_usd=D("0.0001")),
        record(3, created_at=at(3, 1, 20), cost_usd=D("0.0001")),
        record(4, created_at=at(3, 2, 30), team="ads", cost_usd=D("0.0004"), **b),
        record(5, created_at=at(3, 2, 40), team="ads", cost_usd=D("0.0004"), **b),
        record(6, created_at=at(3, 3), team=None, cost_usd=D("0.0001")),
        record(
            7,
            created_at=at(3, 3, 30),
            requested_model="nope",
            policy=None,
            provider=None,
            deployment=None,
            status_code=404,
            prompt_tokens=0,
            completion_tokens=0,
            cost_usd=None,
            ttft_ms=None,
        ),
        record(
            8,
            created_at=at(3, 4),
            team="research",
            requested_model="big",
            policy="big",
            provider="c",
            deployment="c/big",
            prompt_tokens=100,
            completion_tokens=100,
            cost_usd=D("0.01"),
        ),
        record(9, created_at=at(3, 13), cost_usd=D("0.5")),  # after the range's end
        record(10, created_at=at(0, 23, 59), cost_usd=D(1)),  # 31 October
        record(11, created_at=at(2, 12), team="ads", cost_usd=D("0.0008"), **b),
    ]


TEAMS = [team("search", "0.01", "0.05"), team("ads"), team("research", None, "1")]

# Panel title -> the rows its query gives on ledger() (all teams chosen), in order.
EXPECTED: dict[str, list[tuple[Any, ...]]] = {
    "Spend": [(D("0.0111"),)],
    "Requests served": [(6,)],
    "Cost per 1,000 requests": [(D("1.850000"),)],
    # chat: 85 tokens at b's 1/50000 would be 0.0017, it cost 0.0011; big: one deployment
    "Saved against the dearest candidate": [(D("0.0006"),)],
    "Spend by team": [
        (T0 + H, "search", D("0.0002")),
        (T0 + 2 * H, "ads", D("0.0008")),
        (T0 + 3 * H, "(none)", D("0.0001")),
        (T0 + 3 * H, "search", D(0)),  # the request that reached no provider
        (T0 + 4 * H, "research", D("0.01")),
    ],
    "Spend by provider": [
        (T0 + H, "a", D("0.0002")),
        (T0 + 2 * H, "b", D("0.0008")),
        (T0 + 3 * H, "(none)", D(0)),
        (T0 + 3 * H, "a", D("0.0001")),
        (T0 + 4 * H, "c", D("0.01")),
    ],
    "Spend by model": [
        (T0 + H, "chat", D("0.0002")),
        (T0 + 2 * H, "chat", D("0.0008")),
        (T0 + 3 * H, "chat", D("0.0001")),
        (T0 + 3 * H, "nope", D(0)),
        (T0 + 4 * H, "big", D("0.01")),
    ],
    "Cost per 1,000 requests by provider": [
        ("c", D("10.000000")),
        ("b", D("0.400000")),
        ("a", D("0.100000")),
    ],
    "Savings against the dearest candidate, per route": [
        ("chat", D("0.0011"), D("0.0017"), D("0.0006"), D("35.29")),
        ("big", D("0.01"), D("0.01"), D(0), D(0)),
    ],
    # As of 3 November 12:00: the day so far and the month so far (not 31 October, not 13:00).
    "Budget burn this month": [
        ("search", D("0.0002"), D("0.01"), D(2), D("0.0022"), D("0.05"), D("4.4"), D("0.0478")),
        ("research", D("0.01"), None, None, D("0.01"), D(1), D(1), D("0.99")),
        ("ads", D("0.0008"), None, None, D("0.0016"), None, None, None),
    ],
    "Monthly budget used, per team": [
        (at(1, 0), "research", D(0)),
        (at(1, 0), "search", D(4)),
        (at(2, 0), "research", D(0)),
        (at(2, 0), "search", D(4)),
        (at(3, 0), "research", D(1)),
        (at(3, 0), "search", D("4.4")),
    ],
    "variable team": [("(none)",), ("ads",), ("research",), ("search",)],
}


def sql_queries() -> list[Query]:
    return [q for q in queries() if q.uid == POSTGRES_UID]


@pytest.fixture
async def seeded() -> AsyncIterator[AsyncEngine]:
    async with postgres_schema() as url:
        engine = create_engine(parse_database_url(url))
        await migrate(engine)
        await add(engine, TEAMS, spend=ledger())
        yield engine
        await engine.dispose()


async def run(engine: AsyncEngine, q: Query, teams: Sequence[str] = ALL_TEAMS) -> list[Any]:
    sql = render_sql(q.text, SPAN, {"team": teams})
    async with engine.connect() as conn:
        result = await conn.execute(text(sql))
        if q.format == "time_series":  # what Grafana needs to draw series
            assert list(result.keys())[:2] == ["time", "metric"], q.panel
        rows = [tuple(r) for r in result.all()]
    return sorted(rows) if q.panel.startswith("variable") else rows


def test_every_sql_query_has_its_expected_rows() -> None:
    assert sorted(q.panel for q in sql_queries()) == sorted(EXPECTED)


async def test_every_sql_query_gives_the_expected_rows(seeded: AsyncEngine) -> None:
    for q in sql_queries():
        got = await run(seeded, q)
        assert _normal(got) == _normal(EXPECTED[q.panel]), q.panel


async def test_the_team_variable_narrows_the_panels(seeded: AsyncEngine) -> None:
    by_title = {q.panel: q for q in sql_queries()}
    assert await run(seeded, by_title["Spend"], ["ads"]) == [(D("0.0008"),)]
    assert await run(seeded, by_title["Spend by team"], ["ads", "(none)"]) == [
        (T0 + 2 * H, "ads", D("0.0008")),
        (T0 + 3 * H, "(none)", D("0.0001")),
    ]
    burn = await run(seeded, by_title["Budget burn this month"], ["research"])
    assert [r[0] for r in burn] == ["research"]


async def test_an_empty_range_gives_zeroes_not_errors(seeded: AsyncEngine) -> None:
    by_title = {q.panel: q for q in sql_queries()}
    empty = Range(datetime(2026, 11, 20, tzinfo=UTC), datetime(2026, 11, 20, 1, tzinfo=UTC), 60)
    async with seeded.connect() as conn:
        for title, want in [("Spend", (D(0),)), ("Cost per 1,000 requests", (None,))]:
            sql = render_sql(by_title[title].text, empty, {"team": ALL_TEAMS})
            assert tuple((await conn.execute(text(sql))).one()) == want, title


def _normal(rows: Sequence[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Numbers compared by value (0.0100 == 0.01; epoch seconds come back as numeric)."""
    return [
        tuple(
            D(str(v)).normalize()
            if isinstance(v, int | float | D) and not isinstance(v, bool)
            else v
            for v in row
        )
        for row in rows
    ]
