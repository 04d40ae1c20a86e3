"""Adapter for OpenAI-compatible HTTP APIs: aiohttp directly (the default), or an httpx transport
(respx mocks it in unit tests; `GATEWAY_HTTP_TRANSPORT=httpx`)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, Literal

import httpx
import orjson

from gateway.core.operation import Operation
from gateway.core.usage import Usage
from gateway.errors import (
    UpstreamConnectError,
    UpstreamError,
    UpstreamProtocolError,
    UpstreamStatusError,
    UpstreamTimeout,
)
from gateway.upstream.aiohttp_native import NativeResponse, NativeTransport
from gateway.upstream.base import Call, Reply
from gateway.upstream.redact import redact
from gateway.upstream.sse import (
    DONE,
    EventSplitter,
    delta_text,
    error_event,
    parse_usage,
    sse_lines_only,
    usage_of,
    well_formed,
)

TransportName = Literal["aiohttp", "httpx"]
Transport = httpx.AsyncBaseTransport | NativeTransport
Response = httpx.Response | NativeResponse
_RATE_HEADERS = (
    "x-ratelimit-limit-requests",
    "x-ratelimit-limit-tokens",
    "x-ratelimit-remaining-requests",
    "x-ratelimit-remaining-tokens",
    "x-ratelimit-reset-requests",
    "x-ratelimit-reset-tokens",
    "retry-after",
)


# What an OpenAI-compatible server serves: operation -> (path under base_url, the key its reply
# must carry). A new OpenAI-style operation is one line here.
PATHS: dict[Operation, tuple[str, str]] = {
    Operation.CHAT: ("/chat/completions", "choices"),
    Operation.COMPLETIONS: ("/completions", "choices"),
    Operation.EMBEDDINGS: ("/embeddings", "data"),
    Operation.RESPONSES: ("/responses", "output"),
}
MAX_REPLY_BYTES = 64 * 1024 * 1024  # a whole (non-streamed) reply; past it: a broken vendor
_STREAM_OPTIONS = frozenset({Operation.CHAT, Operation.COMPLETIONS})  # take include_usage


def make_transport(name: TransportName, max_connections: int) -> Transport:
    if name == "aiohttp":
        return NativeTransport(max_connections)
    limits = httpx.Limits(
        max_connections=max_connections, max_keepalive_connections=max_connections
    )
    return httpx.AsyncHTTPTransport(limits=limits)


class OpenAICompatUpstream:
    def __init__(
        self,
        *,
        base_url: str,
        api_key: str | None,
        transport: Transport,
        connect_timeout_s: float,
        read_timeout_s: float,
    ) -> None:
        self._headers = {"content-type": "application/json", "accept-encoding": "identity"}
        if api_key:
            self._headers["authorization"] = f"Bearer {api_key}"
        self._secrets = (api_key,) if api_key else ()
        # httpx's Request/Response and transports, without AsyncClient's per-request layers
        # (cookies, auth, redirects, hooks): the profile put them at a third of our CPU.
        self._transport = transport
        self._urls = {op: httpx.URL(f"{base_url}{path}") for op, (path, _) in PATHS.items()}
        self._models_url = httpx.URL(f"{base_url}/models")
        self._timeout = {
            "connect": connect_timeout_s,
            "read": read_timeout_s,
            "write": read_timeout_s,
            "pool": connect_timeout_s,
        }

    async def complete(self, call: Call) -> Reply:
        started = time.perf_counter()
        response = await self._send(call, started)
        try:
            body = await _read_capped(response)
        except httpx.HTTPError as exc:
            raise map_transport_error(exc, started) from exc
        finally:
            await response.aclose()
        if response.status_code >= 400:
            raise status_error(response.status_code, body, response.headers, self._secrets)
        try:
            obj = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise UpstreamProtocolError("upstream returned a body that is not JSON") from None
        required = PATHS[call.operation][1]
        if not isinstance(obj, dict) or not isinstance(obj.get(required), list):
            raise UpstreamProtocolError(f"upstream returned JSON without a '{required}' array")
        return Reply(
            body=body, usage=parse_usage(obj.get("usage")), headers=_rate_headers(response.headers)
        )

    async def open_stream(self, call: Call) -> SseStream:
        started = time.perf_counter()
        response = await self._send(call, started)
        if response.status_code >= 400:
            try:
                content = await _read_capped(response)
            except (httpx.HTTPError, UpstreamProtocolError):
                content = b""
            finally:
                await response.aclose()
            raise status_error(response.status_code, content, response.headers, self._secrets)
        stream = SseStream(
            response, strip_usage=not call.client_wants_usage, started=started, resume=call.resume
        )
        try:
            await stream.prime()
        except BaseException:
            await stream.aclose()
            raise
        return stream

    async def aclose(self) -> None:
        await self._transport.aclose()

    async def probe(self) -> bool:
        timeout = {k: min(v, 5.0) for k, v in self._timeout.items()}
        try:
            response = await self._request("GET", self._models_url, self._headers, None, timeout)
            await response.aread()
            await response.aclose()
        except httpx.HTTPError:
            return False
        return response.status_code < 400

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

    async def _send(self, call: Call, started: float) -> Response:
        url = self._urls.get(call.operation)
        if url is None:  # routing keeps such requests away; a guard, not a path
            raise UpstreamProtocolError(f"an OpenAI-compatible API does not serve {call.operation}")
        body: dict[str, Any] = dict(call.body)
        body["model"] = call.upstream_model
        if call.stream:
            body["stream"] = True
            if call.operation in _STREAM_OPTIONS:
                # Usage is how we bill a stream: ask for it even if the client did not.
                opts = body.get("stream_options")
                body["stream_options"] = {
                    **(opts if isinstance(opts, dict) else {}),
                    "include_usage": True,
                }
        headers = {**self._headers, "x-request-id": call.request_id}
        try:
            return await self._request(
                "POST", url, headers, orjson.dumps(body), self._timeouts(call)
            )
        except httpx.HTTPError as exc:
            raise map_transport_error(exc, started) from exc


class SseStream:
    """Relays an upstream SSE body event by event, noting TTFT and the usage chunk on the way."""

    def __init__(
        self, response: Response, *, strip_usage: bool, started: float, resume: bool = False
    ) -> None:
        self._response = response
        self._raw = response.aiter_raw()
        self._strip_usage = strip_usage
        self._started = started
        self._splitter = EventSplitter()
        self._pending: list[bytes] = []
        self._done = False
        self.headers: Mapping[str, str] = _rate_headers(response.headers)
        self.ttft_ms = 0.0
        self.usage: Usage | None = None
        self.completion_events = 0
        self.truncated = False
        self.malformed = False
        self.failure: tuple[str, str] | None = None
        self._resume = resume
        self._text: list[str] = []

    async def prime(self) -> None:
        """Read until the first event: until then the router may still fail over."""
        while not self._pending:
            try:
                chunk = await self._raw.__anext__()
            except StopAsyncIteration:
                raise UpstreamProtocolError("upstream closed the stream before any event") from None
            except httpx.HTTPError as exc:
                raise map_transport_error(exc, self._started) from exc
            self._pending = self._filter(self._splitter.feed(chunk))
            if self.malformed and not self._pending:
                raise UpstreamProtocolError("upstream sent a malformed first event")
        self.ttft_ms = (time.perf_counter() - self._started) * 1000

    async def __aiter__(self) -> AsyncIterator[bytes]:
        if self._pending:
            yield b"".join(self._pending)
            self._pending = []
        while not self._done:
            try:
                chunk = await self._raw.__anext__()
            except StopAsyncIteration:
                break
            except httpx.HTTPError as exc:
                self.failure = (
                    f"upstream stream broke: {type(exc).__name__}",
                    "upstream_stream_error",
                )
                break
            events = self._filter(self._splitter.feed(chunk))
            if events:
                yield b"".join(events)
        if self.malformed:
            self.failure = ("upstream sent a malformed event", "upstream_malformed_chunk")
        elif not self._done and self.failure is None:
            self.failure = ("upstream ended the stream before [DONE]", "upstream_stream_truncated")
        if self.failure is not None:
            self.truncated = True
            if not self._resume:  # else the router decides: continue elsewhere, or report it
                yield error_event(*self.failure)

    def partial_text(self) -> str:
        return "".join(self._text)

    def _filter(self, events: list[bytes]) -> list[bytes]:
        out = []
        if self._splitter.overflow:
            self.malformed = self._done = True  # an event past MAX_EVENT_BYTES: give up
        for event in events:
            event = sse_lines_only(event)
            if not event:
                continue
            if event.startswith(DONE):
                self._done = True
                out.append(event + b"\n\n")
                break
            if not well_formed(event):
                self.malformed = True
                self._done = True  # nothing after a broken event can be trusted
                break
            usage, usage_only = usage_of(event)
            if usage is not None:
                self.usage = usage
                if usage_only and self._strip_usage:
                    continue
            if event.startswith(b"data:"):
                self.completion_events += 1
                if self._resume:
                    self._text.append(delta_text(event))
            out.append(event + b"\n\n")
        return out

    async def aclose(self) -> None:
        await self._response.aclose()


async def _read_capped(response: Response) -> bytes:
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


def map_transport_error(exc: httpx.HTTPError, started: float) -> UpstreamError:
    """Foreign exceptions mapped by type, once, here (aiohttp's arrive as httpx's)."""
    elapsed = time.perf_counter() - started
    if isinstance(exc, httpx.TimeoutException):
        return UpstreamTimeout(f"upstream timed out after {elapsed:.1f}s")
    return UpstreamConnectError(
        f"upstream connection failed: {type(exc.__cause__ or exc).__name__}"
    )


def status_error(
    status: int, content: bytes, headers: Mapping[str, str], secrets: Sequence[str] = ()
) -> UpstreamStatusError:
    """The vendor's error, its body kept for pass-through (capped, credentials scrubbed)."""
    retry_after: float | None = None
    raw = headers.get("retry-after")
    if raw:
        try:
            retry_after = float(raw)
        except ValueError:
            retry_after = None
    return UpstreamStatusError(
        f"upstream answered {status}",
        upstream_status=status,
        upstream_body=redact(content[:65536], secrets),
        retry_after_s=retry_after,
    )


def _rate_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {k: headers[k] for k in _RATE_HEADERS if k in headers}
