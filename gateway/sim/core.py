"""What every simulated endpoint shares: the vendor's state, and a request's way through auth,
outage, validation, model check, rate limits, simulated errors and faults to a counted reply.

The endpoints (chat.py, completions.py, embeddings.py, messages.py) parse their own bodies and
build their own answers; the dialect (dialect.py) words the refusals.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import socket
import struct
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, Literal, Protocol, TypeVar

import orjson
from aiohttp import web

from gateway.sim import wire
from gateway.sim.answer import BROKEN_EVENT, StreamFault, split_model
from gateway.sim.config import Fault, Outage, VendorSpec
from gateway.sim.dialect import Failure
from gateway.sim.limits import RateWindow
from gateway.sim.pool import Engine
from gateway.sim.prompt_cache import PromptCache
from gateway.sim.stats import VendorStats

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable

    from multidict import CIMultiDictProxy

    from gateway.sim.answer import Rate
    from gateway.sim.dialect import Dialect

# The VendorSpec fields that set_behaviour and POST /_sim/control may change at run time.
BEHAVIOUR_FIELDS = frozenset(
    {"ttft_ms", "ttft_jitter", "tokens_per_s", "output_tokens", "error_rate", "error_status"}
    | {"rpm", "tpm", "fault", "fault_after_chunks", "fault_rate", "embedding_dimensions"}
)
JSON = "application/json"
SSE_HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
_STREAM_FAULTS: dict[Fault, Literal["cut", "stall", "malformed"]] = {
    "cut": "cut",
    "stall": "stall",
    "malformed": "malformed",
}


class Parsed(Protocol):
    """A validated request body, whatever the endpoint."""

    @property
    def model(self) -> str: ...

    def budget(self, natural: int) -> int:
        """The tokens the rate window charges for it (prompt and expected answer)."""
        ...


P = TypeVar("P", bound=Parsed)


@dataclass(frozen=True, slots=True)
class Received:
    """The last request a vendor received, as it came: for pass-through assertions."""

    method: str
    path: str
    headers: CIMultiDictProxy[str]  # case-insensitive, as sent
    body: bytes  # the raw bytes

    def json(self) -> Any:
        return orjson.loads(self.body)


@dataclass(frozen=True, slots=True)
class Admitted(Generic[P]):
    """A request that passed every check and will be answered."""

    req: P
    ttft_ms: float | None  # from a `-ttft-NNNms` model suffix
    fault: Fault


class VendorCore:
    """The state of one simulated vendor and the request path all its endpoints share."""

    def __init__(self, name: str, spec: VendorSpec, dialect: Dialect) -> None:
        self.name = name
        self.spec = spec
        self.dialect = dialect
        self.stats = VendorStats()
        self.engine = Engine(spec.engine, self.stats) if spec.engine is not None else None
        self.window = RateWindow()
        self.prompt_cache = PromptCache()
        self.ids = itertools.count(1)
        self.started_at = 0.0
        self.last_request: Received | None = None
        self._errors = random.Random(spec.seed)
        self._jitter = random.Random(spec.seed + 1)
        self._faults = random.Random(spec.seed + 2)
        self._changed = asyncio.Event()  # set (and replaced) by every set_behaviour

    def set_behaviour(self, **fields: Any) -> VendorSpec:
        unknown = set(fields) - BEHAVIOUR_FIELDS
        if unknown:
            raise ValueError(f"not a behaviour field: {', '.join(sorted(unknown))}")
        self.spec = VendorSpec.model_validate({**self.spec.model_dump(), **fields})
        self._changed.set()  # wakes requests held by a stall or hang fault
        self._changed = asyncio.Event()
        return self.spec

    def reset(self) -> None:
        self.stats.reset()
        self.window.clear()
        self.prompt_cache.clear()
        if self.engine is not None:
            self.engine.reset()

    def serve(
        self, handler: Callable[[VendorCore, web.Request], Awaitable[web.StreamResponse]]
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        """An aiohttp handler for an endpoint: counted on arrival, in flight, when the client
        leaves."""

        async def handle(request: web.Request) -> web.StreamResponse:
            self.stats.arrived(time.monotonic(), request.path)
            try:
                return await handler(self, request)
            except asyncio.CancelledError:
                self.stats.disconnects += 1
                raise
            finally:
                self.stats.in_flight -= 1

        return handle

    # -- the request path ------------------------------------------------------------------

    async def admit(
        self, request: web.Request, parse: Callable[[bytes], P], *, limited: bool = True
    ) -> Admitted[P] | web.StreamResponse:
        """Check a request from its headers to its fault; an error reply when it fails.

        `limited=False` skips the rate window, simulated errors and faults (count_tokens)."""
        raw = await request.read()
        self.last_request = Received(request.method, request.path, request.headers, raw)
        spec = self.spec
        failure = self.dialect.check(request.headers, spec.api_key)
        if failure is not None:
            return self.fail(request, failure)
        refused = await self._during_outage(request)
        if refused is not None:
            return refused
        try:
            req = parse(raw)
        except wire.BadRequest as exc:
            return self.fail(request, Failure(400, exc.message, param=exc.param))
        base, ttft_ms, forced_status = split_model(req.model)
        if base not in spec.models:
            return self.fail(request, self.dialect.not_found(req.model))
        if not limited:
            return Admitted(req, ttft_ms, "none")
        tokens = req.budget(spec.output_tokens)
        refusal = self.window.admit(time.monotonic(), tokens, rpm=spec.rpm, tpm=spec.tpm)
        if refusal is not None:
            retry = {"Retry-After": str(refusal.retry_after_s)}
            return self.fail(request, self.dialect.rate_limited(refusal), **retry)
        roll = self._errors.random()
        status = forced_status or (spec.error_status if roll < spec.error_rate else None)
        if status is not None:
            headers = {"Retry-After": "1"} if status == 429 else {}
            return self.fail(request, self.dialect.simulated(status), **headers)
        fault = self._draw_fault()
        if fault == "reset":
            return self.abort(request)
        if fault == "hang":
            await self.hold("hang")
        return Admitted(req, ttft_ms, fault)

    @asynccontextmanager
    async def timing(
        self, prompt: str, prompt_tokens: int, kv_tokens: int, ttft_ms: float | None
    ) -> AsyncIterator[tuple[float, Rate]]:
        """The time to first token and decode speed of a request: an engine's (batching,
        prefix cache; a running sequence meanwhile) or the vendor's fixed ones."""
        if (engine := self.engine) is not None:
            async with engine.sequence(prompt, prompt_tokens, kv_tokens) as seq:
                ttft_s = seq.ttft_s if ttft_ms is None else ttft_ms / 1000
                yield ttft_s, engine.decode_tokens_per_s
            return
        spec = self.spec
        ttft_s = (ttft_ms if ttft_ms is not None else spec.ttft_ms) / 1000
        if spec.ttft_jitter:
            ttft_s *= 1 + self._jitter.uniform(-spec.ttft_jitter, spec.ttft_jitter)
        yield ttft_s, spec.tokens_per_s

    # -- replies ---------------------------------------------------------------------------

    def reply(self, request: web.Request, status: int, body: bytes, **headers: str) -> web.Response:
        """A JSON answer: counted in the stats, with the rate-limit headers."""
        self.stats.answered(status, request.path)
        headers.update(self.limit_headers())
        return web.Response(status=status, body=body, content_type=JSON, headers=headers)

    def fail(self, request: web.Request, failure: Failure, **headers: str) -> web.Response:
        return self.reply(request, failure.status, self.dialect.error_body(failure), **headers)

    async def respond(
        self,
        request: web.Request,
        body: bytes,
        fault: Fault,
        *,
        timing: tuple[float, Rate],
        decoded: int,
        usage: tuple[int, int],
    ) -> web.StreamResponse:
        """A whole (non-streamed) answer, sent once its `decoded` tokens (per choice) are;
        `usage` (prompt, completion tokens) is then counted. A `malformed`, `cut` or `stall`
        fault spoils the body."""
        ttft_s, tps = timing
        if callable(tps):  # an engine: the decode speed is the one after the first token
            await asyncio.sleep(ttft_s)
            ttft_s, tps = 0.0, tps()
        await asyncio.sleep(ttft_s + decoded / tps)
        self.stats.prompt_tokens += usage[0]
        self.stats.completion_tokens += usage[1]
        if fault == "malformed":
            return self.reply(request, 200, body[: len(body) // 2])  # cut short: not JSON
        if fault in ("cut", "stall"):
            return await self._partial_body(request, body, fault)
        return self.reply(request, 200, body)

    def open_stream(
        self,
        request: web.Request,
        fault: Fault,
        *,
        end: bytes = wire.DONE_EVENT,
        broken: bytes = BROKEN_EVENT,
    ) -> tuple[web.StreamResponse, StreamFault | None]:
        """A server-sent-events response (counted as streamed), and the stream's fault if any;
        `end` starts the stream's last event, `broken` is what a `malformed` fault sends."""
        resp = web.StreamResponse(headers={**SSE_HEADERS, **self.limit_headers()})
        self.stats.streamed += 1
        kind = _STREAM_FAULTS.get(fault)
        if kind is None:
            return resp, None

        def close() -> None:
            if request.transport is not None:
                request.transport.close()

        after = self.spec.fault_after_chunks
        return resp, StreamFault(kind, after, close, lambda: self.hold("stall"), end, broken)

    def abort(self, request: web.Request) -> web.Response:
        """Close the connection with a TCP reset; aiohttp then drops the unsent response."""
        self.stats.resets += 1
        transport = request.transport
        if transport is not None:
            sock = transport.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            transport.abort()
        return web.Response(status=503)

    def limit_headers(self) -> dict[str, str]:
        spec = self.spec
        if spec.rpm is None and spec.tpm is None:
            return {}
        headers = self.window.headers(time.monotonic(), rpm=spec.rpm, tpm=spec.tpm)
        return self.dialect.rate_headers(headers)

    # -- faults and outages ----------------------------------------------------------------

    def _draw_fault(self) -> Fault:
        """The fault this request gets: the vendor's, with probability `fault_rate` (seeded)."""
        spec = self.spec
        if spec.fault == "none":
            return "none"
        if spec.fault_rate < 1.0 and self._faults.random() >= spec.fault_rate:
            return "none"
        self.stats.faults += 1
        return spec.fault

    async def hold(self, fault: Fault) -> None:
        """Wait while the vendor's fault is still `fault` (cancelled if the client leaves)."""
        while self.spec.fault == fault:
            await self._changed.wait()

    async def _partial_body(
        self, request: web.Request, body: bytes, fault: Fault
    ) -> web.StreamResponse:
        """Headers and half a JSON body, then the connection is closed (cut) or kept silent."""
        resp = web.StreamResponse(headers={"Content-Type": JSON, **self.limit_headers()})
        resp.content_length = len(body)
        await resp.prepare(request)
        self.stats.answered(200, request.path)
        half = len(body) // 2
        await resp.write(body[:half])
        if fault == "stall":
            await self.hold("stall")
            await resp.write(body[half:])
            await resp.write_eof()
        elif request.transport is not None:
            request.transport.close()
        return resp

    def _outage(self) -> Outage | None:
        elapsed = time.monotonic() - self.started_at
        for outage in self.spec.outages:
            if outage.start_s <= elapsed < outage.end_s:
                return outage
        return None

    async def _during_outage(self, request: web.Request) -> web.StreamResponse | None:
        """An outage in progress: its error or reset, or (mode hang) a wait until it ends."""
        outage = self._outage()
        if outage is None:
            return None
        if outage.mode == "error":
            return self.fail(request, self.dialect.outage)
        if outage.mode == "reset":
            return self.abort(request)
        await asyncio.sleep(self.started_at + outage.end_s - time.monotonic())
        return None
