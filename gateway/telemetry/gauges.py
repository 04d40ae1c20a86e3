"""The point-in-time gauges, set from live state when /metrics is scraped (and, with several
workers, every few seconds by each worker, so the sum of their files stays current): quota
headroom, circuit state and in-flight per deployment, teams' budgets left, the ledger's backlog,
and whether Redis and the database answer."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from gateway.core.caller import Allowance
from gateway.core.circuit import half_open, is_open
from gateway.core.estimators import to_stats
from gateway.state.store import Store
from gateway.telemetry.families import Metrics

log = logging.getLogger("gateway")
REFRESH_S = 2.0  # with several workers: how stale another worker's own gauges may be


@runtime_checkable
class Backlog(Protocol):
    def backlog(self) -> tuple[int, int, bool]: ...


class Budgets(Protocol):
    def budgets(self) -> list[Allowance]: ...


@dataclass(frozen=True, slots=True)
class LiveState:
    """Where the gauges read from."""

    store: Store
    ledger: object  # its backlog is read when it has one (the LedgerWriter)
    budgets: Budgets | None = None  # the key directory, when auth is on
    clock: Callable[[], float] = time.time


async def refresh(metrics: Metrics, live: LiveState) -> None:
    now = live.clock()
    snapshot = live.store.snapshot()
    for dep_id, est in snapshot.items():
        stats = to_stats(est, now)
        metrics.headroom.labels(dep_id).set(min(max(stats.headroom, 0.0), 1.0))
        state = 2 if is_open(est.breaker, now) else 1 if half_open(est.breaker, now) else 0
        metrics.circuit.labels(dep_id).set(state)
        metrics.in_flight.labels(dep_id).set(est.in_flight)
    _forget(metrics, set(snapshot))
    metrics.redis_up.set(_redis_up(live.store))
    if isinstance(live.ledger, Backlog):
        queued, spooled, up = live.ledger.backlog()
        metrics.ledger_queue.set(queued)
        metrics.ledger_spooled.set(spooled)
        metrics.database_up.set(1 if up else 0)
    if live.budgets is not None:
        await _budgets(metrics, live, live.budgets.budgets())


def _forget(metrics: Metrics, current: set[str]) -> None:
    """A deployment a reload removed leaves the per-deployment gauges (no ghost on dashboards)."""
    for dep_id in metrics.live_deployments - current:
        for gauge in (metrics.headroom, metrics.circuit, metrics.in_flight):
            with contextlib.suppress(KeyError):
                gauge.remove(dep_id)
    metrics.live_deployments = current


def _redis_up(store: Store) -> float:
    """1 when Redis answers, 0 when it does not; -1 without Redis (in-process state)."""
    health = store.health()
    if health.get("backend") != "redis":
        return -1.0
    return 1.0 if health.get("ok") else 0.0


async def _budgets(metrics: Metrics, live: LiveState, teams: Sequence[Allowance]) -> None:
    limits = live.store.tenant_limits()
    for team in teams:
        try:
            day, month = await limits.spent(team)
        except Exception as exc:  # Redis away: the gauge keeps its last value, /metrics answers
            log.debug("budget of %s not read: %s", team.scope, exc)
            continue
        if team.usd_day is not None:
            metrics.budget.labels(team.team, "day").set(float(team.usd_day - day))
        if team.usd_month is not None:
            metrics.budget.labels(team.team, "month").set(float(team.usd_month - month))


async def refresh_loop(metrics: Metrics, live: LiveState, interval_s: float = REFRESH_S) -> None:
    """Keep this worker's gauge files current (several workers: any one may be scraped)."""
    while True:
        with contextlib.suppress(Exception):  # a bad read must not end the loop
            await refresh(metrics, live)
        await asyncio.sleep(interval_s)
