"""A lean HTTP/1.1 keep-alive load generator: closed-loop workers on asyncio streams (uvloop).

Hand-written rather than aiohttp's client so that the client costs little CPU: the client and
the simulator share one core, and every microsecond they spend is one the proxy can't be
measured against.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import orjson

HOST = "127.0.0.1"
PATH = "/v1/chat/completions"
MESSAGES_PATH = "/v1/messages"
ANTHROPIC_VERSION = "2023-06-01"
PROMPT = "Say hello in a few words."
REPLY_TOKENS = 16  # a whole answer's length
STREAM_TOKENS = 64  # a stream's: one event per token (the simulator's output_tokens is 64)


class HttpError(RuntimeError):
    pass


def _request(port: int, path: str, body: dict[str, object], headers: str = "") -> bytes:
    content = orjson.dumps(body)
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\ncontent-type: application/json\r\n"
        f"accept: */*\r\n{headers}content-length: {len(content)}\r\n\r\n"
    )
    return head.encode() + content


def chat_request(port: int, *, model: str, stream: bool, headers: str = "") -> bytes:
    """The raw bytes of one chat-completions request (the same workload for every target);
    `headers`: more header lines, each ending in CRLF (an `authorization` for the auth targets)."""
    body: dict[str, object] = {
        "model": model,
        "messages": [{"role": "user", "content": PROMPT}],
        "max_tokens": STREAM_TOKENS if stream else REPLY_TOKENS,
    }
    if stream:
        body["stream"] = True
    return _request(port, PATH, body, headers)


def messages_request(port: int, *, model: str, stream: bool, headers: str = "") -> bytes:
    """The raw bytes of one Anthropic Messages request: the chat workload in Messages' shape."""
    body: dict[str, object] = {
        "model": model,
        "max_tokens": STREAM_TOKENS if stream else REPLY_TOKENS,
        "messages": [{"role": "user", "content": PROMPT}],
    }
    if stream:
        body["stream"] = True
    version = f"anthropic-version: {ANTHROPIC_VERSION}\r\n"
    return _request(port, MESSAGES_PATH, body, version + headers)


def _is_chat_reply(body: bytes) -> bool:
    return b'"choices"' in body


def _is_chat_stream(sse: bytes) -> bool:
    return b"data: [DONE]" in sse


def _is_message(body: bytes) -> bool:
    try:
        reply = orjson.loads(body)
    except orjson.JSONDecodeError:
        return False
    return isinstance(reply, dict) and reply.get("type") == "message"


def _is_message_stream(sse: bytes) -> bool:
    """The last event of the stream is `message_stop`."""
    events = sse.replace(b"\r\n", b"\n").strip().split(b"\n\n")
    return events[-1].startswith(b"event: message_stop")


@dataclass(frozen=True, slots=True)
class Workload:
    """What the clients of a target send (one dialect) and what a right answer looks like."""

    name: str
    build: Callable[..., bytes]  # (port, *, model, stream, headers) -> the raw request
    is_reply: Callable[[bytes], bool]
    is_stream: Callable[[bytes], bool]
    reply_is: str  # what is_reply checks, for the error message
    stream_is: str
    headers: str = ""  # more header lines of every request (CRLF-terminated): an API key

    def request(self, port: int, model: str, *, stream: bool) -> bytes:
        return self.build(port, model=model, stream=stream, headers=self.headers)

    def with_headers(self, headers: str) -> Workload:
        """The same workload, every request also carrying `headers`."""
        return dataclasses.replace(self, headers=headers)

    async def check(self, port: int, model: str) -> None:
        """One whole and one streamed request; RuntimeError if either answer is wrong."""
        body = await fetch(port, self.request(port, model, stream=False))
        if not self.is_reply(body):
            raise RuntimeError(f"not {self.reply_is}: {body[:300]!r}")
        sse = await fetch(port, self.request(port, model, stream=True))
        if not self.is_stream(sse):
            raise RuntimeError(f"not {self.stream_is}: {sse[-300:]!r}")


