"""What a simulated vendor answers (text or one tool call), how fast, and how a stream is paced."""

from __future__ import annotations

import asyncio
import math
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

import orjson

from gateway.sim import text, wire

if TYPE_CHECKING:
    from aiohttp import web

    from gateway.sim.stats import VendorStats

    Rate = float | Callable[[], float]  # tokens per second, fixed or read again as load changes

MIN_SLEEP_S = 0.005  # stream pacing sleeps at least this long, batching tokens when faster
BROKEN_EVENT = b"data: {broken\n\n"  # what a `malformed` fault sends in a stream
_SUFFIX = re.compile(r"-(?:ttft-(\d+)ms|error-(\d{3}))$")


def split_model(name: str) -> tuple[str, float | None, int | None]:
    """Strip behaviour suffixes: `m-ttft-800ms` -> ttft 800, `m-error-429` -> always 429."""
    ttft_ms: float | None = None
    status: int | None = None
    while match := _SUFFIX.search(name):
        if match[1] is not None:
            ttft_ms = ttft_ms if ttft_ms is not None else float(match[1])
        else:
            status = status if status is not None else int(match[2])
        name = name[: match.start()]
    return name, ttft_ms, status


class Asked(Protocol):
    """What an answer depends on: a chat, legacy completion or Messages request."""

    @property
    def prompt(self) -> str: ...

    @property
    def max_tokens(self) -> int | None: ...

    @property
    def tool_name(self) -> str | None: ...


def output_tokens(req: Asked, natural: int) -> int:
    """Tokens per choice: the vendor's natural length, capped by the request's max tokens."""
    return natural if req.max_tokens is None else min(req.max_tokens, natural)


def finish_reason(max_tokens: int | None, natural: int) -> str:
    """`length` when the request's max tokens cut the natural answer short, else `stop`."""
    return "length" if max_tokens is not None and max_tokens < natural else "stop"


class Writer(Protocol):
    async def write(self, data: bytes) -> None: ...


class StreamCut(Exception):
    """A `cut` fault closed the connection: the rest of the stream is not sent."""


@dataclass(frozen=True, slots=True)
class StreamFault:
    """A fault to inject into one stream, after `after_chunks` events (before the last event,
    [DONE] or message_stop, at the latest). `close` drops the connection; `hold` returns once
    the vendor's stall is over."""

    kind: Literal["cut", "stall", "malformed"]
    after_chunks: int
    close: Callable[[], None]
    hold: Callable[[], Awaitable[None]]
    end: bytes = wire.DONE_EVENT  # how the stream's last event starts
    broken: bytes = BROKEN_EVENT  # what `malformed` sends


class FaultyWriter:
    """Writes SSE events one by one and strikes the fault once `after_chunks` went out."""

    def __init__(self, resp: Writer, fault: StreamFault) -> None:
        self._resp = resp
        self._fault = fault
        self._sent = 0
        self._struck = False

    async def write(self, data: bytes) -> None:
        events = [e + b"\n\n" for e in data.split(b"\n\n") if e]
        for i, event in enumerate(events):
            if not self._struck and (
                self._sent >= self._fault.after_chunks or event.startswith(self._fault.end)
            ):
                if i:
                    await self._resp.write(b"".join(events[:i]))
                events = events[i:]
                await self._strike()
                break
            self._sent += 1
        await self._resp.write(b"".join(events))

    async def _strike(self) -> None:
        self._struck = True
        fault = self._fault
        if fault.kind == "malformed":
            await self._resp.write(fault.broken)
        elif fault.kind == "stall":
            await fault.hold()  # the stall is over: the stream goes on
        else:
            fault.close()
            raise StreamCut


@dataclass(frozen=True, slots=True)
class Answer:
    """The deterministic answer to one request (the same for each of its `n` choices)."""

    cid: str
    created: int
    tokens: list[str]  # empty when answering with a tool call
    tool_call: wire.ToolCall | None
    completion_tokens: int  # per choice
    finish_reason: str  # stop, length or tool_calls

    @classmethod
    def build(cls, req: Asked, *, natural: int, cid: str) -> Answer:
        created = int(time.time())
        if req.tool_name is not None:
            key = text.prompt_key(req.prompt)
            args = orjson.dumps({"query": text.token(key, 0).strip()}).decode()
            call = wire.ToolCall(id=f"call_sim_{key:08x}", name=req.tool_name, arguments=args)
            used = max(1, math.ceil((len(req.tool_name) + len(args)) / 4))
            return cls(cid, created, [], call, used, "tool_calls")
        count = output_tokens(req, natural)
        finish = finish_reason(req.max_tokens, natural)
        return cls(cid, created, text.tokens(req.prompt, count), None, count, finish)


# Writes a stream's events and yields how many tokens (per choice) are sent so far.
Producer = Callable[[Writer], AsyncIterator[int]]


async def send_events(
    request: web.Request,
    resp: web.StreamResponse,
    stats: VendorStats,
    produce: Producer,
    *,
    fault: StreamFault | None = None,
    choices: int = 1,
) -> None:
    """Send a 200 stream of server-sent events, counting the tokens sent (times `choices`)."""
    produced = 0
    out: Writer = resp if fault is None else FaultyWriter(resp, fault)
    try:
        await resp.prepare(request)
        stats.answered(200, request.path)
        async for produced in produce(out):  # noqa: B007 (the last count is read below)
            pass
        await resp.write_eof()
    except StreamCut:
        pass
    except ConnectionResetError:
        stats.disconnects += 1
    finally:
        stats.completion_tokens += produced * choices


async def paced_tokens(
    resp: Writer,
    count: int,
    tokens_per_s: Rate,
    render: Callable[[int], bytes],
) -> AsyncIterator[int]:
    """Write `render(i)` for each token i at `tokens_per_s`; yields how many are written so far.

    Tokens due within MIN_SLEEP_S of each other go out in one write, so a fast vendor costs a
    few wake-ups per stream rather than one per token. A batch leaves when its last token is due.
    A callable rate is read again before each batch (an engine's decode speed follows its load).
    """
    rate: Callable[[], float] | None = None
    if callable(tokens_per_s):
        rate, interval = tokens_per_s, 0.0
    else:
        interval = 1.0 / tokens_per_s
    loop = asyncio.get_running_loop()
    due = loop.time()  # when token `done` is due
    done = 0
    while done < count:
        if rate is not None:
            interval = 1.0 / rate()
        end = min(count, done + max(1, math.ceil(MIN_SLEEP_S / interval)))
        last_due = due + (end - 1 - done) * interval
        delay = last_due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        await resp.write(b"".join([render(i) for i in range(done, end)]))
        due = last_due + interval
        done = end
        yield done
