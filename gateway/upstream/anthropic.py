"""Adapter for the Anthropic Messages API (kind: anthropic), on the same fast HTTP client as the
OpenAI path: `POST {base_url}/v1/messages`, `x-api-key`, `anthropic-version`.

The client's body goes through as it is but for the model name (prompt caching fields
included); the client's `anthropic-version` and `anthropic-beta` headers go along. Usage maps
onto ours with cache reads and writes apart (Anthropic counts them outside `input_tokens`);
`anthropic-ratelimit-*` headers feed quota headroom under the names the store reads.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import httpx
import orjson

from gateway.core.usage import CLAMPED, MAX_TOKENS, Usage, token_count
from gateway.errors import UpstreamProtocolError
from gateway.upstream.base import Call, Reply
from gateway.upstream.http_client import HttpUpstream
from gateway.upstream.sse import PlainEvents, event_object
from gateway.upstream.sse_stream import SseStream
from gateway.upstream.transport import Response, Transport

ANTHROPIC_VERSION = "2023-06-01"
_NOT_COUNTED = frozenset({"max_tokens", "stream", "temperature", "top_p", "top_k", "metadata"})
FORWARDED = ("anthropic-version", "anthropic-beta")
# Anthropic's rate-limit headers under the names quota headroom reads (x-ratelimit-*).
_RATE_HEADERS = {
    "anthropic-ratelimit-requests-limit": "x-ratelimit-limit-requests",
    "anthropic-ratelimit-requests-remaining": "x-ratelimit-remaining-requests",
    "anthropic-ratelimit-tokens-limit": "x-ratelimit-limit-tokens",
    "anthropic-ratelimit-tokens-remaining": "x-ratelimit-remaining-tokens",
    "retry-after": "retry-after",
}


def messages_usage(raw: object) -> Usage | None:
    """A Messages `usage` (reply, message_start or message_delta) as ours: prompt tokens are
    input + cache reads + cache writes; None when the counts are not counts."""
    if not isinstance(raw, dict):
        return None
    counts = [
        token_count(raw.get(k) or 0)
        for k in (
            "input_tokens",
            "cache_read_input_tokens",
            "cache_creation_input_tokens",
            "output_tokens",
        )
    ]
    if any(c is None for c in counts):
        return None
    fresh, read, written, output = (c or 0 for c in counts)
    return Usage(
        prompt_tokens=min(fresh + read + written, MAX_TOKENS),
        completion_tokens=output,
        cached_tokens=read,
        cache_write_tokens=written,
        note=CLAMPED if MAX_TOKENS in counts else None,
    )


class MessagesEvents:
    """The SSE dialect of Messages streams: `event: <type>` + `data:`, ending with
    message_stop; input usage in message_start, output usage in message_delta."""

    end_name = "message_stop"
    _END = b"event: message_stop"
    plain = PlainEvents.of(
        named=True, ends=(_END,), usage=rb'"usage"', content=b"event: content_block_delta"
    )

    def is_end(self, event: bytes) -> bool:
        return event.startswith(self._END)

    def usage(self, event: bytes, so_far: Usage | None) -> tuple[Usage | None, bool]:
        obj = event_object(event) if b'"usage"' in event else None
        if obj is None:
            return None, False
        if obj.get("type") == "message_start" and isinstance(obj.get("message"), dict):
            return messages_usage(obj["message"].get("usage")), False
        if obj.get("type") == "message_delta":
            delta = messages_usage(obj.get("usage"))
            if delta is None:
                return None, False
            base = so_far or Usage()
            # message_delta counts are cumulative; input counts appear there only sometimes.
            return (
                Usage(
                    prompt_tokens=delta.prompt_tokens or base.prompt_tokens,
                    completion_tokens=delta.completion_tokens,
                    cached_tokens=delta.cached_tokens or base.cached_tokens,
                    cache_write_tokens=delta.cache_write_tokens or base.cache_write_tokens,
                    note=delta.note or base.note,
                ),
                False,
            )
        return None, False

    def is_content(self, event: bytes) -> bool:
        return event.startswith(self.plain.content)

    def text(self, event: bytes) -> str:
        obj = event_object(event)
        delta = obj.get("delta") if obj is not None else None
        text = delta.get("text") if isinstance(delta, dict) else None
        return text if isinstance(text, str) else ""

    def error_event(self, message: str, code: str) -> bytes:
        return messages_error_event(message)


def messages_error_event(message: str, error_type: str = "api_error") -> bytes:
    body = {"type": "error", "error": {"type": error_type, "message": message}}
    return b"event: error\ndata: " + orjson.dumps(body) + b"\n\n"


MESSAGES_EVENTS = MessagesEvents()


class AnthropicUpstream(HttpUpstream):
    def __init__(
        self,
        *,
        base_url: str,
        api_key: str | None,
        transport: Transport,
        connect_timeout_s: float,
        read_timeout_s: float,
    ) -> None:
        headers = {"anthropic-version": ANTHROPIC_VERSION}
        if api_key:
            headers["x-api-key"] = api_key
        super().__init__(
            transport=transport,
            headers=headers,
            secrets=(api_key or "",),
            probe_url=f"{base_url}/v1/models",
            connect_timeout_s=connect_timeout_s,
            read_timeout_s=read_timeout_s,
        )
        self._url = httpx.URL(f"{base_url}/v1/messages")
        self._count_url = httpx.URL(f"{base_url}/v1/messages/count_tokens")

    async def count_tokens(self, call: Call) -> int:
        """The vendor's own count of a Messages body (free: no completion is billed)."""
        started = time.perf_counter()
        body: dict[str, Any] = {k: v for k, v in call.body.items() if k not in _NOT_COUNTED}
        body["model"] = call.upstream_model
        headers = {**self._headers, "x-request-id": call.request_id}
        headers.update((k, v) for k, v in call.headers.items() if k in FORWARDED)
        response = await self._post(self._count_url, call, orjson.dumps(body), headers, started)
        _, obj = await self._json_reply(response, started)
        count = token_count(obj.get("input_tokens")) if isinstance(obj, dict) else None
        if count is None:
            raise UpstreamProtocolError("upstream count_tokens reply has no input_tokens")
        return count

    async def complete(self, call: Call) -> Reply:
        started = time.perf_counter()
        response = await self._send(call, started)
        hints = _hints(response.headers)
        body, obj = await self._json_reply(response, started)
        if not isinstance(obj, dict) or not isinstance(obj.get("content"), list):
            raise UpstreamProtocolError("upstream returned JSON without a 'content' array")
        return Reply(body=body, usage=messages_usage(obj.get("usage")), headers=hints)

    async def open_stream(self, call: Call) -> SseStream:
        started = time.perf_counter()
        response = await self._send(call, started)
        hints = _hints(response.headers)
        # Messages streams carry their usage inside events clients expect: nothing is hidden.
        return await self._stream(
            response, MESSAGES_EVENTS, hints, call, started, strip_usage=False
        )

    async def _send(self, call: Call, started: float) -> Response:
        body: dict[str, Any] = dict(call.body)
        body["model"] = call.upstream_model
        if call.stream:
            body["stream"] = True
        headers = {**self._headers, "x-request-id": call.request_id}
        headers.update((k, v) for k, v in call.headers.items() if k in FORWARDED)
        return await self._post(self._url, call, orjson.dumps(body), headers, started)


def _hints(headers: Mapping[str, str]) -> dict[str, str]:
    return {ours: headers[theirs] for theirs, ours in _RATE_HEADERS.items() if theirs in headers}