CHAT = Workload(
    "chat", chat_request, _is_chat_reply, _is_chat_stream,
    "a chat completion", "an SSE stream ending in [DONE]",
)  # fmt: skip
MESSAGES = Workload(
    "messages", messages_request, _is_message, _is_message_stream,
    'a Messages reply ("type": "message")', "a Messages stream ending in event: message_stop",
)  # fmt: skip


class Conn:
    """One keep-alive connection; one request at a time."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    @classmethod
    async def open(cls, port: int) -> Conn:
        reader, writer = await asyncio.open_connection(HOST, port)
        return cls(reader, writer)

    async def exchange(self, request: bytes, *, keep: bool = False) -> tuple[float, bytes]:
        """Send one request and read its whole response.

        Returns when the first body bytes arrived (perf_counter) and, with keep, the body.
        """
        self._writer.write(request)
        reader = self._reader
        head = await reader.readuntil(b"\r\n\r\n")
        lower = head.lower()
        at = lower.find(b"\r\ncontent-length:")
        if at >= 0:
            end = lower.index(b"\r\n", at + 2)
            body = await reader.readexactly(int(head[at + 17 : end]))
            first = time.perf_counter()
        elif b"\r\ntransfer-encoding: chunked" in lower:
            first, body = await self._chunked(keep or head[9:12] != b"200")
        else:
            raise HttpError(f"response with neither length nor chunks: {head[:200]!r}")
        if head[9:12] != b"200":
            raise HttpError(f"{head[:12].decode(errors='replace')}: {body[:300]!r}")
        return first, body if keep else b""

    async def _chunked(self, keep: bool) -> tuple[float, bytes]:
        reader = self._reader
        first = 0.0
        parts: list[bytes] = []
        while True:
            line = await reader.readuntil(b"\r\n")
            size = int(line.split(b";", 1)[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")  # no trailers expected
                return first, b"".join(parts)
            chunk = await reader.readexactly(size + 2)
            if not first:
                first = time.perf_counter()
            if keep:
                parts.append(chunk[:-2])

    async def close(self) -> None:
        self._writer.close()
        with contextlib.suppress(OSError):
            await self._writer.wait_closed()


@dataclass(frozen=True, slots=True)
class Phase:
    """What the client saw during one phase: per-request times in seconds, and the wall time."""

    latencies: list[float]  # request written -> whole response read
    ttfb: list[float]  # request written -> first body bytes
    wall_s: float

    @property
    def rps(self) -> float:
        return len(self.latencies) / self.wall_s if self.wall_s > 0 else 0.0


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile (pct in 0..100) of unsorted values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = min(len(ordered) - 1, max(0, math.ceil(pct / 100 * len(ordered)) - 1))
    return ordered[rank]


async def run_phase(port: int, request: bytes, *, concurrency: int, requests: int) -> Phase:
    """`requests` requests from `concurrency` connections, each sending the next at once."""
    conns = [await Conn.open(port) for _ in range(concurrency)]
    latencies: list[float] = []
    ttfb: list[float] = []
    left = [requests]

    async def worker(conn: Conn) -> None:
        while left[0] > 0:
            left[0] -= 1
            t0 = time.perf_counter()
            first, _ = await conn.exchange(request)
            latencies.append(time.perf_counter() - t0)
            ttfb.append(first - t0)

    try:
        started = time.perf_counter()
        await asyncio.gather(*(worker(c) for c in conns))
        wall = time.perf_counter() - started
    finally:
        await asyncio.gather(*(c.close() for c in conns))
    return Phase(latencies, ttfb, wall)


async def fetch(port: int, request: bytes) -> bytes:
    """One request on a fresh connection; the body (raises HttpError unless 200)."""
    conn = await Conn.open(port)
    try:
        _, body = await conn.exchange(request, keep=True)
        return body
    finally:
        await conn.close()
