"""The HTTP transports an adapter can use (aiohttp called directly, or an httpx transport that
respx mocks) and the one mapping of their errors."""

from __future__ import annotations

import time
from typing import Literal

import httpx

from gateway.errors import UpstreamConnectError, UpstreamError, UpstreamTimeout
from gateway.upstream.aiohttp_native import NativeResponse, NativeTransport

TransportName = Literal["aiohttp", "httpx"]
Transport = httpx.AsyncBaseTransport | NativeTransport
Response = httpx.Response | NativeResponse


def make_transport(name: TransportName, max_connections: int) -> Transport:
    if name == "aiohttp":
        return NativeTransport(max_connections)
    limits = httpx.Limits(
        max_connections=max_connections, max_keepalive_connections=max_connections
    )
    return httpx.AsyncHTTPTransport(limits=limits)


def map_transport_error(exc: httpx.HTTPError, started: float) -> UpstreamError:
    """Foreign exceptions mapped by type, once, here (aiohttp's arrive as httpx's)."""
    elapsed = time.perf_counter() - started
    if isinstance(exc, httpx.TimeoutException):
        return UpstreamTimeout(f"upstream timed out after {elapsed:.1f}s")
    return UpstreamConnectError(
        f"upstream connection failed: {type(exc.__cause__ or exc).__name__}"
    )
