"""Relay an upstream SSE body, in any dialect: note TTFT, keep the usage, cut a broken or
truncated stream with an error event in the dialect's shape.

A dialect (OpenAI chat chunks, Anthropic Messages events) says what ends a stream, where the
usage is, which events carry content, and how an error event looks; the relay is the same.

The guarantee about what reaches the client is structural: whole events only (one torn across
reads is put back together first), only SSE field lines, and every data event's payload a JSON
object in shape (`{...}`); a broken event ends the stream with an error event, and a broken
first event is a failure the router may still fail over from. Only what is read is parsed in
full: the first event, the usage, the end (and the text, on resumable routes). A payload shaped
like an object but not JSON inside (`{bad}`) past the first event reaches the client as it came;
a translated stream parses every event and ends with an error event there.

Most reads are plain events only (`PlainEvents`): checked in C over the whole read and relayed
as the same bytes object, with no split, no per-event work and no copy.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping
from typing import Protocol

import httpx

from gateway.core.usage import Usage
from gateway.errors import UpstreamProtocolError
from gateway.upstream.sse import EventSplitter, PlainEvents, parses, sse_lines_only, well_formed
from gateway.upstream.transport import Response, map_transport_error


class SseDialect(Protocol):
    end_name: str  # what a clean end is called, for the truncation message
    plain: PlainEvents  # its events relayed as they come: no usage, not the end, sound in shape

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
        self._pending = b""
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
            self._pending = self._relay(chunk)
            if self.malformed and not self._pending:
                raise UpstreamProtocolError("upstream sent a malformed first event")
        # The first event is parsed in full: a garbled one is still a failure to fail over from.
        first = self._pending[: self._pending.find(b"\n\n")]
        if not self._dialect.is_end(first) and not parses(first):
            raise UpstreamProtocolError("upstream sent a malformed first event")
        self.ttft_ms = (time.perf_counter() - self._started) * 1000

    async def __aiter__(self) -> AsyncIterator[bytes]:
        if self._pending:
            yield self._pending
            self._pending = b""
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
            data = self._relay(chunk)
            if data:
                yield data
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

    def _relay(self, chunk: bytes) -> bytes:
        """What of this read goes to the client: its whole events, checked, the usage noted."""
        data = self._splitter.take(chunk)
        # (on resumable routes every content event's text is read: event by event)
        out = self._events(data) if self._resume else self._runs(data)
        if self._splitter.overflow:
            self.malformed = self._done = True  # an event past MAX_EVENT_BYTES: give up
        return out

    def _runs(self, data: bytes) -> bytes:
        """Runs of plain events as they came; the events between them one by one."""
        plain, size = self._dialect.plain, len(data)
        stops = plain.stops(data)
        out, pos, stop = [], 0, 0
        while pos < size:
            while stops[stop] < pos:
                stop += 1
            end, content = plain.run(data, pos, stops[stop])
            self.completion_events += content
            if end == size and not pos:
                return data  # the usual read: all plain, as it came
            out.append(data[pos:end])
            if end == size:
                break
            pos = data.find(b"\n\n", end) + 2  # (data ends with a blank line)
            out.append(self._event(data[end : pos - 2]))
            if self._done:
                break
        return b"".join(out)

    def _events(self, data: bytes) -> bytes:
        out = []
        for raw in data.split(b"\n\n"):
            out.append(self._event(raw))
            if self._done:
                break
        return b"".join(out)

    def _event(self, raw: bytes) -> bytes:
        """One event, checked and accounted: what of it goes to the client."""
        dialect = self._dialect
        event = sse_lines_only(raw)
        if not event:
            return b""
        if dialect.is_end(event):
            self._done = True
            usage, _ = dialect.usage(event, self.usage)  # (Responses: the end carries it)
            self.usage = usage or self.usage
            return event + b"\n\n"
        if not well_formed(event):
            self.malformed = True
            self._done = True  # nothing after a broken event can be trusted
            return b""
        usage, usage_only = dialect.usage(event, self.usage)
        if usage is not None:
            self.usage = usage
            if usage_only and self._strip_usage:
                return b""
        if dialect.is_content(event):
            self.completion_events += 1
            if self._resume:
                self._text.append(dialect.text(event))
        return event + b"\n\n"

    async def aclose(self) -> None:
        await self._response.aclose()
