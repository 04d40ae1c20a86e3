"""What a simulated vendor answers (text or one tool call), how fast, and how a stream is paced."""

from __future__ import annotations

import asyncio
import math
import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

import orjson

from gateway.sim import text, wire

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable

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


def output_tokens(req: wire.ChatRequest, natural: int) -> int:
    """Tokens per choice: the vendor's natural length, capped by the request's max tokens."""
    return natural if req.max_tokens is None else min(req.max_tokens, natural)


class Writer(Protocol):
    async def write(self, data: bytes) -> None: ...


class StreamCut(Exception):
    """A `cut` fault closed the connection: the rest of the stream is not sent."""


@dataclass(frozen=True, slots=True)
class StreamFault:
    """A fault to inject into one stream, after `after_chunks` events (before [DONE] at the
    latest). `close` drops the connection; `hold` returns once the vendor's stall is over."""

    kind: Literal["cut", "stall", "malformed"]
    after_chunks: int
    close: Callable[[], None]
    hold: Callable[[], Awaitable[None]]


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
                self._sent >= self._fault.after_chunks or event == wire.DONE_EVENT
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
            await self._resp.write(BROKEN_EVENT)
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
    finish_reason: str

    @classmethod
    def build(cls, req: wire.ChatRequest, *, natural: int, cid: str) -> Answer:
        created = int(time.time())
        if req.tool_name is not None:
            key = text.prompt_key(req.prompt)
            args = orjson.dumps({"query": text.token(key, 0).strip()}).decode()
            call = wire.ToolCall(id=f"call_sim_{key:08x}", name=req.tool_name, arguments=args)
            used = max(1, math.ceil((len(req.tool_name) + len(args)) / 4))
            return cls(cid, created, [], call, used, "tool_calls")
        count = output_tokens(req, natural)
        capped = req.max_tokens is not None and req.max_tokens < natural
        finish_reason = "length" if capped else "stop"
        return cls(cid, created, text.tokens(req.prompt, count), None, count, finish_reason)

    async def stream(
        self,
        request: web.Request,
        resp: web.StreamResponse,
        req: wire.ChatRequest,
        tokens_per_s: Rate,
        stats: VendorStats,
        fault: StreamFault | None = None,
    ) -> None:
        """Send the answer as server-sent events, paced, counting what was sent in `stats`."""
        encoder = wire.ChunkEncoder(
            cid=self.cid,
            created=self.created,
            model=req.model,
            n=req.n,
            include_usage=req.include_usage,
        )
        produced = 0
        out: Writer = resp if fault is None else FaultyWriter(resp, fault)
        try:
            await resp.prepare(request)
            stats.answered(200)
            if self.tool_call is not None:
                delta = {"role": "assistant", "content": None}
                tool_calls = [{"index": 0, **wire.tool_call_dict(self.tool_call)}]
                await out.write(encoder.event({**delta, "tool_calls": tool_calls}))
                produced = self.completion_tokens
            else:
                async for written in paced_tokens(out, encoder, self.tokens, tokens_per_s):
                    produced = written
            await out.write(encoder.event({}, self.finish_reason))
            if req.include_usage:
                usage = wire.usage(req.prompt_tokens, self.completion_tokens * req.n)
                await out.write(encoder.usage_event(usage))
            await out.write(wire.DONE_EVENT)
            await resp.write_eof()
        except StreamCut:
            pass
        except ConnectionResetError:
            stats.disconnects += 1
        finally:
            stats.completion_tokens += produced * req.n

    def completion_body(self, req: wire.ChatRequest) -> bytes:
        return wire.completion_body(
            cid=self.cid,
            created=self.created,
            model=req.model,
            n=req.n,
            content=None if self.tool_call is not None else "".join(self.tokens),
            tool_call=self.tool_call,
            finish_reason=self.finish_reason,
            usage=wire.usage(req.prompt_tokens, self.completion_tokens * req.n),
        )


async def paced_tokens(
    resp: Writer,
    encoder: wire.ChunkEncoder,
    tokens: list[str],
    tokens_per_s: Rate,
) -> AsyncIterator[int]:
    """Write one event per token at `tokens_per_s`; yields how many tokens are written so far.

    Tokens due within MIN_SLEEP_S of each other go out in one write, so a fast vendor costs a
    few wake-ups per stream rather than one per token. A batch leaves when its last token is due.
    A callable rate is read again before each batch (an engine's decode speed follows its load).
    """
    if not tokens:
        await resp.write(encoder.event({"role": "assistant", "content": ""}))
        return
    rate: Callable[[], float] | None = None
    if callable(tokens_per_s):
        rate, interval = tokens_per_s, 0.0
    else:
        interval = 1.0 / tokens_per_s
    loop = asyncio.get_running_loop()
    due = loop.time()  # when token `done` is due
    done = 0
    while done < len(tokens):
        if rate is not None:
            interval = 1.0 / rate()
        end = min(len(tokens), done + max(1, math.ceil(MIN_SLEEP_S / interval)))
        last_due = due + (end - 1 - done) * interval
        delay = last_due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        events = [encoder.event({"content": tokens[i]}) for i in range(done, end)]
        if done == 0:
            events[0] = encoder.event({"role": "assistant", "content": tokens[0]})
        await resp.write(b"".join(events))
        due = last_due + interval
        done = end
        yield done
