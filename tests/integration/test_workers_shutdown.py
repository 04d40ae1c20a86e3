"""`gateway serve --workers 2` stopping, restarting and failing: SIGTERM lets streams in flight
finish and drains every worker's ledger queue into the database; SIGHUP replaces the workers,
unless the config is bad; a worker killed while the database is down leaves its spool file,
which a sibling replays once the database is back, each row once."""

from __future__ import annotations

import asyncio
import inspect
import os
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack
from pathlib import Path

import httpx
import orjson
import pytest

from tests.conftest import postgres_schema
from tests.gateway_procs import gateway_server
from tests.integration.private_postgres import PrivatePostgres
from tests.integration.workers_fleet import CHAT, clients_on_both_workers, ledger_rows, workers_env

CHAT_PATH = "/v1/chat/completions"
SLOW_STREAM = {"model": "slow", "messages": [{"role": "user", "content": "hi"}], "stream": True}


async def chat(clients: list[httpx.AsyncClient], each: int) -> list[str]:
    async def client(http: httpx.AsyncClient) -> list[str]:
        ids = []
        for _ in range(each):
            r = await http.post("/v1/chat/completions", json=CHAT)
            assert r.status_code == 200, r.text
            ids.append(r.headers["x-request-id"])
        return ids

    return [i for ids in await asyncio.gather(*map(client, clients)) for i in ids]


async def finish(stream: httpx.Response, lines: AsyncIterator[str]) -> tuple[str, list[str]]:
    """A stream's request id and its events (read on from `lines`, the stream's own lines)."""
    return stream.headers["x-request-id"], [
        line async for line in lines if line.startswith("data: ")
    ]


@pytest.mark.timeout(150)
async def test_sigterm_finishes_streams_and_drains_every_workers_queue(tmp_path: Path) -> None:
    # Rows flushed only when a batch fills (500) or at shutdown: they wait in the workers' queues.
    extra = {"GATEWAY_LEDGER_FLUSH_INTERVAL_S": "3600"}
    async with postgres_schema() as db, workers_env(tmp_path, db, extra=extra) as (env, _):
        with gateway_server(env, tmp_path, workers=2) as gateway:
            async with AsyncExitStack() as stack:
                clients = await clients_on_both_workers(stack, gateway, 4)
                sent = await chat(clients, 5)  # 10 rows queued in each worker
                assert await ledger_rows(db) == []  # none written yet: all in the queues
                streams = [  # one on each worker
                    await stack.enter_async_context(c.stream("POST", CHAT_PATH, json=SLOW_STREAM))
                    for c in (clients[0], clients[-1])
                ]
                lines = [s.aiter_lines() for s in streams]
                for started in lines:
                    assert (await anext(started)).startswith("data: ")  # under way
                gateway.proc.send_signal(signal.SIGTERM)  # the streams have ~1.5 s to go
                finished = await asyncio.gather(*map(finish, streams, lines))
            code = await asyncio.to_thread(gateway.proc.wait, 60)
        assert code in (0, -signal.SIGTERM), gateway.log.read_text()
        rows = await ledger_rows(db)
    assert spooled_rows(tmp_path / "spool") == {}  # straight to the database
    for _, events in finished:
        assert events[-1] == "data: [DONE]", events
        assert orjson.loads(events[-2][6:])["choices"][0]["finish_reason"] == "stop"
    streamed = {request_id for request_id, _ in finished}
    assert sorted(r.request_id for r in rows) == sorted([*sent, *streamed])  # all, once each
    for row in rows:
        assert row.status_code == 200 and row.error_type is None  # not cut: not partial
        assert row.completion_tokens == (15 if row.request_id in streamed else 20)


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    pg = PrivatePostgres()
    try:
        pg.init()
        pg.start()
        yield pg
    finally:
        pg.destroy()


def spooled_rows(spool: Path) -> dict[int, int]:
    """Rows in the spool's files, by the pid that wrote each file (its name's first part)."""
    rows: dict[int, int] = {}
    for path in spool.glob("*.jsonl"):
        pid = int(path.name.split("-")[0])
        rows[pid] = rows.get(pid, 0) + path.read_bytes().count(b"\n")
    return rows


async def wait_for(check: Callable[[], bool | Awaitable[bool]], timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        done = check()
        if await done if inspect.isawaitable(done) else done:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"not true in {timeout_s} s")


@pytest.mark.timeout(180)
async def test_a_killed_workers_spool_is_replayed_by_a_sibling_once(
    private_postgres: PrivatePostgres, tmp_path: Path
) -> None:
    extra = {"GATEWAY_LEDGER_FLUSH_INTERVAL_S": "0.05"}
    spool = tmp_path / "spool"
    async with workers_env(tmp_path, private_postgres.url, extra=extra) as (env, _):
        with gateway_server(env, tmp_path, workers=2) as gateway:
            workers = gateway.workers()
            await asyncio.to_thread(private_postgres.stop)
            async with AsyncExitStack() as stack:
                sent = await chat(await clients_on_both_workers(stack, gateway, 4), 5)

            async def all_spooled() -> bool:
                return sum(spooled_rows(spool).values()) == len(sent)

            await wait_for(all_spooled)
            assert set(spooled_rows(spool)) == set(workers)  # a file of its own for each worker
            os.kill(workers[0], signal.SIGKILL)  # its file is left behind, unlocked
            await asyncio.to_thread(private_postgres.start)

            async def all_landed() -> bool:
                return len(await ledger_rows(private_postgres.url)) >= len(sent)

            await wait_for(all_landed)  # replayed by the other worker (or its replacement)
        rows = await ledger_rows(private_postgres.url)
    assert len(sent) == 20 == len(set(sent))
    assert sorted(r.request_id for r in rows) == sorted(sent)  # each exactly once
    assert spooled_rows(spool) == {}


@pytest.mark.timeout(240)
async def test_sighup_replaces_the_workers_unless_the_config_is_bad(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    extra = {"GATEWAY_WATCH_CONFIG": "false"}  # SIGHUP alone makes the workers read it again
    async with workers_env(tmp_path, url, extra=extra) as (env, _):
        with gateway_server(env, tmp_path, workers=2) as gateway:
            before = gateway.workers()
            providers = tmp_path / "providers.yaml"
            good = providers.read_text()
            providers.write_text("providers: {a: {kind: nope}}\n")
            gateway.proc.send_signal(signal.SIGHUP)
            await wait_for(lambda: "aborting the restart" in gateway.log.read_text(), 120)
            assert "unknown kind 'nope'" in gateway.log.read_text()  # the replacement's refusal
            assert gateway.workers() == before  # still serving on the good config
            async with httpx.AsyncClient(base_url=gateway.url, timeout=30) as http:
                assert (await http.post("/v1/chat/completions", json=CHAT)).status_code == 200
            providers.write_text(good)
            gateway.proc.send_signal(signal.SIGHUP)
            await wait_for(lambda: not set(gateway.workers()) & set(before), 120)
            assert len(gateway.workers()) == 2
            async with httpx.AsyncClient(base_url=gateway.url, timeout=30) as http:
                assert (await http.post("/v1/chat/completions", json=CHAT)).status_code == 200
