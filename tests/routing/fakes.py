"""A scripted fake Upstream for router tests: no simulator, no HTTP.

Each provider gets a script, one step per call it will receive, in order: a Reply to answer
with, an exception to raise, a Stream to open, or Slow(seconds, step) to wait first. A call
beyond its script fails the test. Every call lands in one shared log, in the order received.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from gateway.core.usage import Usage
from gateway.ledger.record import SpendRecord
from gateway.upstream.base import Call, Reply, StreamReply, Upstream
from gateway.upstream.sse import error_event

DONE = b"data: [DONE]\n\n"


def delta(text: str) -> bytes:
    """One streamed chat chunk carrying `text`, framed as the relay passes it on."""
    chunk = {
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": {"content": text}}],
    }
    return b"data: " + orjson.dumps(chunk) + b"\n\n"


def reply(text: str, prompt_tokens: int = 5, completion_tokens: int = 3) -> Reply:
    body = {"object": "chat.completion", "choices": [{"message": {"content": text}}]}
    return Reply(orjson.dumps(body), Usage(prompt_tokens, completion_tokens))


@dataclass(frozen=True, slots=True)
class Stream:
    """Open a stream whose events carry `texts`; with `breaks` (message, code) it ends without
    [DONE] after them, as an upstream connection that dropped."""

    texts: tuple[str, ...]
    breaks: tuple[str, str] | None = None


@dataclass(frozen=True, slots=True)
class Slow:
    """Wait `seconds` (real time), then do `then`."""

    seconds: float
    then: Step


Step = Reply | Stream | Slow | BaseException


@dataclass(frozen=True, slots=True)
class Seen:
    """One call as the fake received it."""

    deployment: str  # provider/upstream_model
    body: Mapping[str, Any]
    stream: bool
    resume: bool


class FakeStream:
    """A StreamReply over scripted events; mirrors SseStream's handling of a break."""

    def __init__(self, script: Stream, *, resume: bool) -> None:
        self._script = script
        self._resume = resume
        self._text: list[str] = []
        self.ttft_ms = 1.0
        self.headers: Mapping[str, str] = {}
        self.usage: Usage | None = None
        self.completion_events = 0
        self.truncated = False
        self.failure: tuple[str, str] | None = None
        self.closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for text in self._script.texts:
            self.completion_events += 1
            if self._resume:
                self._text.append(text)
            yield delta(text)
        if self._script.breaks is None:
            self.usage = Usage(5, self.completion_events)
            yield DONE
            return
        self.failure = self._script.breaks
        self.truncated = True
        if not self._resume:  # else the router decides: continue elsewhere, or report it
            yield error_event(*self.failure)

    def partial_text(self) -> str:
        return "".join(self._text)

    def error_event(self, message: str, code: str) -> bytes:
        return error_event(message, code)

    async def aclose(self) -> None:
        self.closed = True


class Fakes:
    """The fake upstreams of one test, by provider, sharing one log of calls."""

    def __init__(self, scripts: Mapping[str, Iterable[Step]]) -> None:
        self.calls: list[Seen] = []
        self.cancelled: list[str] = []  # deployments whose call was cancelled mid-wait
        self.streams: list[FakeStream] = []
        self._call_seen = asyncio.Condition()
        self.upstreams: dict[str, Upstream] = {
            provider: FakeUpstream(provider, steps, self) for provider, steps in scripts.items()
        }

    @property
    def called(self) -> list[str]:
        return [seen.deployment for seen in self.calls]

    async def received(self, n: int) -> None:
        """Return once `n` calls have come in."""
        async with self._call_seen:
            await self._call_seen.wait_for(lambda: len(self.calls) >= n)

    async def record(self, seen: Seen) -> None:
        async with self._call_seen:
            self.calls.append(seen)
            self._call_seen.notify_all()


@dataclass
class FakeUpstream:
    provider: str
    steps: Iterable[Step]
    fakes: Fakes
    _left: deque[Step] = field(init=False)

    def __post_init__(self) -> None:
        self._left = deque(self.steps)

    async def complete(self, call: Call) -> Reply:
        answer = await self._next(call)
        assert isinstance(answer, Reply), f"{self.provider}: scripted {answer!r} for complete()"
        return answer

    async def open_stream(self, call: Call) -> StreamReply:
        answer = await self._next(call)
        assert isinstance(answer, Stream), f"{self.provider}: scripted {answer!r} for a stream"
        stream = FakeStream(answer, resume=call.resume)
        self.fakes.streams.append(stream)
        return stream

    async def probe(self) -> bool:
        return True

    async def aclose(self) -> None:
        pass

    async def _next(self, call: Call) -> Reply | Stream:
        deployment = f"{self.provider}/{call.upstream_model}"
        await self.fakes.record(Seen(deployment, call.body, call.stream, call.resume))
        assert self._left, f"unexpected call to {deployment}: its script is used up"
        step = self._left.popleft()
        while isinstance(step, Slow):
            try:
                await asyncio.sleep(step.seconds)
            except asyncio.CancelledError:
                self.fakes.cancelled.append(deployment)
                raise
            step = step.then
        if isinstance(step, BaseException):
            raise step
        return step


class Pauses:
    """The router's injected sleep: records each pause and returns at once."""

    def __init__(self) -> None:
        self.seen: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.seen.append(seconds)


class FakeLedger:
    def __init__(self) -> None:
        self.records: list[SpendRecord] = []

    def submit(self, record: SpendRecord) -> None:
        self.records.append(record)

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        pass
