"""The scrape-time gauges, from a live-state snapshot: circuit states, headroom (ours or the
vendor's word, within 0..1), in-flight, and Redis health."""

from __future__ import annotations

from collections.abc import Mapping
from typing import cast

from prometheus_client import generate_latest

from gateway.core.circuit import Breaker
from gateway.core.estimators import Estimate
from gateway.state.store import Store
from gateway.state.tenant_limits import MemoryTenantLimits, TenantLimits
from gateway.telemetry import families as f
from gateway.telemetry.families import Metrics
from gateway.telemetry.gauges import LiveState, refresh
from tests.telemetry.scrape import Scrape

NOW = 1_000_000.0
SNAPSHOT = {
    "a/closed": Estimate(in_flight=4, quota_headroom=0.75),
    "b/open": Estimate(breaker=Breaker(streak=5, open_until=NOW + 5, opens=1)),
    "c/half-open": Estimate(breaker=Breaker(streak=5, open_until=NOW - 1, opens=1)),
    "d/overdrawn": Estimate(quota_headroom=-0.2),
    "e/vendor-says": Estimate(quota_headroom=0.9, hint_headroom=0.3, hint_at=NOW - 1),
}


class _Store:
    def __init__(self, health: Mapping[str, object]) -> None:
        self._health = health
        self.estimates: Mapping[str, Estimate] = SNAPSHOT

    def snapshot(self) -> Mapping[str, Estimate]:
        return self.estimates

    def health(self) -> Mapping[str, object]:
        return self._health

    def tenant_limits(self) -> TenantLimits:
        return MemoryTenantLimits()


async def _scrape(health: Mapping[str, object]) -> Scrape:
    metrics = Metrics()
    live = LiveState(cast(Store, _Store(health)), ledger=None, clock=lambda: NOW)
    await refresh(metrics, live)
    return Scrape(generate_latest(metrics.registry).decode())


async def test_live_state_becomes_gauges() -> None:
    m = await _scrape({"backend": "redis", "ok": True})
    circuit = {dep: m.value(f.CIRCUIT_STATE, deployment=dep) for dep in SNAPSHOT}
    assert circuit == {
        "a/closed": 0,
        "b/open": 2,
        "c/half-open": 1,
        "d/overdrawn": 0,
        "e/vendor-says": 0,
    }
    headroom = {dep: m.value(f.QUOTA_HEADROOM, deployment=dep) for dep in SNAPSHOT}
    assert headroom["a/closed"] == 0.75
    assert headroom["d/overdrawn"] == 0.0  # clamped: a ratio of the limit left
    assert headroom["e/vendor-says"] == 0.3  # the vendor's own word, still fresh
    assert m.value(f.IN_FLIGHT, deployment="a/closed") == 4
    assert m.value(f.REDIS_UP) == 1


async def test_redis_health_is_up_down_or_absent() -> None:
    assert (await _scrape({"backend": "redis", "ok": False})).value(f.REDIS_UP) == 0
    assert (await _scrape({"backend": "memory", "ok": True})).value(f.REDIS_UP) == -1


async def test_a_deployment_removed_by_a_reload_leaves_the_gauges() -> None:
    metrics, store = Metrics(), _Store({"backend": "memory"})
    live = LiveState(cast(Store, store), ledger=None, clock=lambda: NOW)
    await refresh(metrics, live)
    store.estimates = {"a/closed": SNAPSHOT["a/closed"]}  # the others were removed
    await refresh(metrics, live)
    m = Scrape(generate_latest(metrics.registry).decode())
    for family in (f.CIRCUIT_STATE, f.QUOTA_HEADROOM, f.IN_FLIGHT):
        assert {dict(k)["deployment"] for k in _labels(m, family)} == {"a/closed"}


def _labels(m: Scrape, name: str) -> list[tuple[tuple[str, str], ...]]:
    return [tuple(sorted(s.labels.items())) for s in m.samples if s.name == name]
