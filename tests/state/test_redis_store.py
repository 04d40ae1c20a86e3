"""Redis-only promises: one quota across replicas, shared estimates, round trips, outages."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from redis.asyncio import Connection, ConnectionPool, Redis

from gateway.config.runtime import ScopeLimit
from gateway.core.estimators import Outcome
from gateway.sim import VendorSpec
from gateway.state.quota import Grant
from gateway.state.redis_store import RedisStore
from gateway.state.resp_pipe import RespPipe
from gateway.state.scripts import PipeRunner, lua
from tests.conftest import FleetFactory
from tests.contract.test_store_contract import REDIS_URL, dep, drop_prefix
from tests.redis_servers import private_redis, start_redis, stop

FAST = VendorSpec(models=["m"], ttft_ms=1, tokens_per_s=5000, output_tokens=4)
MSG = [{"role": "user", "content": "hi"}]


@pytest.fixture
async def prefix() -> AsyncIterator[str]:
    p = f"gwtest:{uuid.uuid4().hex[:10]}:"
    yield p
    await drop_prefix(p)


async def test_two_replicas_share_one_quota_and_their_estimates(prefix: str) -> None:
    d = dep(p=ScopeLimit("p", rpm=4))
    a = RedisStore(Redis.from_url(REDIS_URL), prefix=prefix, refresh_s=0.05)
    b = RedisStore(Redis.from_url(REDIS_URL), prefix=prefix, refresh_s=0.05)
    for s in (a, b):
        s.track([d])
        await s.start()
    try:
        results = [await s.reserve(d, 1) for s in (a, b, a, b, a, b)]
        assert [isinstance(r, Grant) for r in results] == [True] * 4 + [False] * 2
        grant = results[0]
        assert isinstance(grant, Grant)
        await a.settle(grant, Outcome(d.id, "ok", time.time(), 300.0, 120.0, 5), 5)
        await asyncio.sleep(0.3)
        seen_by_b = b.snapshot()[d.id]
        assert seen_by_b.ttft_ms == 120.0  # a's measurement, merged into b's view
        assert seen_by_b.in_flight == 3
        assert b.health()["replicas"] == 2
    finally:
        await a.close()
        await b.close()


class CountingConnection(Connection):
    """Counts every write to the socket (one per command or per pipeline), except a new
    connection's handshake (HELLO, CLIENT SETINFO): overlapping requests may open one more."""

    sent = 0
    _handshake = False

    async def on_connect_check_health(self, check_health: bool = True) -> None:
        self._handshake = True
        try:
            await super().on_connect_check_health(check_health)
        finally:
            self._handshake = False

    async def send_packed_command(self, command: object, check_health: bool = True) -> None:
        if not self._handshake:
            CountingConnection.sent += 1
        await super().send_packed_command(command, check_health)  # type: ignore[arg-type]


class RecordingPipe(RespPipe):
    """The request path's pipeline, keeping what each socket write carried."""

    def __init__(self) -> None:
        super().__init__("127.0.0.1", 6379, timeout=2.0)
        self.batches: list[bytes] = []

    def _flush(self) -> None:
        if self._proto is not None and self._buffer:
            self.batches.append(b"".join(self._buffer))
        super()._flush()

    def scripts(self, since: int) -> list[list[str]]:
        """The request path's scripts in each write since `since`, by name."""
        shas = {lua(n).sha.encode(): n for n in SCRIPTS}
        return [
            [shas[sha] for sha in re.findall(rb"\b[0-9a-f]{40}\b", batch) if sha in shas]
            for batch in self.batches[since:]
        ]


SCRIPTS = ("reserve", "settle", "release", "tenant_reserve", "tenant_settle")


@pytest.fixture
async def counted(prefix: str) -> AsyncIterator[tuple[RedisStore, RecordingPipe]]:
    """A store whose redis-py writes are counted and whose pipeline is recorded."""
    pool = ConnectionPool.from_url(REDIS_URL, connection_class=CountingConnection)
    pipe = RecordingPipe()
    store = RedisStore(
        Redis(connection_pool=pool), prefix=prefix, refresh_s=3600, scripts=PipeRunner(pipe)
    )  # (no background refresh during the test)
    yield store, pipe
    await pool.aclose()


async def _settled(pipe: RecordingPipe, since: int, scripts: int) -> list[list[str]]:
    for _ in range(100):  # settles run just after the reply is sent
        if sum(map(len, pipe.scripts(since))) >= scripts:
            break
        await asyncio.sleep(0.02)
    return pipe.scripts(since)


async def test_a_request_costs_two_round_trips(
    fleet: FleetFactory, counted: tuple[RedisStore, RecordingPipe]
) -> None:
    store, pipe = counted
    async with (
        fleet({"a": FAST}, {"a": (0.1, 0.1)}, store=store) as f,
        httpx.AsyncClient(base_url=f.url) as http,
    ):
        body = {"model": "m", "messages": MSG}
        assert (await http.post("/v1/chat/completions", json=body)).status_code == 200
        await _settled(pipe, 0, 2)
        before, sent = len(pipe.batches), CountingConnection.sent
        for stream in (False, True, False, True):
            r = await http.post("/v1/chat/completions", json={**body, "stream": stream})
            assert r.status_code == 200
        writes = await _settled(pipe, before, 8)
        assert sorted(n for w in writes for n in w) == ["reserve"] * 4 + ["settle"] * 4
        assert len(writes) <= 8  # (one each, or fewer when a settle meets the next reserve)
        assert CountingConnection.sent == sent  # nothing through redis-py on the request path


