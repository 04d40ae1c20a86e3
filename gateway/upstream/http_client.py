"""What every HTTP adapter shares: the transport (aiohttp called directly, or an httpx transport
that respx mocks), timeouts, a capped read, and one mapping of transport and status errors."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import httpx
import orjson

from gateway.errors import (
    UpstreamProtocolError,
    UpstreamStatusError,
)
from gateway.upstream.aiohttp_native import NativeTransport
from gateway.upstream.base import Call
from gateway.upstream.redact import redact
from gateway.upstream.sse_stream import SseDialect, SseStream
from gateway.upstream.transport import Response, Transport, map_transport_error

MAX_REPLY_BYTES = 64 * 1024 * 1024  # a whole (non-streamed) reply; past it: a broken vendor


class HttpUpstream:
    """httpx's Request/Response and transports, without AsyncClient's per-request layers
    (cookies, auth, redirects, hooks): the profile put them at a third of our CPU."""

    def __init__(
        self,
        *,
        transport: Transport,
        headers: Mapping[str, str],
        secrets: Sequence[str],
        probe_url: str,
        connect_timeout_s: float,
        read_timeout_s: float,
    ) -> None:
        self._transport = transport
        self._headers = {"content-type": "application/json", "accept-encoding": "identity"}
        self._headers.update(headers)
        self._secrets = tuple(s for s in secrets if s)
        self._probe_url = httpx.URL(probe_url)
        self._timeout = {
            "connect": connect_timeout_s,
            "read": read_timeout_s,
            "write": read_timeout_s,
            "pool": connect_timeout_s,
        }

    async def aclose(self) -> None:
        await self._transport.aclose()

    async def probe(self) -> bool:
        """Reachable and accepting our key, asked of a free endpoint (never a billed call)."""
        timeout = {k: min(v, 5.0) for k, v in self._timeout.items()}
        try:
            response = await self._request("GET", self._probe_url, self._headers, None, timeout)
            await response.aread()
            await response.aclose()
        except httpx.HTTPError:
            return False
        return response.status_code < 400

    async def _post(
        self, url: httpx.URL, call: Call, body: bytes, headers: Mapping[str, str], started: float
    ) -> Response:
        try:
            return await self._request("POST", url, headers, body, self._timeouts(call))
        except httpx.HTTPError as exc:
            raise map_transport_error(exc, started) from exc

    async def _json_reply(self, response: Response, started: float) -> tuple[bytes, Any]:
        """The whole reply, parsed; the vendor's error status raised as UpstreamStatusError."""
        try:
            body = await read_capped(response)
        except httpx.HTTPError as exc:
            raise map_transport_error(exc, started) from exc
        finally:
            await response.aclose()
        if response.status_code >= 400:
            raise status_error(response.status_code, body, response.headers, self._secrets)
        try:
            return body, orjson.loads(body)
        except orjson.JSONDecodeError:
            raise UpstreamProtocolError("upstream returned a body that is not JSON") from None

    async def _stream(
        self,
        response: Response,
        dialect: SseDialect,
        hints: Mapping[str, str],
        call: Call,
        started: float,
        *,
        strip_usage: bool,
    ) -> SseStream:
        """The opened stream, primed to its first event (until then failover is possible); an
        error status raised with the vendor's body."""
        if response.status_code >= 400:
            try:
                content = await read_capped(response)
            except (httpx.HTTPError, UpstreamProtocolError):
                content = b""
            finally:
                await response.aclose()
            raise status_error(response.status_code, content, response.headers, self._secrets)
        stream = SseStream(
            response,
            dialect,
            headers=hints,
            strip_usage=strip_usage,
            started=started,
            resume=call.resume,
        )
        try:
            await stream.prime()
        except BaseException:
            await stream.aclose()
            raise
        return stream

    def _timeouts(self, call: Call) -> dict[str, float]:
        if call.connect_timeout_s is None and call.read_timeout_s is None:
            return self._timeout
        connect = call.connect_timeout_s or self._timeout["connect"]
        read = call.read_timeout_s or self._timeout["read"]
        return {"connect": connect, "read": read, "write": read, "pool": connect}

    async def _request(
        self,
        method: str,
        url: httpx.URL,
        headers: Mapping[str, str],
        content: bytes | None,
        timeouts: Mapping[str, float],
    ) -> Response:
        """Raises httpx's errors, whichever the transport."""
        if isinstance(self._transport, NativeTransport):
            return await self._transport.send(method, str(url), headers, content, timeouts)
        request = httpx.Request(
            method, url, headers=headers, content=content, extensions={"timeout": timeouts}
        )
        return await self._transport.handle_async_request(request)


async def read_capped(response: Response) -> bytes:
    """The whole body, refused past MAX_REPLY_BYTES (read in pieces when no length is given)."""
    length = response.headers.get("content-length")
    if length is not None and length.isdigit():
        if int(length) > MAX_REPLY_BYTES:
            raise UpstreamProtocolError(f"upstream reply of {length} bytes is over the limit")
        return await response.aread()
    parts: list[bytes] = []
    size = 0
    async for chunk in response.aiter_raw():
        size += len(chunk)
        if size > MAX_REPLY_BYTES:
            raise UpstreamProtocolError("upstream reply is over the size limit")
        parts.append(chunk)
    return b"".join(parts)


def status_error(
    status: int, content: bytes, headers: Mapping[str, str], secrets: Sequence[str] = ()
) -> UpstreamStatusError:
    """The vendor's error, its body kept for pass-through (capped, credentials scrubbed)."""
    retry_after: float | None = None
    # retry-after-ms (OpenAI, Azure) is the finer of the two when both are sent.
    for name, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        raw = headers.get(name)
        if not raw:
            continue
        try:
            retry_after = float(raw) / scale
        except ValueError:
            continue
        break
    return UpstreamStatusError(
        f"upstream answered {status}",
        upstream_status=status,
        upstream_body=redact(content[:65536], secrets),
        retry_after_s=retry_after,
    )


def picked(headers: Mapping[str, str], names: Sequence[str]) -> dict[str, str]:
    return {k: headers[k] for k in names if k in headers}
