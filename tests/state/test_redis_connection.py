"""The store's Redis connections write under asyncio.timeout (gateway/state/redis_connection.py):
commands and scripts work as with redis-py's own, and a server that goes away is an error at
once, then served again when it is back."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
import redis
from redis.asyncio import Redis

from gateway.settings import Settings
from gateway.state.factory import build_store
from gateway.state.redis_connection import TimelyConnection
from gateway.state.redis_store import RedisStore
from tests.redis_servers import private_redis, start_redis, stop


async def test_commands_scripts_and_a_server_that_goes_away_and_comes_back() -> None:
    with private_redis() as (port, workdir):
        client = Redis.from_url(
            f"redis://127.0.0.1:{port}/0",
            socket_timeout=0.5,
            socket_connect_timeout=0.5,
            connection_class=TimelyConnection,
        )
        try:
            await client.set("k", "v")
            assert await client.get("k") == b"v"
            script = client.register_script("return redis.call('INCRBY', KEYS[1], ARGV[1])")
            assert await script(keys=["n"], args=[5]) == 5
            pipe = client.pipeline(transaction=False)
            pipe.incr("n")
            pipe.get("k")
            assert await pipe.execute() == [6, b"v"]

            with contextlib.suppress(redis.ConnectionError):  # it closes as it goes
                redis.Redis(host="127.0.0.1", port=port).shutdown(nosave=True)
            with pytest.raises(redis.RedisError):
                await client.get("k")

            proc = start_redis(port, workdir)
            try:
                for _ in range(100):  # the pool reconnects by itself
                    with contextlib.suppress(redis.RedisError):
                        if await client.ping():
                            break
                    await asyncio.sleep(0.05)
                assert await client.incr("n") == 1  # a fresh server: nothing was saved
            finally:
                stop(proc)
        finally:
            await client.aclose()


async def test_the_store_uses_it_for_plain_redis_urls() -> None:
    store = build_store(Settings(redis_url="redis://127.0.0.1:6379/0", auth=False))
    assert isinstance(store, RedisStore)
    client = store.client
    assert isinstance(client, Redis)
    assert client.connection_pool.connection_class is TimelyConnection
    assert await client.ping()
    await store.close()