async def test_a_budgeted_request_reserves_in_one_round_trip(
    fleet: FleetFactory, counted: tuple[RedisStore, RecordingPipe]
) -> None:
    store, pipe = counted
    admin = {"authorization": "Bearer mk-one-trip"}
    async with (
        fleet({"a": FAST}, {"a": (0.1, 0.1)}, store=store, master_key="mk-one-trip") as f,
        httpx.AsyncClient(base_url=f.url) as http,
    ):
        team = {"name": "t", "budget_usd_day": "1000", "rpm": 1000}
        assert (await http.post("/admin/teams", json=team, headers=admin)).status_code == 201
        r = await http.post("/admin/keys", json={"team": "t"}, headers=admin)
        user = {"authorization": f"Bearer {r.json()['key']}"}
        body = {"model": "m", "messages": MSG}
        chat = "/v1/chat/completions"
        assert (await http.post(chat, json=body, headers=user)).status_code == 200  # (seeds)
        await _settled(pipe, 0, 4)
        before = len(pipe.batches)
        assert (await http.post(chat, json=body, headers=user)).status_code == 200
        writes = await _settled(pipe, before, 4)
        assert writes[0] == ["tenant_reserve", "reserve"]  # one write, one read, then the vendor
        assert sorted(n for w in writes[1:] for n in w) == ["settle", "tenant_settle"]
        assert len(writes) <= 3  # (the two settles together when they meet)


async def test_redis_outage_loses_no_request_and_recovery_is_automatic(fleet: FleetFactory) -> None:
    with private_redis() as (port, workdir):
        url = f"redis://127.0.0.1:{port}/0"
        async with (
            fleet({"a": FAST}, {"a": (0.1, 0.1)}, redis_url=url, state_refresh_s=0.05) as f,
            httpx.AsyncClient(base_url=f.url) as http,
        ):
            body = {"model": "m", "messages": MSG}
            for _ in range(3):
                assert (await http.post("/v1/chat/completions", json=body)).status_code == 200
            assert (await http.get("/readyz")).json()["state"]["ok"] is True

            # Kill the private server mid-traffic: requests go on from local state.
            (await asyncio.to_thread(_kill_redis_on, port))
            for _ in range(5):
                r = await http.post("/v1/chat/completions", json=body)
                assert r.status_code == 200, r.text
            state = (await http.get("/readyz")).json()["state"]
            assert state["ok"] is False and "unreachable" in state["detail"]

            proc = start_redis(port, workdir)  # back on the same port
            try:
                for _ in range(100):
                    if (await http.get("/readyz")).json()["state"]["ok"]:
                        break
                    await asyncio.sleep(0.05)
                assert (await http.get("/readyz")).json()["state"]["ok"] is True
                assert (await http.post("/v1/chat/completions", json=body)).status_code == 200
            finally:
                stop(proc)


def _kill_redis_on(port: int) -> None:
    import redis

    client = redis.Redis(host="127.0.0.1", port=port)
    with contextlib.suppress(redis.ConnectionError):  # it closes the connection as it goes
        client.shutdown(nosave=True)


async def test_denial_when_all_candidates_are_full_is_429(fleet: FleetFactory) -> None:
    # Quotas through the gateway: a provider with rpm 2, nothing else: the third request gets 429.
    async with (
        fleet({"a": FAST}, {"a": (0.1, 0.1)}, limits={"a": {"rpm": 2}}) as f,
        httpx.AsyncClient(base_url=f.url) as http,
    ):
        body = {"model": "m", "messages": MSG}
        assert [
            (await http.post("/v1/chat/completions", json=body)).status_code for _ in range(2)
        ] == [200, 200]
        r = await http.post("/v1/chat/completions", json=body)
        assert r.status_code == 429
        assert r.json()["error"]["code"] == "rate_limit_exceeded"
        assert 1 <= int(r.headers["retry-after"]) <= 60
        assert f.vendors["a"].stats.requests == 2


async def test_admin_providers_shows_what_the_scorer_sees(fleet: FleetFactory) -> None:
    async with (
        fleet({"a": FAST}, {"a": (0.1, 0.2)}, limits={"a": {"rpm": 10}}) as f,
        httpx.AsyncClient(base_url=f.url) as http,
    ):
        for _ in range(2):
            assert (
                await http.post("/v1/chat/completions", json={"model": "m", "messages": MSG})
            ).status_code == 200
        await asyncio.sleep(0.4)
        body = (await http.get("/admin/providers")).json()
    (row,) = body["deployments"]
    assert row["id"] == "a/m"
    assert row["limits"]["p"]["rpm"] == 10
    assert row["quota_headroom"] == pytest.approx(0.8)
    assert row["latency_ms"] > 0 and row["failure_rate"] == 0.0
    assert body["state"]["backend"] == "memory"
