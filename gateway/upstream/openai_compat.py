"""Adapter for OpenAI-compatible HTTP APIs (chat, completions, embeddings, responses)."""

from __future__ import annotations

import time
from typing import Any

import httpx
import orjson

from gateway.core.operation import Operation
from gateway.core.usage import Usage
from gateway.errors import UpstreamProtocolError
from gateway.upstream.base import Call, Reply
from gateway.upstream.http_client import HttpUpstream, picked
from gateway.upstream.sse import (
    DONE,
    PlainEvents,
    delta_text,
    error_event,
    event_object,
    parse_usage,
    usage_of,
)
from gateway.upstream.sse_stream import SseDialect, SseStream
from gateway.upstream.transport import Response, Transport

# What an OpenAI-compatible server serves: operation -> (path under base_url, the key its reply
# must carry). A new OpenAI-style operation is one line here.
PATHS: dict[Operation, tuple[str, str]] = {
    Operation.CHAT: ("/chat/completions", "choices"),
    Operation.COMPLETIONS: ("/completions", "choices"),
    Operation.EMBEDDINGS: ("/embeddings", "data"),
    Operation.RESPONSES: ("/responses", "output"),
}
_STREAM_OPTIONS = frozenset({Operation.CHAT, Operation.COMPLETIONS})  # take include_usage
RATE_HEADERS = (
    "x-ratelimit-limit-requests",
    "x-ratelimit-limit-tokens",
    "x-ratelimit-remaining-requests",
    "x-ratelimit-remaining-tokens",
    "x-ratelimit-reset-requests",
    "x-ratelimit-reset-tokens",
    "retry-after",
)


class OpenAIChunks:
    """The SSE dialect of OpenAI streams: `data: {chunk}` events ending with `data: [DONE]`."""

    end_name = "[DONE]"
    # Usage rides in a chunk of its own at the end; `"usage":null` in every other is common.
    plain = PlainEvents.of(
        named=False, ends=(DONE,), usage=rb'"usage"\s*:(?!\s*null)', content=b"data:"
    )

    def is_end(self, event: bytes) -> bool:
        return event.startswith(DONE)

    def usage(self, event: bytes, so_far: Usage | None) -> tuple[Usage | None, bool]:
        return usage_of(event)

    def is_content(self, event: bytes) -> bool:
        return event.startswith(self.plain.content)

    def text(self, event: bytes) -> str:
        return delta_text(event)

    def error_event(self, message: str, code: str) -> bytes:
        return error_event(message, code)


OPENAI_CHUNKS = OpenAIChunks()


class ResponsesEvents:
    """The SSE dialect of Responses streams: `event: response.*` + `data:`, no [DONE]; the
    usage rides in the final response.completed (or .incomplete / .failed)."""

    end_name = "response.completed"
    _ENDS = (b"event: response.completed", b"event: response.incomplete", b"event: response.failed")
    plain = PlainEvents.of(
        named=True, ends=_ENDS, usage=None, content=b"event: response.output_text.delta"
    )

    def is_end(self, event: bytes) -> bool:
        return event.startswith(self._ENDS)

    def usage(self, event: bytes, so_far: Usage | None) -> tuple[Usage | None, bool]:
        if not event.startswith(self._ENDS):  # only the end event carries it
            return None, False
        obj = event_object(event)
        response = obj.get("response") if obj is not None else None
        usage = parse_usage(response.get("usage")) if isinstance(response, dict) else None
        return usage, False

    def is_content(self, event: bytes) -> bool:
        return event.startswith(self.plain.content)

    def text(self, event: bytes) -> str:
        return ""  # (Responses streams are not resumed)

    def error_event(self, message: str, code: str) -> bytes:
        body = {"type": "error", "code": code, "message": message, "param": None}
        return b"event: error\ndata: " + orjson.dumps(body) + b"\n\n"


RESPONSES_EVENTS = ResponsesEvents()
_STREAM_DIALECTS: dict[Operation, SseDialect] = {Operation.RESPONSES: RESPONSES_EVENTS}


class OpenAICompatUpstream(HttpUpstream):
    def __init__(
        self,
        *,
        base_url: str,
        api_key: str | None,
        transport: Transport,
        connect_timeout_s: float,
        read_timeout_s: float,
        auth_header: str = "authorization",  # Azure: api-key, the key as it is
        probe_url: str | None = None,
    ) -> None:
        auth = f"Bearer {api_key}" if auth_header == "authorization" else api_key
        super().__init__(
            transport=transport,
            headers={auth_header: auth} if api_key and auth else {},
            secrets=(api_key or "",),
            probe_url=probe_url or f"{base_url}/models",
            connect_timeout_s=connect_timeout_s,
            read_timeout_s=read_timeout_s,
        )
        self._urls = {op: httpx.URL(f"{base_url}{path}") for op, (path, _) in PATHS.items()}

    def _url(self, call: Call) -> httpx.URL | None:
        """Where this call goes (a subclass with per-model URLs overrides it)."""
        return self._urls.get(call.operation)

    def _hints(self, response: Response) -> dict[str, str]:
        """The rate-limit headers quota headroom reads, under the names it reads them by."""
        return picked(response.headers, RATE_HEADERS)

    async def complete(self, call: Call) -> Reply:
        started = time.perf_counter()
        response = await self._send(call, started)
        hints = self._hints(response)
        body, obj = await self._json_reply(response, started)
        required = PATHS[call.operation][1]
        if not isinstance(obj, dict) or not isinstance(obj.get(required), list):
            raise UpstreamProtocolError(f"upstream returned JSON without a '{required}' array")
        return Reply(body=body, usage=parse_usage(obj.get("usage")), headers=hints)

    async def open_stream(self, call: Call) -> SseStream:
        started = time.perf_counter()
        response = await self._send(call, started)
        dialect = _STREAM_DIALECTS.get(call.operation, OPENAI_CHUNKS)
        hints = self._hints(response)
        strip = not call.client_wants_usage
        return await self._stream(response, dialect, hints, call, started, strip_usage=strip)

    async def _send(self, call: Call, started: float) -> Response:
        url = self._url(call)
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
        return await self._post(url, call, orjson.dumps(body), headers, started)
