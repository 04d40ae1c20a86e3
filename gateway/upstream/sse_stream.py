"""Relay an upstream SSE body event by event, in any dialect: note TTFT, keep the usage, cut a
broken or truncated stream with an error event in the dialect's shape.

A dialect (OpenAI chat chunks, Anthropic Messages events) says what ends a stream, where the
usage is, which events carry content, and how an error event looks; the relay is the same.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping
from typing import Protocol

import httpx

from gateway.core.usage import Usage
from gateway.errors import UpstreamProtocolError
from gateway.upstream.sse import EventSplitter, sse_lines_only, well_formed
from gateway.upstream.transport import Response, map_transport_error


class SseDialect(Protocol):
    end_name: str  # what a clean end is called, for the truncation message

    def is_end(self, event: bytes) -> bool: ...

    def usage(self, event: bytes, so_far: Usage | None) -> tuple[Usage | None, bool]:
        """(the usage known after this event, or None; whether the event carries nothing else
        and may be hidden from a client that did not ask for usage)."""
        ...

    def is_content(self, event: bytes) -> bool: ...

    def text(self, event: bytes) -> str:
        """The answer's text in the event (for resume)."""
        ...

    def error_event(self, message: str, code: str) -> bytes: ...


class SseStream:
    """A StreamReply over an upstream SSE response."""

    def __init__(
        self,
        response: Response,
        dialect: SseDialect,
        *,
        headers: Mapping[str, str],
        strip_usage: bool,
        started: float,
        resume: bool = False,
    ) -> None:
        self._response = response
        self._raw = response.aiter_raw()
        self._dialect = dialect
        self._strip_usage = strip_usage
        self._started = started
        self._splitter = EventSplitter()
        self._pending: list[bytes] = []
        self._done = False
        self.headers = headers
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
            end = self._dialect.end_name
            self.failure = (f"upstream ended the stream before {end}", "upstream_stream_truncated")
        if self.failure is not None:
            self.truncated = True
            if not self._resume:  # else the router decides: continue elsewhere, or report it
                yield self._dialect.error_event(*self.failure)

    def partial_text(self) -> str:
        return "".join(self._text)

    def error_event(self, message: str, code: str) -> bytes:
        return self._dialect.error_event(message, code)

    def _filter(self, events: list[bytes]) -> list[bytes]:
        out = []
        dialect = self._dialect
        if self._splitter.overflow:
            self.malformed = self._done = True  # an event past MAX_EVENT_BYTES: give up
        for event in events:
            event = sse_lines_only(event)
            if not event:
                continue
            if dialect.is_end(event):
                self._done = True
                usage, _ = dialect.usage(event, self.usage)  # (Responses: the end carries it)
                self.usage = usage or self.usage
                out.append(event + b"\n\n")
                break
            if not well_formed(event):
                self.malformed = True
                self._done = True  # nothing after a broken event can be trusted
                break
            usage, usage_only = dialect.usage(event, self.usage)
            if usage is not None:
                self.usage = usage
                if usage_only and self._strip_usage:
                    continue
            if dialect.is_content(event):
                self.completion_events += 1
                if self._resume:
                    self._text.append(dialect.text(event))
            out.append(event + b"\n\n")
        return out

    async def aclose(self) -> None:
        await self._response.aclose()
