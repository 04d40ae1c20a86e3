"""Pool load and prefix affinity shared between gateways through the real Redis.

Two PoolUpstreams stand for two gateway replicas; their replicas' HTTP is respx-mocked.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator

import httpx
import orjson
import pytest
import respx
from redis.asyncio import Redis

from gateway.config.runtime import PoolReplica
from gateway.core.operation import Operation
from gateway.core.pool_sharing import PeerLoad
from gateway.errors import UpstreamStatusError
from gateway.state.pool_share import FORGET_S, RedisPoolShare
from gateway.upstream.base import Call
from gateway.upstream.pool import PoolUpstream
from tests import factories
from tests.contract.test_store_contract import REDIS_URL, drop_prefix

REPLICAS = ("http://r0.test/v1", "http://r1.test/v1")
ANSWER = {
    "id": "x",
    "object": "chat.completion",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}}],
    "usage": {"prompt_tokens": 5, "completion_tokens": 1},
}


def pool_upstream(max_batch: int) -> PoolUpstream:
    # engine: openai has no metrics: the gateways' in-flight is the whole load
    replicas = tuple(PoolReplica(u, u.removesuffix("/v1") + "/metrics") for u in REPLICAS)
    return factories.pool_upstream(replicas=replicas, max_batch=max_batch)


def call(prompt: str = "hi") -> Call:
    return Call(
        Operation.CHAT, "m", {"messages": [{"role": "user", "content": prompt}]}, False, False, "r"
    )


@pytest.fixture
async def prefix() -> AsyncIterator[str]:
    p = f"gwtest:{uuid.uuid4().hex[:10]}:"
    yield p
    await drop_prefix(p)


def share(prefix: str) -> RedisPoolShare:
    return RedisPoolShare(Redis.from_url(REDIS_URL), prefix=prefix, gateway_id=uuid.uuid4().hex)


async def test_each_gateway_counts_the_others_in_flight_requests(prefix: str) -> None:
    a, b = pool_upstream(max_batch=1), pool_upstream(max_batch=1)  # one request per replica
    share_a, share_b = share(prefix), share(prefix)
    release = asyncio.Event()
    hosts: list[str] = []
    arrived = [asyncio.Event(), asyncio.Event()]

    async def held(request: httpx.Request) -> httpx.Response:
        hosts.append(request.url.host)
        arrived[len(hosts) - 1].set()
        await release.wait()
        return httpx.Response(200, json=ANSWER)

    with respx.mock:
        respx.post(url__regex=r"http://r\d\.test/v1/chat/completions").mock(side_effect=held)
        first = asyncio.create_task(a.complete(call()))  # gateway A: one replica now full
        await arrived[0].wait()
        await share_a.exchange({"pool": a})
        await share_b.exchange({"pool": b})
        seen = {
            r.url: s.in_flight for r, s in zip(b.replicas, b.states(time.monotonic()), strict=True)
        }
        assert seen == {f"http://{hosts[0]}/v1": 1, f"http://{_other(hosts[0])}/v1": 0}
        second = asyncio.create_task(b.complete(call()))  # B goes to the replica A left free
        await arrived[1].wait()
        assert hosts[1] == _other(hosts[0])
        with pytest.raises(UpstreamStatusError) as full:  # B knows both are at their limit
            await b.complete(call())
        assert full.value.upstream_status == 429
        release.set()
        await asyncio.gather(first, second)
    await share_a.exchange({"pool": a})
    await share_b.exchange({"pool": b})
    assert [s.in_flight for s in b.states(time.monotonic())] == [0, 0]
    for s in (share_a, share_b):
        await s.close({"pool": a})
        await s.client.aclose()
    await asyncio.gather(a.aclose(), b.aclose())


async def test_a_prefix_sent_by_one_gateway_lands_on_the_same_replica_from_another(
    prefix: str,
) -> None:
    a, b, alone = pool_upstream(4), pool_upstream(4), pool_upstream(4)
    share_a, share_b = share(prefix), share(prefix)
    prompts = [f"system prompt {i}: " + "x" * 1100 for i in range(8)]
    with respx.mock:
        route = respx.post(url__regex=r"http://r\d\.test/v1/chat/completions").respond(
            200, json=ANSWER
        )
        for p in prompts:
            await a.complete(call(p))
        first = [c.request.url.host for c in route.calls]
        await share_a.exchange({"pool": a})
        await share_b.exchange({"pool": b})  # B reads what A decided
        for p in prompts:
            await b.complete(call(p))
            await alone.complete(call(p))
        calls = [c.request.url.host for c in route.calls][len(prompts) :]
    assert calls[0::2] == first  # B sent each prefix where A had it cached
    assert b.affinity_hits == len(prompts)
    assert alone.affinity_hits == 0  # a gateway that shares nothing knows none of them
    for s in (share_a, share_b):
        await s.client.aclose()
    await asyncio.gather(a.aclose(), b.aclose(), alone.aclose())


async def test_a_gone_gateway_stops_counting_and_is_forgotten(prefix: str) -> None:
    b, share_b = pool_upstream(4), share(prefix)
    key = f"{prefix}{{pool}}:load"
    now = time.time()
    client = share_b.client
    recent = {"at": now, "r": {REPLICAS[0]: [3, 900, [now - 1, now - 1, now]]}}
    await client.hset(key, "recent", orjson.dumps(recent))
    await client.hset(key, "quiet", orjson.dumps({"at": now - 5, "r": {REPLICAS[0]: [7, 0, []]}}))
    gone = {"at": now - FORGET_S - 1, "r": {REPLICAS[1]: [9, 0, []]}}
    await client.hset(key, "gone", orjson.dumps(gone))
    other_version = {"at": now, "r": {REPLICAS[1]: [5, 0]}}  # skipped, never fatal
    await client.hset(key, "other-version", orjson.dumps(other_version))
    await client.hset(key, "garbage", b"not json")
    await share_b.exchange({"pool": b})
    states = b.states(time.monotonic())
    assert [s.in_flight for s in states] == [3, 0]  # only the recent gateway counts
    assert states[0].fresh_prefill_tokens == 900
    await share_b.exchange({"pool": b})
    fields = {f.decode() if isinstance(f, bytes) else f for f in await client.hkeys(key)}
    assert "gone" not in fields and {"recent", "quiet", share_b.gateway_id} <= fields
    await client.aclose()
    await b.aclose()


async def test_redis_down_forgets_the_others_and_warns_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    b = pool_upstream(4)
    b.set_peer_load({REPLICAS[0]: PeerLoad(3, 0, [])})
    dead = RedisPoolShare(
        Redis.from_url("redis://127.0.0.1:1", socket_connect_timeout=0.2),
        prefix="gwtest:",
        gateway_id="g",
    )
    with caplog.at_level(logging.WARNING, logger="gateway.pool"):
        await dead.exchange({"pool": b})
        await dead.exchange({"pool": b})
    assert [s.in_flight for s in b.states(time.monotonic())] == [0, 0]
    assert sum("cannot be shared through Redis" in r.message for r in caplog.records) == 1
    await dead.client.aclose()
    await b.aclose()


def _other(host: str) -> str:
    return "r1.test" if host == "r0.test" else "r0.test"


async def test_a_replicas_safety_limit_holds_across_gateways_without_waiting_for_an_exchange(
    prefix: str,
) -> None:
    a, b = pool_upstream(max_batch=1), pool_upstream(max_batch=1)  # one request per replica
    a.slots, b.slots = share(prefix), share(prefix)
    release = asyncio.Event()
    arrived = asyncio.Semaphore(0)
    sent: list[str] = []

    async def held(request: httpx.Request) -> httpx.Response:
        sent.append(request.url.host)
        arrived.release()
        await release.wait()
        return httpx.Response(200, json=ANSWER)

    with respx.mock:
        respx.post(url__regex=r"http://r\d\.test/v1/chat/completions").mock(side_effect=held)
        first = [asyncio.create_task(a.complete(call())) for _ in range(2)]  # A fills both
        for _ in first:
            await arrived.acquire()
        with pytest.raises(UpstreamStatusError) as full:  # B has heard nothing from A yet
            await b.complete(call())
        assert full.value.upstream_status == 429
        assert sorted(sent) == ["r0.test", "r1.test"]  # B never sent it
        release.set()
        await asyncio.gather(*first)
        await asyncio.sleep(0.05)  # slots are freed just after the replies
        b.set_peer_load({})  # what the next exchange would say
        assert (await b.complete(call())).usage is not None  # a freed slot is B's now
    for p in (a, b):
        assert isinstance(p.slots, RedisPoolShare)
        await p.slots.client.aclose()
        await p.aclose()
