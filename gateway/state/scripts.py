"""Running the request path's Lua scripts: through the auto-pipelined connection (resp_pipe.py)
on a single Redis, through redis-py on a cluster (or a TLS or Unix socket connection).

`run` sends the script at once and returns what to await for its reply: with the pipeline,
scripts asked one after the other before either is awaited (the caller's reservation, then
the deployment's) go out in one write and are answered in one read.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Awaitable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # redis and hiredis are imported only by a gateway that uses them (start-up)
    from redis.asyncio import Redis, RedisCluster
    from redis.commands.core import AsyncScript

    from gateway.state.resp_pipe import RespPipe

_LUA = Path(__file__).with_name("lua")


def lua(name: str) -> Script:
    """One of gateway/state/lua/*.lua."""
    return Script((_LUA / f"{name}.lua").read_text())


class Script:
    """A Lua script: its source and SHA1."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(self.source.encode()).hexdigest()

    @functools.cached_property
    def load(self) -> bytes:
        """SCRIPT LOAD of it, packed once (only a pipeline sends it)."""
        from gateway.state.resp_pipe import pack

        return pack("SCRIPT", "LOAD", self.source)


class ScriptRunner(Protocol):
    eager: bool  # True: sent by run() itself, before the reply is awaited

    def run(self, script: Script, keys: Sequence[str], args: Sequence[Any]) -> Awaitable[Any]: ...

    async def close(self) -> None: ...


class PipeRunner:
    eager = True

    def __init__(self, pipe: RespPipe) -> None:
        from gateway.state.resp_pipe import pack

        self.pipe, self._pack = pipe, pack

    def run(self, script: Script, keys: Sequence[str], args: Sequence[Any]) -> Awaitable[Any]:
        return self.pipe.call(
            self._pack("EVALSHA", script.sha, len(keys), *keys, *args), script.load
        )

    async def close(self) -> None:
        await self.pipe.close()


class RedisPyRunner:
    eager = False

    def __init__(self, client: Redis | RedisCluster) -> None:
        self._client = client
        self._scripts: dict[str, AsyncScript] = {}

    def run(self, script: Script, keys: Sequence[str], args: Sequence[Any]) -> Awaitable[Any]:
        registered = self._scripts.get(script.sha)
        if registered is None:
            registered = self._scripts[script.sha] = self._client.register_script(script.source)
        return registered(keys=keys, args=args)

    async def close(self) -> None:
        return None  # (the client is closed by its owner)


def runner_for(client: Redis | RedisCluster) -> ScriptRunner:
    """The pipeline to the client's server when it is a single Redis over plain TCP with a
    password at most (its address, database, credentials and timeouts), else redis-py."""
    from redis.asyncio import Redis
    from redis.asyncio.connection import Connection, SSLConnection

    from gateway.state.resp_pipe import RespPipe

    if not isinstance(client, Redis):
        return RedisPyRunner(client)
    pool = client.connection_pool
    kw = pool.connection_kwargs
    plain = issubclass(pool.connection_class, Connection) and not issubclass(
        pool.connection_class, SSLConnection
    )
    if not plain or kw.get("credential_provider") is not None:
        return RedisPyRunner(client)
    pipe = RespPipe(
        kw.get("host", "localhost"),
        int(kw.get("port", 6379)),
        db=int(kw.get("db", 0)),
        username=kw.get("username"),
        password=kw.get("password"),
        timeout=kw.get("socket_timeout"),
        connect_timeout=kw.get("socket_connect_timeout"),
    )
    return PipeRunner(pipe)
