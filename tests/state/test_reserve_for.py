"""The caller's reservation and the deployment's together (Store.reserve_for): one write to
Redis on the latency path, every store the same answers, and a caller refused holds no slot."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from redis.asyncio import Redis

from gateway.config.runtime import ScopeLimit
from gateway.core.caller import Allowance
from gateway.core.estimators import Outcome
from gateway.state.quota import Denied, Grant
from gateway.state.redis_store import RedisStore
from gateway.state.scripts import PipeRunner
from gateway.state.tenant_limits import TenantDenied, TenantGrant
from tests.contract.test_store_contract import (  # noqa: F401  (cluster_ports: a fixture)
    REDIS_URL,
    cluster_ports,
    dep,
    drop_prefix,
)
from tests.contract.test_store_contract import make_store as make_store  # (a fixture)

TEAM = Allowance("team:t", "t", rpm=1, usd_day=Decimal(100))


@pytest.fixture
async def store() -> AsyncIterator[RedisStore]:
    prefix = f"gwtest:{uuid.uuid4().hex[:10]}:"
    s = RedisStore(Redis.from_url(REDIS_URL), prefix=prefix, refresh_s=3600)
    yield s
    await s.close()
    await drop_prefix(prefix)


async def test_both_reservations_go_out_in_one_write(store: RedisStore) -> None:
    d = dep(p=ScopeLimit("p", rpm=10))
    runner = store.scripts
    assert isinstance(runner, PipeRunner)
    team = Allowance("team:t", "t", rpm=5)  # (no budget: no ledger seeding first)
    await store.reserve(d, 1)  # connected
    before = runner.pipe.writes
    allowed, grant = await store.reserve_for(
        store.tenant_limits().reserve([team], 10, Decimal(0)), d, 10
    )
    assert isinstance(allowed, TenantGrant) and isinstance(grant, Grant)
    assert runner.pipe.writes - before == 1


async def test_a_refused_caller_holds_no_slot(make_store) -> None:  # type: ignore[no-untyped-def]
    d = dep(p=ScopeLimit("p", rpm=100, max_concurrency=200))
    store = await make_store(d)
    tenants = store.tenant_limits()
    allowed, grant = await store.reserve_for(tenants.reserve([TEAM], 10, Decimal(0)), d, 10)
    assert isinstance(allowed, TenantGrant) and isinstance(grant, Grant)
    refused, none = await store.reserve_for(tenants.reserve([TEAM], 10, Decimal(0)), d, 10)
    assert isinstance(refused, TenantDenied) and refused.limit == "rpm" and none is None
    await asyncio.sleep(0.3)  # (Redis: given back in the background; the view refreshed)
    view = store.snapshot()[d.id]
    assert view.in_flight == 1  # the first request's slot only
    assert view.quota_headroom == pytest.approx(1 - 1 / 98)  # one request in the window


async def test_a_refused_callers_slot_is_given_back_in_redis(store: RedisStore) -> None:
    d = dep(p=ScopeLimit("p", rpm=3), m=ScopeLimit("m:m", tpm=1000, max_concurrency=1))
    store.track([d])
    tenants = store.tenant_limits()
    first = await store.reserve_for(tenants.reserve([TEAM], 10, Decimal(0)), d, 400)
    assert isinstance(first[1], Grant)
    refused = await store.reserve_for(tenants.reserve([TEAM], 10, Decimal(0)), d, 400)
    assert isinstance(refused[0], TenantDenied)
    client = store.client
    base = f"{store.prefix}{{prov}}"
    for _ in range(50):  # the slot the refused caller took is given back off its path
        if await client.zcard(f"{base}:c:m:m") == 1:
            break
        await asyncio.sleep(0.02)
    assert await client.zcard(f"{base}:c:m:m") == 1  # the first request's lease only
    assert await client.zcard(f"{base}:w:p") == 1  # no trace in the rpm window
    assert await client.get(f"{base}:t:m:m") == b"400"  # nor in the token count
    # The deployment itself was free: the refusal was the caller's, and nothing else is held.
    after = await store.reserve(d, 400)
    assert isinstance(after, Denied) and after.limit == "max_concurrency"
    await store.settle(first[1], _outcome(d.id), 400)
    assert isinstance(await store.reserve(d, 400), Grant)


def _outcome(dep_id: str) -> Outcome:
    return Outcome(dep_id, "ok", time.time(), 100.0, ttft_ms=50.0, completion_tokens=5)


async def test_a_client_that_leaves_meanwhile_holds_no_slot(store: RedisStore) -> None:
    d = dep(m=ScopeLimit("m:m", max_concurrency=1))
    never: asyncio.Future[TenantGrant] = asyncio.get_running_loop().create_future()
    waiting = asyncio.create_task(store.reserve_for(never, d, 10))
    await asyncio.sleep(0.1)  # the deployment's reservation is out, the caller's never answers
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    leases = f"{store.prefix}{{prov}}:c:m:m"
    for _ in range(50):
        if await store.client.zcard(leases) == 0:
            break
        await asyncio.sleep(0.02)
    assert await store.client.zcard(leases) == 0
    assert isinstance(await store.reserve(d, 10), Grant)
