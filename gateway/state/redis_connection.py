"""redis-py's asyncio connection, writing under `asyncio.timeout` instead of `asyncio.wait_for`.

With a socket timeout set (we always set one: a dead Redis must cost milliseconds), redis-py
8 sends every command through `asyncio.wait_for`, which on Python 3.11 wraps the write in a new
Task: ~10 % of a request's CPU on the full production path (py-spy, bench/README.md). The same
write under `asyncio.timeout` (a deadline on the current task) behaves the same: the same
errors, the connection dropped on a timeout or a failed write.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from redis.asyncio.connection import Connection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError


class TimelyConnection(Connection):
    async def send_packed_command(
        self, command: bytes | str | Iterable[bytes], check_health: bool = True
    ) -> None:
        timeout = self.socket_timeout
        if not timeout:
            await super().send_packed_command(command, check_health)
            return
        if not self.is_connected:
            await self.connect_check_health(check_health=False)
        if check_health:
            await self.check_health()  # type: ignore[no-untyped-call]
        if isinstance(command, str):
            command = command.encode()
        if isinstance(command, bytes):
            command = [command]
        writer = self._writer
        assert writer is not None  # connected above
        try:
            async with asyncio.timeout(timeout):
                writer.writelines(command)
                await writer.drain()
        except TimeoutError:  # (asyncio's, before OSError: it is one)
            await self.disconnect(nowait=True)
            raise RedisTimeoutError("Timeout writing to socket") from None
        except OSError as exc:
            await self.disconnect(nowait=True)
            raise RedisConnectionError(f"Error while writing to socket: {exc}") from exc
        except BaseException:
            await self.disconnect(nowait=True)  # a half-sent command: the connection is lost
            raise
