"""The request path's auto-pipelined Redis connection (gateway/state/resp_pipe.py): commands
asked together go out in one write and their replies reach the right callers; failures are
redis-py's exceptions, as the store and the keys' limits expect them."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis
import uvloop
from redis.asyncio import Redis

from gateway.state.resp_pipe import RespPipe, pack
from gateway.state.scripts import PipeRunner, Script, runner_for
from tests.redis_servers import free_port, private_redis, start_redis, stop


@pytest.fixture
async def key() -> AsyncIterator[str]:
    k = f"gwtest:{uuid.uuid4().hex[:10]}:pipe"
    yield k
    redis.Redis().delete(k)


@pytest.fixture
async def pipe() -> AsyncIterator[RespPipe]:
    p = RespPipe("127.0.0.1", 6379, timeout=2.0, connect_timeout=2.0)
    yield p
    await p.close()


async def test_concurrent_commands_go_out_in_one_write_and_replies_match(
    pipe: RespPipe, key: str
) -> None:
    await pipe.call(pack("PING"))
    before = pipe.writes

    async def one(i: int) -> tuple[bytes, int]:
        echo, incr = pipe.call(pack("ECHO", f"e{i}")), pipe.call(pack("INCRBY", key, i))
        return await echo, await incr

    replies = await asyncio.gather(*(one(i) for i in range(1, 51)))
    assert pipe.writes - before == 1  # 100 commands of 50 requests: one write
    assert [r[0] for r in replies] == [f"e{i}".encode() for i in range(1, 51)]
    totals = [r[1] for r in replies]
    assert totals == [i * (i + 1) // 2 for i in range(1, 51)]  # each its own INCRBY's reply
    assert await pipe.call(pack("GET", key)) == b"1275"
    assert pipe.writes - before == 2


async def test_an_error_reply_is_raised_to_its_caller_only(pipe: RespPipe, key: str) -> None:
    await pipe.call(pack("SET", key, "text"))
    wrong, fine = pipe.call(pack("INCR", key)), pipe.call(pack("GET", key))
    with pytest.raises(redis.ResponseError, match="not an integer"):
        await wrong
    assert await fine == b"text"


async def test_scripts_unknown_to_the_server_are_loaded_and_run() -> None:
    with private_redis() as (port, _):
        runner = PipeRunner(RespPipe("127.0.0.1", port, timeout=2.0))
        script = Script("return {KEYS[1], ARGV[1]}")
        server = redis.Redis(port=port)
        try:
            assert server.script_exists(script.sha) == [False]
            assert await runner.run(script, ["k"], [7]) == [b"k", b"7"]  # NOSCRIPT, loaded, run
            assert server.script_exists(script.sha) == [True]
            server.script_flush()  # (a restarted or flushed server)
            replies = await asyncio.gather(*(runner.run(script, ["k"], [i]) for i in range(3)))
            assert replies == [[b"k", str(i).encode()] for i in range(3)]
            with pytest.raises(redis.ResponseError):  # a script's own error is the caller's
                await runner.run(Script("return redis.call('INCR')"), [], [])
        finally:
            await runner.close()
            server.close()


async def test_a_late_reply_fails_what_waits_with_a_timeout_then_it_reconnects(key: str) -> None:
    pipe = RespPipe("127.0.0.1", 6379, timeout=0.2)
    try:
        blocked = pipe.call(pack("BLPOP", key, 2))  # holds the connection for 2 s
        after = pipe.call(pack("PING"))
        for waiting in (blocked, after):  # nothing after it could be matched any more
            with pytest.raises(redis.TimeoutError):
                await waiting
        assert await pipe.call(pack("PING")) == b"PONG"  # a new connection
    finally:
        await pipe.close()


@contextlib.contextmanager
def _server(port: int) -> Iterator[subprocess.Popen[bytes]]:
    """A private redis-server on `port` (private_redis() picks its own port)."""
    with tempfile.TemporaryDirectory(prefix="gw-redis-") as tmp:
        proc = start_redis(port, Path(tmp))
        try:
            yield proc
        finally:
            if proc.poll() is None:
                stop(proc)


async def test_a_lost_connection_fails_what_waits_and_the_next_command_reconnects() -> None:
    port = free_port()
    pipe = RespPipe("127.0.0.1", port, timeout=5.0, connect_timeout=0.5)
    try:
        with _server(port) as proc:
            assert await pipe.call(pack("SET", "k", "v")) == b"OK"
            waiting = pipe.call(pack("BLPOP", "list", 5))
            await asyncio.sleep(0.1)  # written, no reply yet
            stop(proc)
            with pytest.raises(redis.ConnectionError):
                await waiting
        with pytest.raises(redis.ConnectionError):  # nobody listens: refused at once
            await pipe.call(pack("PING"))
        with _server(port):
            assert await pipe.call(pack("PING")) == b"PONG"
    finally:
        await pipe.close()


async def test_password_and_database_come_from_the_client() -> None:
    port = free_port()
    with _server(port):
        redis.Redis(port=port).config_set("requirepass", "s3cret")
        client = Redis.from_url(f"redis://:s3cret@127.0.0.1:{port}/2", socket_timeout=0.5)
        runner = runner_for(client)
        assert isinstance(runner, PipeRunner)
        try:
            assert await runner.run(Script("return redis.call('SET', KEYS[1], 'x')"), ["k"], [])
            assert await client.get("k") == b"x"  # written in database 2
            assert redis.Redis(port=port, password="s3cret", db=0).get("k") is None
            wrong = RespPipe("127.0.0.1", port, password="wrong")
            with pytest.raises(redis.ConnectionError, match="set-up"):
                await wrong.call(pack("PING"))
            await wrong.close()
        finally:
            await runner.close()
            await client.aclose()


def test_on_uvloop_as_the_gateway_serves() -> None:
    async def scenario() -> tuple[object, list[object], int]:
        pipe = RespPipe("127.0.0.1", 6379, timeout=2.0)
        try:
            first = await pipe.call(pack("PING"))
            before = pipe.writes
            echoed = await asyncio.gather(*(pipe.call(pack("ECHO", str(i))) for i in range(5)))
            return first, echoed, pipe.writes - before
        finally:
            await pipe.close()

    assert uvloop.run(scenario()) == (b"PONG", [str(i).encode() for i in range(5)], 1)


async def test_closing_while_it_connects_fails_what_waits_and_it_can_connect_again() -> None:
    pipe = RespPipe("127.0.0.1", 6379, timeout=2.0)
    waiting = pipe.call(pack("PING"))  # connecting
    await pipe.close()
    with pytest.raises(redis.ConnectionError):
        await waiting
    try:
        assert await pipe.call(pack("PING")) == b"PONG"
    finally:
        await pipe.close()
