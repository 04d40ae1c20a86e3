"""One lean, auto-pipelined Redis connection for the request path's scripts.

redis-py pays its whole per-command machinery (pool, retry wrapper, health check, encoder, one
socket write) for every EVALSHA: on the full production path that was ~45 % of a request's CPU
(bench/README.md). Here every command asked during one event-loop iteration, by any request,
goes out in one socket write; replies come back in order on the one connection and are matched
first in, first out (hiredis parses them). Commands are packed by hiredis too.

Failures keep redis-py's contract, so callers handle them as before: a Redis error reply is
raised as its redis-py exception (ResponseError, NoScriptError, ...); a reply later than the
timeout, or a lost connection, fails every command still waiting with redis-py's TimeoutError or
ConnectionError (their replies can no longer be matched), and the next command reconnects.
A script the server does not know (NOSCRIPT: flushed or restarted) is loaded and sent again.

Single Redis only (a cluster routes by key: it keeps redis-py's client).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from typing import Any, cast

import hiredis
from redis._parsers.base import BaseParser
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError


def pack(*args: str | int | float | bytes) -> bytes:
    """One command in RESP (hiredis's C packer)."""
    packed: bytes = hiredis.pack_command(args)  # type: ignore[arg-type]  # (stub: 1-tuples)
    return packed


class _Waiter:
    """A command written, or to be written, and who waits for its reply."""

    __slots__ = ("deadline", "future", "packed", "reload", "setup")

    def __init__(
        self,
        future: asyncio.Future[Any] | None,
        packed: bytes,
        deadline: float,
        reload: bytes | None = None,  # SCRIPT LOAD of its script, sent if the server lacks it
        setup: bool = False,  # AUTH or SELECT of a new connection
    ) -> None:
        self.future, self.packed, self.deadline = future, packed, deadline
        self.reload, self.setup = reload, setup


class _Protocol(asyncio.Protocol):
    def __init__(self, pipe: RespPipe) -> None:
        self.pipe = pipe
        self.reader = hiredis.Reader(
            protocolError=RedisConnectionError, replyError=BaseParser.parse_error
        )
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # (uvloop's is not a subclass)

    def data_received(self, data: bytes) -> None:
        self.pipe._received(self, data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.pipe._lost(self, exc)


class RespPipe:
    def __init__(
        self,
        host: str,
        port: int,
        *,
        db: int = 0,
        username: str | None = None,
        password: str | None = None,
        timeout: float | None = None,  # per command, from when it is asked until its reply
        connect_timeout: float | None = None,
    ) -> None:
        self.host, self.port, self.db = host, port, db
        self._auth = tuple(a for a in (username, password) if a) if password else ()
        self._timeout = timeout
        self._connect_timeout = connect_timeout
        self.writes = 0  # socket writes: each carries every command asked since the last one
        self._loop: asyncio.AbstractEventLoop | None = None
        self._proto: _Protocol | None = None
        self._connecting: asyncio.Task[None] | None = None
        self._buffer: list[bytes] = []  # packed commands not written yet
        self._waiting: deque[_Waiter] = deque()  # written ones first, then the buffer's
        self._flush_soon = False
        self._timer: asyncio.TimerHandle | None = None

    def call(self, packed: bytes, reload: bytes | None = None) -> asyncio.Future[Any]:
        """Queue one packed command now; the future holds its reply. `reload` is the SCRIPT LOAD
        to send first if the server answers NOSCRIPT (then the command is sent once more)."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # (a new event loop: nothing of the old one can be used)
            self._reset(loop)
        future = loop.create_future()
        deadline = loop.time() + self._timeout if self._timeout else 0.0
        self._push(_Waiter(future, packed, deadline, reload))
        return future

    async def close(self) -> None:
        connecting = self._connecting
        if connecting is not None:
            connecting.cancel()
            with contextlib.suppress(asyncio.CancelledError, RedisError):
                await connecting
            if self._connecting is connecting:  # (cancelled before it began)
                self._connecting = None
        self._abort(RedisConnectionError("Connection closed by the gateway"))

    # -- writing ---------------------------------------------------------------------------

    def _push(self, waiter: _Waiter) -> None:
        self._buffer.append(waiter.packed)
        self._waiting.append(waiter)
        assert self._loop is not None
        if self._proto is None:
            if self._connecting is None:
                self._connecting = self._loop.create_task(self._connect())
        elif not self._flush_soon:
            self._flush_soon = True
            self._loop.call_soon(self._flush)  # after the other requests of this iteration
        if self._timer is None and waiter.deadline:
            self._arm()

    def _flush(self) -> None:
        self._flush_soon = False
        proto = self._proto
        if proto is None or not self._buffer:
            return  # (connecting: the connection flushes once it is up)
        transport = proto.transport
        assert transport is not None
        if transport.is_closing():
            self._abort(RedisConnectionError("Error while writing to socket: connection closing"))
            return
        data = b"".join(self._buffer) if len(self._buffer) > 1 else self._buffer[0]
        self._buffer.clear()
        transport.write(data)
        self.writes += 1

    async def _connect(self) -> None:
        loop = self._loop
        assert loop is not None
        try:
            _, proto = await asyncio.wait_for(
                loop.create_connection(lambda: _Protocol(self), self.host, self.port),
                self._connect_timeout,
            )
        except BaseException as exc:  # (cancelled too: closing; nothing may wait for it)
            self._connecting = None
            kind = RedisTimeoutError if isinstance(exc, TimeoutError) else RedisConnectionError
            self._abort(kind(f"Error connecting to {self.host}:{self.port}: {exc!r}"))
            if isinstance(exc, OSError | TimeoutError):
                return
            raise
        self._connecting = None
        setup = []
        if self._auth:
            setup.append(pack("AUTH", *self._auth))
        if self.db:
            setup.append(pack("SELECT", self.db))
        # First on the new connection, before the commands queued while it was opening.
        deadline = loop.time() + self._timeout if self._timeout else 0.0
        self._buffer[:0] = setup
        self._waiting.extendleft(_Waiter(None, p, deadline, setup=True) for p in reversed(setup))
        self._proto = proto
        self._flush()

    # -- reading ---------------------------------------------------------------------------

    def _received(self, proto: _Protocol, data: bytes) -> None:
        if proto is not self._proto:
            return  # a connection given up already
        reader = proto.reader
        reader.feed(data)
        waiting = self._waiting
        while True:
            try:
                reply = reader.gets()
            except RedisError as exc:  # garbage on the wire: nothing after it can be matched
                self._abort(RedisConnectionError(f"Protocol error from Redis: {exc}"))
                return
            if reply is False:
                return
            if not waiting:
                self._abort(RedisConnectionError("Redis replied to no command"))
                return
            waiter = waiting.popleft()
            if isinstance(reply, RedisError):
                self._refused(waiter, reply)
                if proto is not self._proto:
                    return  # (given up: a refused set-up)
            elif waiter.future is not None and not waiter.future.done():
                waiter.future.set_result(reply)

    def _refused(self, waiter: _Waiter, error: RedisError) -> None:
        if waiter.setup:
            self._abort(RedisConnectionError(f"Redis refused the connection's set-up: {error}"))
        elif isinstance(error, NoScriptError) and waiter.reload is not None:
            self._push(_Waiter(None, waiter.reload, waiter.deadline))
            self._push(_Waiter(waiter.future, waiter.packed, waiter.deadline))  # (once)
        elif waiter.future is not None and not waiter.future.done():
            waiter.future.set_exception(error)

    def _lost(self, proto: _Protocol, exc: Exception | None) -> None:
        if proto is self._proto:
            why = f": {exc}" if exc else " by the server"
            self._abort(RedisConnectionError(f"Connection to Redis lost{why}"))

    # -- failures --------------------------------------------------------------------------

    def _arm(self) -> None:
        assert self._loop is not None
        self._timer = self._loop.call_at(self._waiting[0].deadline, self._expire)

    def _expire(self) -> None:
        """The oldest command's deadline (replies come in order: it is the first due)."""
        self._timer = None
        if not self._waiting or not self._waiting[0].deadline:
            return
        assert self._loop is not None
        if self._waiting[0].deadline <= self._loop.time():
            self._abort(RedisTimeoutError("Timeout reading from Redis"))
        else:
            self._arm()

    def _abort(self, error: RedisError) -> None:
        """Drop the connection and fail every command it still owes a reply."""
        proto, self._proto = self._proto, None
        if proto is not None and proto.transport is not None:
            proto.transport.abort()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        waiting, self._waiting = self._waiting, deque()
        self._buffer.clear()
        for waiter in waiting:
            if waiter.future is not None and not waiter.future.done():
                waiter.future.set_exception(error)

    def _reset(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop, self._proto, self._connecting, self._timer = loop, None, None, None
        self._buffer, self._waiting, self._flush_soon = [], deque(), False
