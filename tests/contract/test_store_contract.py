"""One contract, every Store: memory and Redis (real server on 127.0.0.1:6379, per-test prefix)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from redis.asyncio import Redis, RedisCluster

from gateway.config.runtime import Deployment, ScopeLimit
from gateway.core.estimators import Outcome
from gateway.state.memory_store import MemoryStore
from gateway.state.quota import Denied, Grant, usable
from gateway.state.redis_store import RedisStore
from gateway.state.store import Store
from tests.factories import deployment
from tests.redis_servers import redis_cluster

REDIS_URL = "redis://127.0.0.1:6379/0"
WINDOW_MS = 1500  # a short sliding window, so the suite can watch it slide


def dep(
    model: str = "m",
    *,
    provider: str = "prov",
    p: ScopeLimit | None = None,
    m: ScopeLimit | None = None,
) -> Deployment:
    return deployment(provider, model, limits=(p or ScopeLimit("p"), m or ScopeLimit(f"m:{model}")))


async def redis_store(prefix: str) -> RedisStore:
    return RedisStore(Redis.from_url(REDIS_URL), prefix=prefix, refresh_s=0.05, window_ms=WINDOW_MS)


async def drop_prefix(prefix: str) -> None:
    client = Redis.from_url(REDIS_URL)
    keys = [k async for k in client.scan_iter(match=f"{prefix}*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


@pytest.fixture(scope="session")
def cluster_ports() -> Iterator[list[int]]:
    """A private 3-node Redis Cluster, for the whole session."""
    with redis_cluster(3) as ports:
        yield ports


@pytest.fixture(params=["memory", "redis", "cluster"])
async def make_store(request: pytest.FixtureRequest) -> AsyncIterator[object]:
    """make_store(*deployments) -> a started Store tracking them; all closed at teardown."""
    prefix = f"gwtest:{uuid.uuid4().hex[:10]}:"
    made: list[Store] = []

    async def make(*deps: Deployment) -> Store:
        store: Store
        if request.param == "memory":
            store = MemoryStore(refresh_s=0.05, window_ms=WINDOW_MS)
        elif request.param == "cluster":
            port = request.getfixturevalue("cluster_ports")[0]
            client = RedisCluster.from_url(f"redis://127.0.0.1:{port}/0")
            store = RedisStore(client, prefix=prefix, refresh_s=0.05, window_ms=WINDOW_MS)
        else:
            store = await redis_store(prefix)
        store.track(deps)
        await store.start()
        made.append(store)
        return store

    yield make
    for store in made:
        await store.close()
    if request.param == "redis":
        await drop_prefix(prefix)  # the private cluster goes away whole


def ok(outcome_dep: Deployment, latency_ms: float = 100.0) -> Outcome:
    return Outcome(
        outcome_dep.id, "ok", time.time(), latency_ms, ttft_ms=latency_ms / 2, completion_tokens=5
    )


async def test_rpm_is_enforced_and_slides(make_store) -> None:  # type: ignore[no-untyped-def]
    d = dep(p=ScopeLimit("p", rpm=3))
    store = await make_store(d)
    grants = [await store.reserve(d, 10) for _ in range(3)]
    assert all(isinstance(g, Grant) for g in grants)
    denied = await store.reserve(d, 10)
    assert isinstance(denied, Denied)
    assert (denied.limit, denied.scope) == ("rpm", "p")
    assert 0 < denied.retry_after_s <= WINDOW_MS / 1000
    await asyncio.sleep(WINDOW_MS / 1000 + 0.1)
    assert isinstance(await store.reserve(d, 10), Grant)  # the window slid


async def test_a_large_rpm_is_filled_to_its_safety_margin(make_store) -> None:  # type: ignore[no-untyped-def]
    d = dep(p=ScopeLimit("p", rpm=150))
    store = await make_store(d)
    grants = [await store.reserve(d, 1) for _ in range(150)]
    granted = sum(isinstance(g, Grant) for g in grants)
    assert granted == 150 - 3  # 2 % kept free: the vendor's window starts a little later
    assert usable(ScopeLimit("p", rpm=49, tpm=1000, max_concurrency=7)) == ScopeLimit(
        "p", rpm=49, tpm=980, max_concurrency=7
    )


async def test_tpm_reserves_estimates_and_settles_to_actual(make_store) -> None:  # type: ignore[no-untyped-def]
    d = dep(m=ScopeLimit("m:m", tpm=100))
    store = await make_store(d)
    first = await store.reserve(d, 60)
    assert isinstance(first, Grant)
    denied = await store.reserve(d, 60)
    assert isinstance(denied, Denied) and denied.limit == "tpm" and denied.scope == "m:m"
    await store.settle(first, ok(d), 10)  # it used far less than it reserved
    assert isinstance(await store.reserve(d, 60), Grant)


async def test_concurrency_slots_are_freed_by_settle(make_store) -> None:  # type: ignore[no-untyped-def]
    d = dep(m=ScopeLimit("m:m", max_concurrency=2))
    store = await make_store(d)
    a, b = await store.reserve(d, 1), await store.reserve(d, 1)
    assert isinstance(a, Grant) and isinstance(b, Grant)
    denied = await store.reserve(d, 1)
    assert isinstance(denied, Denied) and denied.limit == "max_concurrency"
    await store.settle(a, ok(d), 1)
    assert isinstance(await store.reserve(d, 1), Grant)


async def test_provider_and_model_limits_are_separate_scopes(make_store) -> None:  # type: ignore[no-untyped-def]
    provider_limit = ScopeLimit("p", rpm=3)
    a = dep("a", p=provider_limit, m=ScopeLimit("m:a", rpm=1))
    b = dep("b", p=provider_limit)
    store = await make_store(a, b)
    assert isinstance(await store.reserve(a, 1), Grant)
    denied_a = await store.reserve(a, 1)
    assert isinstance(denied_a, Denied) and denied_a.scope == "m:a"
    assert isinstance(await store.reserve(b, 1), Grant)
    assert isinstance(await store.reserve(b, 1), Grant)
    denied_b = await store.reserve(b, 1)
    assert isinstance(denied_b, Denied) and denied_b.scope == "p"  # the provider's 3 are used


async def test_snapshot_shows_estimates_headroom_and_in_flight(make_store) -> None:  # type: ignore[no-untyped-def]
    d = dep(p=ScopeLimit("p", rpm=4))
    store = await make_store(d)
    g1, g2 = await store.reserve(d, 1), await store.reserve(d, 1)
    assert isinstance(g1, Grant) and isinstance(g2, Grant)
    await store.settle(g1, ok(d, latency_ms=200.0), 1)
    await asyncio.sleep(0.2)  # a few background refreshes
    est = store.snapshot()[d.id]
    assert est.ttft_ms == 100.0
    assert est.in_flight == 1
    assert est.quota_headroom == pytest.approx(0.5)
