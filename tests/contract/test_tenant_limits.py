"""One contract for keys' and teams' limits, in memory and on the real Redis (per-test prefix):
requests and tokens per minute, USD per day and month, all levels or none, settled exactly."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from redis.asyncio import Redis

from gateway.core.caller import Allowance
from gateway.state.tenant_limits import (
    MemoryTenantLimits,
    RedisTenantLimits,
    TenantDenied,
    TenantGrant,
    TenantLimits,
)

REDIS_URL = "redis://127.0.0.1:6379/0"
NOW = 1_767_225_630.0  # 2026-01-01 00:00:30 UTC: the middle of a minute


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["memory", "redis"])
async def limits(request: pytest.FixtureRequest) -> AsyncIterator[tuple[TenantLimits, Clock]]:
    clock = Clock()
    if request.param == "memory":
        yield MemoryTenantLimits(clock=clock), clock
        return
    client = Redis.from_url(REDIS_URL)  # no Redis: this fails here, loudly
    prefix = f"test-tenant-{uuid.uuid4().hex[:8]}:"
    lim = RedisTenantLimits(client, prefix=prefix, clock=clock)
    try:
        yield lim, clock
    finally:
        await lim.close()
        keys = [k async for k in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


def key(**caps: object) -> Allowance:
    return Allowance("key:k1", "search", **caps)  # type: ignore[arg-type]


def team(**caps: object) -> Allowance:
    return Allowance("team:search", "search", **caps)  # type: ignore[arg-type]


async def test_requests_per_minute(limits: tuple[TenantLimits, Clock]) -> None:
    lim, _ = limits
    for _ in range(3):
        assert isinstance(await lim.reserve([key(rpm=3)], 10, Decimal(0)), TenantGrant)
    denied = await lim.reserve([key(rpm=3)], 10, Decimal(0))
    assert isinstance(denied, TenantDenied) and denied.limit == "rpm" and not denied.budget
    assert 1 <= denied.retry_after_s <= 60


async def test_the_minute_slides_over_two_buckets(limits: tuple[TenantLimits, Clock]) -> None:
    lim, clock = limits
    for _ in range(4):
        assert isinstance(await lim.reserve([key(rpm=4)], 1, Decimal(0)), TenantGrant)
    clock.now += 60  # the next minute, at the same second: last minute weighs a half
    assert isinstance(await lim.reserve([key(rpm=4)], 1, Decimal(0)), TenantGrant)
    assert isinstance(await lim.reserve([key(rpm=4)], 1, Decimal(0)), TenantGrant)
    assert isinstance(await lim.reserve([key(rpm=4)], 1, Decimal(0)), TenantDenied)  # 2+3>4


async def test_tokens_per_minute_and_settle_corrects_them(
    limits: tuple[TenantLimits, Clock],
) -> None:
    lim, _ = limits
    grant = await lim.reserve([key(tpm=1000)], 900, Decimal(0))
    assert isinstance(grant, TenantGrant)
    assert isinstance(await lim.reserve([key(tpm=1000)], 200, Decimal(0)), TenantDenied)
    await lim.settle(grant, 100, Decimal(0))  # it really used 100
    assert isinstance(await lim.reserve([key(tpm=1000)], 800, Decimal(0)), TenantGrant)


async def test_a_daily_budget_refuses_until_tomorrow(limits: tuple[TenantLimits, Clock]) -> None:
    lim, _ = limits
    grant = await lim.reserve([team(usd_day=Decimal("0.05"))], 10, Decimal("0.04"))
    assert isinstance(grant, TenantGrant)
    denied = await lim.reserve([team(usd_day=Decimal("0.05"))], 10, Decimal("0.02"))
    assert isinstance(denied, TenantDenied) and denied.budget and denied.scope == "team:search"
    assert denied.retry_after_s == pytest.approx(86_400 - 30)  # until midnight UTC
    await lim.settle(grant, 10, Decimal("0.01"))  # it cost less than expected
    assert isinstance(
        await lim.reserve([team(usd_day=Decimal("0.05"))], 10, Decimal("0.02")), TenantGrant
    )


async def test_all_levels_or_none(limits: tuple[TenantLimits, Clock]) -> None:
    lim, _ = limits
    levels = [key(rpm=10), team(rpm=1)]
    assert isinstance(await lim.reserve(levels, 1, Decimal(0)), TenantGrant)
    denied = await lim.reserve(levels, 1, Decimal(0))
    assert isinstance(denied, TenantDenied) and denied.scope == "team:search"
    # The refused request took nothing from the key: nine more fit under its own rpm.
    for _ in range(9):
        assert isinstance(await lim.reserve([key(rpm=10)], 1, Decimal(0)), TenantGrant)
    assert isinstance(await lim.reserve([key(rpm=10)], 1, Decimal(0)), TenantDenied)


async def test_a_monthly_budget_holds_across_days(limits: tuple[TenantLimits, Clock]) -> None:
    lim, clock = limits
    cap = [key(usd_month=Decimal("1.00"))]
    assert isinstance(await lim.reserve(cap, 1, Decimal("0.70")), TenantGrant)
    clock.now += 86_400  # the next day, the same month
    denied = await lim.reserve(cap, 1, Decimal("0.40"))
    assert isinstance(denied, TenantDenied) and denied.limit == "usd_month"


async def test_spent_reads_what_a_budget_has_counted(limits: tuple[TenantLimits, Clock]) -> None:
    lim, clock = limits
    cap = team(usd_day=Decimal("5"), usd_month=Decimal("50"))
    assert await lim.spent(cap) == (Decimal(0), Decimal(0))  # nothing counted yet
    grant = await lim.reserve([cap], 10, Decimal("0.40"))
    assert isinstance(grant, TenantGrant)
    assert await lim.spent(cap) == (Decimal("0.4"), Decimal("0.4"))  # held while it runs
    await lim.settle(grant, 10, Decimal("0.25"))
    clock.now += 86_400  # the next day: the day's count starts again, the month's goes on
    grant = await lim.reserve([cap], 10, Decimal("0.10"))
    assert isinstance(grant, TenantGrant)
    assert await lim.spent(cap) == (Decimal("0.1"), Decimal("0.35"))


def test_periods_name_the_utc_day_and_month() -> None:
    """Named from a small cache of days, as they were per call: across midnight and a month."""
    from gateway.state.tenant_limits import _day_names, _periods

    midnight = 1_767_225_600.0  # 2026-01-01 00:00:00 UTC
    assert _periods(midnight - 0.5)[1:3] == ("20251231", "202512")
    assert _periods(midnight)[1:3] == ("20260101", "202601")
    assert _periods(midnight + 59.25) == (int(midnight // 60), "20260101", "202601", 59.25)
    for day in range(100):  # many days: the cache stays small
        _periods(midnight + day * 86_400)
    assert _day_names.cache_info().currsize <= 4


async def test_memory_counters_stay_bounded_over_many_minutes_and_days() -> None:
    """One counter per scope, limit and period: old minutes and days are pruned, so a
    long-running process holds only the current periods of its active scopes."""
    from gateway.state.tenant_limits import PRUNE_AT

    clock = Clock()
    limits = MemoryTenantLimits(clock=clock)
    scopes = [Allowance(f"key:{i}", "search", rpm=10**9, usd_day=Decimal(10**6)) for i in range(50)]
    for step in range(1_000):  # 1,000 minutes (across a day boundary), 50 scopes each
        clock.now = NOW + step * 60.0
        for a in scopes:
            granted = await limits.reserve([a], 10, Decimal("0.001"))
            assert isinstance(granted, TenantGrant)
    current = 50 * 6  # per scope: rpm and tpm of this minute and the last, its day and month
    assert len(limits._count) <= PRUNE_AT + current
