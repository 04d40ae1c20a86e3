"""Keys' and teams' limits across replicas: requests and tokens per sliding minute, USD per UTC
day and month. One reserve before a request is sent (its expected tokens and cost, at every
level of the caller together: all or nothing), one settle after (the real tokens and cost).

Two implementations, one contract: in memory (one process) and Redis (every replica; one Lua
script per reserve and per settle, the caller's keys hash-tagged by team so the script runs on
Redis Cluster too; the reserve is sent when asked, before it is awaited, so the deployment's
reservation can go out in the same write: RedisStore.reserve_for). Windows are two-bucket
approximations of a sliding minute.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

from gateway.core.caller import Allowance
from gateway.state.scripts import ScriptRunner, lua, runner_for

if TYPE_CHECKING:  # redis is imported only by a gateway that uses it (start-up time)
    from redis.asyncio import Redis, RedisCluster

log = logging.getLogger("gateway.tenancy")
PRUNE_AT = 10_000
MICRO = Decimal(1_000_000)  # budgets are counted in micro-dollars (integers in Redis)
_RESERVE, _SETTLE = lua("tenant_reserve"), lua("tenant_settle")


@dataclass(frozen=True, slots=True)
class TenantGrant:
    allowances: tuple[Allowance, ...]
    tokens: int
    micro_usd: int
    minute: int  # the minute bucket counted
    day: str
    month: str


@dataclass(frozen=True, slots=True)
class TenantDenied:
    scope: str
    limit: str  # "rpm", "tpm", "usd_day" or "usd_month"
    retry_after_s: float

    @property
    def budget(self) -> bool:
        return self.limit.startswith("usd")


# What the ledger says a key or team spent so far this UTC day and this month, in USD: the
# budgets' counters are rebuilt from it when they are missing (Redis flushed or restarted).
Seeder = Callable[[Allowance, float], Awaitable[tuple[Decimal, Decimal]]]


class TenantLimits(Protocol):
    seeder: Seeder | None  # the ledger's spend, to rebuild a budget's missing counter

    async def reserve(
        self, allowances: Sequence[Allowance], tokens: int, usd: Decimal
    ) -> TenantGrant | TenantDenied: ...

    async def settle(self, grant: TenantGrant, tokens: int, usd: Decimal) -> None: ...

    async def spent(self, allowance: Allowance) -> tuple[Decimal, Decimal]:
        """USD counted against a budget this UTC day and month (for /metrics)."""
        ...


def _periods(now: float) -> tuple[int, str, str, float]:
    """(minute bucket, day, month, seconds into the minute)."""
    day, month = _day_names(int(now // DAY_S))
    return int(now // 60), day, month, now % 60


DAY_S = 86_400  # a UTC day in Unix time (which has no leap seconds)


@functools.lru_cache(maxsize=4)
def _day_names(day_number: int) -> tuple[str, str]:
    """("YYYYMMDD", "YYYYMM") of a UTC day: named once a day, not per request (a datetime and
    two strftime calls were a third of an in-memory reservation)."""
    moment = datetime.fromtimestamp(day_number * DAY_S, UTC)
    return moment.strftime("%Y%m%d"), moment.strftime("%Y%m")


def _retry(limit: str, now: float) -> float:
    if limit in ("rpm", "tpm"):
        return max(1.0, 60 - now % 60)
    moment = datetime.fromtimestamp(now, UTC)
    if limit == "usd_day":
        tomorrow = (moment + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
        return (tomorrow - moment).total_seconds()
    first = (moment.replace(day=28) + timedelta(days=4)).replace(
        day=1, hour=0, minute=0, second=0, microsecond=0
    )
    return (first - moment).total_seconds()


def _micro(usd: Decimal) -> int:
    return int((usd * MICRO).to_integral_value())


class MemoryTenantLimits:
    """One process: counters in dicts, the same two-bucket minute as Redis."""

    def __init__(self, clock: Any = time.time) -> None:
        self._clock = clock
        self._count: dict[tuple[str, str, int | str], int] = {}
        self.seeder: Seeder | None = None  # (a restart loses the counters: rebuilt from it)

    async def reserve(
        self, allowances: Sequence[Allowance], tokens: int, usd: Decimal
    ) -> TenantGrant | TenantDenied:
        now = self._clock()
        minute, day, month, into = _periods(now)
        sliding = ((minute, 1.0), (minute - 1, 1 - into / 60))
        micro = _micro(usd)
        for a in allowances:
            await self._seed(a, day, month, now)
            for limit, cap, add, periods in _checks(a, tokens, micro, sliding, day, month):
                used = sum(self._count.get((a.scope, limit, p), 0) * w for p, w in periods)
                if used + add > cap:
                    return TenantDenied(a.scope, limit, _retry(limit, now))
        grant = TenantGrant(tuple(allowances), tokens, micro, minute, day, month)
        self._add(grant, 1, tokens, micro)
        if len(self._count) > PRUNE_AT:  # old minutes and days are never read again
            keep = {minute, minute - 1, day, month}
            self._count = {k: v for k, v in self._count.items() if k[2] in keep}
        return grant

    async def settle(self, grant: TenantGrant, tokens: int, usd: Decimal) -> None:
        self._add(grant, 0, tokens - grant.tokens, _micro(usd) - grant.micro_usd)

    async def spent(self, allowance: Allowance) -> tuple[Decimal, Decimal]:
        now = self._clock()
        _, day, month, _ = _periods(now)
        await self._seed(allowance, day, month, now)
        scope = allowance.scope
        used = (
            self._count.get((scope, "usd_day", day), 0),
            self._count.get((scope, "usd_month", month), 0),
        )
        return used[0] / MICRO, used[1] / MICRO

    async def _seed(self, a: Allowance, day: str, month: str, now: float) -> None:
        if a.usd_day is None and a.usd_month is None:
            return
        if (a.scope, "usd_day", day) in self._count and (
            a.scope,
            "usd_month",
            month,
        ) in self._count:
            return
        spent_day, spent_month = Decimal(0), Decimal(0)
        if self.seeder is not None:
            try:
                spent_day, spent_month = await self.seeder(a, now)
            except Exception as exc:  # the ledger unreachable: count from 0, say so
                log.warning("budget of %s not rebuilt from the ledger: %s", a.scope, exc)
        self._count.setdefault((a.scope, "usd_day", day), _micro(spent_day))
        self._count.setdefault((a.scope, "usd_month", month), _micro(spent_month))

    def _add(self, grant: TenantGrant, requests: int, tokens: int, micro: int) -> None:
        for a in grant.allowances:
            for limit, key, value in (
                ("rpm", grant.minute, requests),
                ("tpm", grant.minute, tokens),
                ("usd_day", grant.day, micro),
                ("usd_month", grant.month, micro),
            ):
                slot = (a.scope, limit, key)
                self._count[slot] = self._count.get(slot, 0) + value


Periods = tuple[tuple[int | str, float], ...]  # (bucket, weight) a limit is counted over


def _checks(
    a: Allowance, tokens: int, micro: int, sliding: Periods, day: str, month: str
) -> list[tuple[str, float, int, Periods]]:
    """(limit, cap, what this request adds, the periods it is counted over with weights) of
    each limit the allowance sets (a limit it does not set is not summed at all)."""
    out: list[tuple[str, float, int, Periods]] = []
    if a.rpm is not None:
        out.append(("rpm", a.rpm, 1, sliding))
    if a.tpm is not None:
        out.append(("tpm", a.tpm, tokens, sliding))
    if a.usd_day is not None:
        out.append(("usd_day", _micro(a.usd_day), micro, ((day, 1.0),)))
    if a.usd_month is not None:
        out.append(("usd_month", _micro(a.usd_month), micro, ((month, 1.0),)))
    return out


class RedisTenantLimits:
    """Every replica: one EVALSHA to reserve at every level together, one to settle. Redis
    unreachable: requests go on unchecked (one warning), or with `fail_closed` are refused."""

    def __init__(
        self,
        client: Redis | RedisCluster,
        *,
        prefix: str,
        clock: Any = time.time,
        fail_closed: bool = False,
        seeder: Seeder | None = None,
        runner: ScriptRunner | None = None,  # the store's (one pipeline for all its scripts)
    ) -> None:
        from redis.exceptions import RedisError

        self._errors = (RedisError, OSError)  # what "Redis unreachable" is
        self._client = client
        self._prefix = prefix
        self._clock = clock
        self._fail_closed = fail_closed
        self.seeder = seeder  # set by the app once the ledger is open; None: start from 0
        self._down = False
        self._scripts = runner if runner is not None else runner_for(client)
        self._own_runner = runner is None

    def _keys(
        self, grant_or: tuple[Allowance, ...], minute: int, day: str, month: str
    ) -> list[str]:
        keys = []
        for a in grant_or:
            base = f"{self._prefix}{{tenant:{a.team}}}:{a.scope}"
            keys += [
                f"{base}:r:{minute}",
                f"{base}:r:{minute - 1}",
                f"{base}:t:{minute}",
                f"{base}:t:{minute - 1}",
                f"{base}:d:{day}",
                f"{base}:m:{month}",
            ]
        return keys

    def reserve(
        self, allowances: Sequence[Allowance], tokens: int, usd: Decimal
    ) -> Coroutine[Any, Any, TenantGrant | TenantDenied]:
        """Sent now, answered when awaited."""
        now = self._clock()
        minute, day, month, into = _periods(now)
        micro = _micro(usd)
        args: list[Any] = [tokens, micro, f"{1 - into / 60:.6f}"]
        for a in allowances:
            args += [_cap(a.rpm), _cap(a.tpm), _cap_usd(a.usd_day), _cap_usd(a.usd_month)]
        keys = self._keys(tuple(allowances), minute, day, month)
        grant = TenantGrant(tuple(allowances), tokens, micro, minute, day, month)
        return self._answer(self._scripts.run(_RESERVE, keys, args), grant, keys, args, now)

    async def _answer(
        self, sent: Awaitable[Any], grant: TenantGrant, keys: list[str], args: list[Any], now: float
    ) -> TenantGrant | TenantDenied:
        allowances = grant.allowances
        try:
            result = await sent
            if int(result[0]) == 2:  # a budget's counter is missing: rebuilt, then asked again
                await self._seed(allowances[int(result[1])], keys, int(result[1]), now)
                result = await self._scripts.run(_RESERVE, keys, args)
        except self._errors as exc:
            if not self._down:
                what = "refusing requests" if self._fail_closed else "not enforced"
                log.warning("Redis unreachable for keys' limits (%s): %s", type(exc).__name__, what)
            self._down = True
            if self._fail_closed:
                return TenantDenied(allowances[0].scope, "unavailable", 1.0)
            return replace(grant, allowances=())  # unchecked: nothing to settle
        self._down = False
        if int(result[0]) == 0:
            index, limit = int(result[1]), _LIMITS[int(result[2])]
            return TenantDenied(allowances[index].scope, limit, _retry(limit, now))
        return grant

    async def close(self) -> None:
        """Close the connection it opened (none when it shares its store's)."""
        if self._own_runner:
            await self._scripts.close()

    async def _seed(self, allowance: Allowance, keys: list[str], index: int, now: float) -> None:
        """The day's and month's counters from the ledger (0 without one); SET NX, so a replica
        that seeded first, or a reservation meanwhile, is never overwritten."""
        spent_day, spent_month = Decimal(0), Decimal(0)
        if self.seeder is not None:
            try:
                spent_day, spent_month = await self.seeder(allowance, now)
            except Exception as exc:  # the ledger unreachable: count from 0, say so
                log.warning("budget of %s not rebuilt from the ledger: %s", allowance.scope, exc)
        base = index * 6
        pipe = self._client.pipeline(transaction=False)
        pipe.set(keys[base + 4], _micro(spent_day), nx=True, ex=172_800)
        pipe.set(keys[base + 5], _micro(spent_month), nx=True, ex=2_764_800)
        await pipe.execute()
        if spent_day or spent_month:
            log.info("budget of %s rebuilt from the ledger", allowance.scope)

    async def spent(self, allowance: Allowance) -> tuple[Decimal, Decimal]:
        now = self._clock()
        minute, day, month, _ = _periods(now)
        keys = self._keys((allowance,), minute, day, month)
        values = await self._client.mget(keys[4:6])
        if None in values:  # not counted yet (or Redis was flushed): rebuilt from the ledger
            await self._seed(allowance, keys, 0, now)
            values = await self._client.mget(keys[4:6])
        day_micro, month_micro = (int(v or 0) for v in values)
        return Decimal(day_micro) / MICRO, Decimal(month_micro) / MICRO

    async def settle(self, grant: TenantGrant, tokens: int, usd: Decimal) -> None:
        if not grant.allowances:
            return
        keys = self._keys(grant.allowances, grant.minute, grant.day, grant.month)
        with contextlib.suppress(*self._errors):  # (the reservation expires with its window)
            await self._scripts.run(
                _SETTLE, keys, [tokens - grant.tokens, _micro(usd) - grant.micro_usd]
            )


_LIMITS = ("rpm", "tpm", "usd_day", "usd_month")


def _cap(value: int | None) -> int:
    return -1 if value is None else value


def _cap_usd(value: Decimal | None) -> int:
    return -1 if value is None else _micro(value)
