"""aiohttp called directly: the default transport of the OpenAI-compatible adapter.

The adapter speaks httpx's API (respx mocks it in unit tests), and `httpx-aiohttp` used to put
aiohttp under it. Building an httpx Request and Response around every call cost ~0.15 ms of CPU
per request (bench/README.md, where the gateway's time goes), so the default path hands aiohttp
the bytes and headers itself. The response object here has the few members the adapter reads
(`status_code`, `headers`, `aread`, `aiter_raw`, `aclose`), and aiohttp's errors are raised as
the httpx errors the adapter already maps, so both paths share one error mapping.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import AsyncIterator, Mapping

import aiohttp
import httpx

# Most specific first: the first match wins.
_ERRORS: tuple[tuple[type[Exception], type[httpx.HTTPError]], ...] = (
    (aiohttp.ConnectionTimeoutError, httpx.ConnectTimeout),
    (aiohttp.SocketTimeoutError, httpx.ReadTimeout),
    (aiohttp.ServerTimeoutError, httpx.ReadTimeout),
    (aiohttp.ClientPayloadError, httpx.ReadError),
    (aiohttp.ClientConnectorError, httpx.ConnectError),
    (aiohttp.ServerDisconnectedError, httpx.RemoteProtocolError),
    (aiohttp.ClientConnectionError, httpx.ConnectError),
    (aiohttp.ClientError, httpx.TransportError),
    (TimeoutError, httpx.ReadTimeout),
)


class _Mapped:
    """aiohttp's errors raised as httpx's. A plain class, not a generator-based
    `contextlib.contextmanager`: it wraps every call and every read of a reply."""

    __slots__ = ()

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: object
    ) -> None:
        if isinstance(exc, Exception):
            for source, target in _ERRORS:
                if isinstance(exc, source):
                    raise target(str(exc) or type(exc).__name__) from exc


_mapped = _Mapped()


class NativeResponse:
    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response
        self.status_code = response.status
        self.headers: Mapping[str, str] = response.headers

    async def aread(self) -> bytes:
        with _mapped:
            return await self._response.read()

    async def aiter_raw(self) -> AsyncIterator[bytes]:
        with _mapped:
            async for chunk in self._response.content.iter_any():
                yield chunk

    async def aclose(self) -> None:
        # As aiohttp's own `async with`: an unfinished body closes the connection (the
        # upstream stops generating), a finished one goes back to the pool.
        with contextlib.suppress(aiohttp.ClientError):
            await self._response.__aexit__(None, None, None)


class NativeTransport:
    """One aiohttp session per provider, created on first use (inside the event loop)."""

    def __init__(self, max_connections: int) -> None:
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None

    async def send(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes | None,
        timeouts: Mapping[str, float],
    ) -> NativeResponse:
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=self._max_connections)
            self._session = aiohttp.ClientSession(connector=connector, auto_decompress=False)
        with _mapped:
            response = await self._session.request(
                method,
                url,
                headers=headers,
                data=body,
                allow_redirects=False,
                timeout=_client_timeout(timeouts["connect"], timeouts["read"], timeouts["pool"]),
            )
        return NativeResponse(response)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()


@functools.lru_cache(maxsize=64)
def _client_timeout(connect: float, read: float, pool: float) -> aiohttp.ClientTimeout:
    """One (frozen) ClientTimeout per configured set of timeouts, not one per request (its
    attrs-generated __init__ was ~3 % of a request's CPU)."""
    return aiohttp.ClientTimeout(sock_connect=connect, sock_read=read, connect=pool)
