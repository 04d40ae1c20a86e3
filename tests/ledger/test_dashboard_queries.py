"""Every query in docs/sql runs on Postgres against a known history and gives the expected rows."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
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
from tests.ledger.factories import NOW, record
from tests.ledger.seed import seed
from tests.ledger.tenants import add, burn, key, month_days, team

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


async def run_at(engine: AsyncEngine, name: str, now: str) -> list[tuple[Any, ...]]:
    """A query as if run at `now` (UTC): its clock, now(), pinned to that moment."""
    sql = (SQL / name).read_text()
    assert "now()" in sql
    async with engine.connect() as conn:
        result = await conn.execute(text(sql.replace("now()", f"TIMESTAMPTZ '{now}+00'")))
        return [tuple(r) for r in result]


def at(moment: str) -> datetime:
    return datetime.fromisoformat(f"{moment}+00:00")


Z, D = Decimal(0), Decimal


async def test_budget_burn_down_per_team(seeded: AsyncEngine) -> None:
    # On 3 November: search spent 0.002 on the 1st and 0.012 on the 3rd (over its 0.01 a day);
    # ads (no budgets) 0.0008 on the 2nd. Not counted: October, a team outside the teams table.
    await add(
        seeded,
        [team("search", "0.01", "0.05"), team("ads")],
        spend=[
            record(300, team="search", created_at=at("2026-11-01 06:00"), cost_usd=D("0.002")),
            record(301, team="search", created_at=at("2026-11-03 09:00"), cost_usd=D("0.012")),
            record(302, team="search", created_at=at("2026-11-03 09:30"), cost_usd=None),
            record(303, team="search", created_at=at("2026-10-31 23:59"), cost_usd=D(1)),
            record(304, team="ads", created_at=at("2026-11-02 12:00"), cost_usd=D("0.0008")),
            record(305, team="ghost", created_at=at("2026-11-02 12:00"), cost_usd=D("0.5")),
        ],
    )
    nov = [date(2026, 11, d) for d in (1, 2, 3)]
    # (month so far, monthly budget, share used, left): after the 1st (and 2nd), after the 3rd
    month_1st = (D("0.002"), D("0.05"), D(4), D("0.048"))
    month_3rd = (D("0.014"), D("0.05"), D(28), D("0.036"))
    assert await run_at(seeded, "budget_burn_down_per_team.sql", "2026-11-03 12:00") == [
        (nov[0], "ads", Z, None, None, None, Z, None, None, None),
        (nov[1], "ads", D("0.0008"), None, None, None, D("0.0008"), None, None, None),
        (nov[2], "ads", Z, None, None, None, D("0.0008"), None, None, None),
        (nov[0], "search", *(D("0.002"), D("0.01"), D(20), D("0.008")), *month_1st),
        (nov[1], "search", *(Z, D("0.01"), Z, D("0.01")), *month_1st),
        (nov[2], "search", *(D("0.012"), D("0.01"), D(120), Z), *month_3rd),
    ]
    # On the real clock: this month's days to today, with the seeded rows of today.
    days, today = month_days(NOW), NOW.date()
    assert [tuple(r) for r in await run(seeded, "budget_burn_down_per_team.sql")] == [
        *[(d, "ads", *rest) for d, *rest in burn(days, {today: D("0.0008")}, None, None)],
        *[(d, "search", *rest) for d, *rest in burn(days, {today: D("0.0004")}, "0.01", "0.05")],
    ]


async def test_budget_burn_down_per_key(seeded: AsyncEngine) -> None:
    # On 3 November: ci (0.001 a day) spent 0.002 on the 1st (200 %, nothing left), 0.0002 on
    # the 3rd; the ads key (0.01 a month) 0.0004 on the 2nd; quiet, revoked on the 1st, is shown.
    # Not counted: October, a key revoked before November, a key id not in api_keys.
    ci, ads = "key_aaaaaaaaa", "key_bbbbbbbbb"
    await add(
        seeded,
        [team("search"), team("ads")],
        [
            key("aaaaaaaaa", "search", "ci", budget_usd_day=D("0.001")),
            key("bbbbbbbbb", "ads", budget_usd_month=D("0.01")),
            key("ccccccccc", "search", "quiet", revoked_at=at("2026-11-01 00:00")),
            key("ddddddddd", "search", "old", revoked_at=at("2026-10-31 23:00")),
        ],
        [
            record(300, key_id=ci, created_at=at("2026-11-01 06:00"), cost_usd=D("0.002")),
            record(301, key_id=ci, created_at=at("2026-11-03 08:00"), cost_usd=D("0.0001")),
            record(302, key_id=ci, created_at=at("2026-11-03 09:00"), cost_usd=D("0.0001")),
            record(303, key_id=ci, created_at=at("2026-10-31 23:59"), cost_usd=D(1)),
            record(304, key_id=ads, created_at=at("2026-11-02 12:00"), cost_usd=D("0.0004")),
            record(305, key_id="key_ddddddddd", created_at=at("2026-11-02"), cost_usd=D("0.1")),
            record(306, key_id="key_unknown", created_at=at("2026-11-02"), cost_usd=D("0.3")),
            record(307, key_id=ci, created_at=NOW, cost_usd=D("0.0001")),  # the real today
        ],
    )
    nov = [date(2026, 11, d) for d in (1, 2, 3)]
    b = (ads, "gw-bbbbbbbbb", None, "ads")  # key_id, prefix, name, team
    a = (ci, "gw-aaaaaaaaa", "ci", "search")
    c = ("key_ccccccccc", "gw-ccccccccc", "quiet", "search")
    nil = (None, None, None)  # no budget: none, no share used, nothing left
    assert await run_at(seeded, "budget_burn_down_per_key.sql", "2026-11-03 12:00") == [
        (nov[0], *b, Z, *nil, Z, D("0.01"), Z, D("0.01")),
        (nov[1], *b, D("0.0004"), *nil, D("0.0004"), D("0.01"), D(4), D("0.0096")),
        (nov[2], *b, Z, *nil, D("0.0004"), D("0.01"), D(4), D("0.0096")),
        (nov[0], *a, D("0.002"), D("0.001"), D(200), Z, D("0.002"), *nil),
        (nov[1], *a, Z, D("0.001"), Z, D("0.001"), D("0.002"), *nil),
        (nov[2], *a, D("0.0002"), D("0.001"), D(20), D("0.0008"), D("0.0022"), *nil),
        *[(day, *c, Z, *nil, Z, *nil) for day in nov],
    ]
    # On the real clock: quiet was revoked before this month began, so it is gone.
    days, today = month_days(NOW), NOW.date()
    assert [tuple(r) for r in await run(seeded, "budget_burn_down_per_key.sql")] == [
        *[(d, *b, *rest) for d, *rest in burn(days, {}, None, "0.01")],
        *[(d, *a, *rest) for d, *rest in burn(days, {today: D("0.0001")}, "0.001", None)],
    ]
