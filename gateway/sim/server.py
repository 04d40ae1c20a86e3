"""SimVendor: one simulated OpenAI-compatible vendor served over real HTTP with aiohttp."""

from __future__ import annotations

import asyncio
import itertools
import random
import socket
import struct
import time
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

from gateway.sim import metrics, wire
from gateway.sim.answer import Answer, StreamFault, output_tokens, split_model
from gateway.sim.config import Fault, Outage, VendorSpec
from gateway.sim.limits import RateWindow
from gateway.sim.pool import Engine
from gateway.sim.stats import VendorStats

if TYPE_CHECKING:
    from gateway.sim.answer import Rate

# The VendorSpec fields that set_behaviour and POST /_sim/control may change at run time.
BEHAVIOUR_FIELDS = frozenset(
    {"ttft_ms", "ttft_jitter", "tokens_per_s", "output_tokens", "error_rate", "error_status"}
    | {"rpm", "tpm", "fault", "fault_after_chunks", "fault_rate"}
)
SHUTDOWN_TIMEOUT_S = 0.5
_JSON = "application/json"


class SimVendor:
    """One aiohttp server on loopback that behaves like an OpenAI-compatible vendor."""

    def __init__(self, name: str, spec: VendorSpec, *, host: str = "127.0.0.1") -> None:
        self.name = name
        self.host = host
        self._spec = spec
        self._stats = VendorStats()
        self._engine = Engine(spec.engine, self._stats) if spec.engine is not None else None
        self._window = RateWindow()
        self._errors = random.Random(spec.seed)
        self._jitter = random.Random(spec.seed + 1)
        self._faults = random.Random(spec.seed + 2)
        self._changed = asyncio.Event()  # set (and replaced) by every set_behaviour
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._started_at = 0.0

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_get("/v1/models", self._models)
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_get("/_sim/stats", self._get_stats)
        app.router.add_post("/_sim/control", self._control)
        app.router.add_post("/_sim/reset", self._reset)
        if self._engine is not None:
            app.router.add_get("/metrics", self._metrics)
        # handler_cancellation: a client that leaves cancels its handler (hang, slow streams).
        runner = web.AppRunner(
            app, access_log=None, handler_cancellation=True, shutdown_timeout=SHUTDOWN_TIMEOUT_S
        )
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, self._spec.port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._port = int(runner.addresses[0][1])
        self._started_at = time.monotonic()

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError(f"sim vendor {self.name!r} is not started")
        return self._port

    @property
    def base_url(self) -> str:
        """The OpenAI base URL clients use, e.g. `http://127.0.0.1:PORT/v1`."""
        return f"{self.root_url}/v1"

    @property
    def root_url(self) -> str:
        """The server root, where the `/_sim/*` control endpoints live."""
        return f"http://{self.host}:{self.port}"

    @property
    def spec(self) -> VendorSpec:
        return self._spec

    @property
    def stats(self) -> VendorStats:
        return self._stats

    @property
    def engine(self) -> Engine | None:
        """The batching and prefix-cache model when the spec has an `engine`, else None."""
        return self._engine

    def set_behaviour(self, **fields: Any) -> VendorSpec:
        """Change behaviour at run time (ttft_ms, tokens_per_s, error_rate, error_status...)."""
        unknown = set(fields) - BEHAVIOUR_FIELDS
        if unknown:
            raise ValueError(f"not a behaviour field: {', '.join(sorted(unknown))}")
        self._spec = VendorSpec.model_validate({**self._spec.model_dump(), **fields})
        self._changed.set()  # wakes requests held by a stall or hang fault
        self._changed = asyncio.Event()
        return self._spec

    def reset_stats(self) -> None:
        """Zero the stats, forget the rate-limit windows and the engine's prefix cache."""
        self._stats.reset()
        self._window.clear()
        if self._engine is not None:
            self._engine.reset()

    # -- control endpoints -----------------------------------------------------------------

    async def _models(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            body = wire.error_body(
                "Incorrect API key provided.", type_="authentication_error", code="invalid_api_key"
            )
            return web.Response(status=401, body=body, content_type=_JSON)
        data = [
            {"id": m, "object": "model", "created": 0, "owned_by": self.name}
            for m in self._spec.models
        ]
        return web.json_response(body=orjson.dumps({"object": "list", "data": data}))

    async def _get_stats(self, request: web.Request) -> web.Response:
        body = {"name": self.name, "base_url": self.base_url, **self._stats.to_dict()}
        return web.json_response(body=orjson.dumps(body))

    async def _control(self, request: web.Request) -> web.Response:
        try:
            fields = orjson.loads(await request.read())
            if not isinstance(fields, dict):
                raise ValueError("the body must be a JSON object")
            spec = self.set_behaviour(**fields)
        except ValueError as exc:  # includes JSON and pydantic validation errors
            body = wire.error_body(str(exc), type_="invalid_request_error")
            return web.Response(status=400, body=body, content_type=_JSON)
        behaviour = spec.model_dump(include=set(BEHAVIOUR_FIELDS))
        return web.json_response(body=orjson.dumps(behaviour))

    async def _metrics(self, request: web.Request) -> web.Response:
        assert self._engine is not None  # the route exists only with an engine
        body = metrics.render(self._engine, self._stats, self._spec.models[0])
        return web.Response(body=body, headers={"Content-Type": metrics.CONTENT_TYPE})

    async def _reset(self, request: web.Request) -> web.Response:
        self.reset_stats()
        return await self._get_stats(request)

    # -- chat completions ------------------------------------------------------------------

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        self._stats.arrived(time.monotonic())
        try:
            return await self._chat_checked(request)
        except asyncio.CancelledError:
            self._stats.disconnects += 1
            raise
        finally:
            self._stats.in_flight -= 1

    async def _chat_checked(self, request: web.Request) -> web.StreamResponse:
        spec = self._spec
        if not self._authorized(request):
            return self._error(401, "Incorrect API key provided.", code="invalid_api_key")
        refused = await self._during_outage(request)
        if refused is not None:
            return refused
        try:
            req = wire.parse_chat_request(await request.read())
        except wire.BadRequest as exc:
            return self._error(400, exc.message, param=exc.param)
        base, ttft_ms, forced_status = split_model(req.model)
        if base not in spec.models:
            msg = f"The model `{req.model}` does not exist or you do not have access to it."
            return self._error(404, msg, param="model", code="model_not_found")
        out_tokens = output_tokens(req, spec.output_tokens)
        now = time.monotonic()
        refusal = self._window.admit(
            now, req.prompt_tokens + out_tokens * req.n, rpm=spec.rpm, tpm=spec.tpm
        )
        if refusal is not None:
            msg = f"Rate limit reached on {refusal.kind} per min: Limit {refusal.limit}."
            headers = {"Retry-After": str(refusal.retry_after_s)}
            return self._error(429, msg, type_=refusal.kind, code="rate_limit_exceeded", **headers)
        roll = self._errors.random()
        status = forced_status or (spec.error_status if roll < spec.error_rate else None)
        if status is not None:
            headers = {"Retry-After": "1"} if status == 429 else {}
            return self._error(status, f"Simulated error {status}.", **headers)
        fault = self._draw_fault()
        if fault == "reset":
            return self._abort(request)
        if fault == "hang":
            await self._hold("hang")
        cid = f"chatcmpl-sim-{self.name}-{next(self._ids)}"
        answer = Answer.build(req, natural=spec.output_tokens, cid=cid)
        if (engine := self._engine) is not None:  # a self-hosted replica: batching, prefix cache
            kv_tokens = req.prompt_tokens + answer.completion_tokens * req.n
            async with engine.sequence(req.prompt, req.prompt_tokens, kv_tokens) as seq:
                ttft_s = seq.ttft_s if ttft_ms is None else ttft_ms / 1000
                return await self._answer(
                    request, req, answer, ttft_s, engine.decode_tokens_per_s, fault
                )
        ttft_s = (ttft_ms if ttft_ms is not None else spec.ttft_ms) / 1000
        if spec.ttft_jitter:
            ttft_s *= 1 + self._jitter.uniform(-spec.ttft_jitter, spec.ttft_jitter)
        return await self._answer(request, req, answer, ttft_s, spec.tokens_per_s, fault)

    async def _during_outage(self, request: web.Request) -> web.StreamResponse | None:
        """An outage in progress: its error or reset, or (mode hang) a wait until it ends."""
        outage = self._outage()
        if outage is None:
            return None
        if outage.mode == "error":
            return self._error(503, "The service is temporarily unavailable (sim outage).")
        if outage.mode == "reset":
            return self._abort(request)
        await asyncio.sleep(self._started_at + outage.end_s - time.monotonic())
        return None

    async def _answer(
        self,
        request: web.Request,
        req: wire.ChatRequest,
        answer: Answer,
        ttft_s: float,
        tps: Rate,
        fault: Fault = "none",
    ) -> web.StreamResponse:
        if req.stream:
            return await self._stream(request, req, answer, ttft_s, tps, fault)
        if callable(tps):  # an engine: the decode speed is the one after the first token
            await asyncio.sleep(ttft_s)
            ttft_s, tps = 0.0, tps()
        await asyncio.sleep(ttft_s + answer.completion_tokens / tps)
        self._stats.prompt_tokens += req.prompt_tokens
        self._stats.completion_tokens += answer.completion_tokens * req.n
        body = answer.completion_body(req)
        if fault == "malformed":
            return self._json(200, body[: len(body) // 2])  # cut short: not JSON
        if fault in ("cut", "stall"):
            return await self._partial_body(request, body, fault)
        return self._json(200, body)

    async def _stream(
        self,
        request: web.Request,
        req: wire.ChatRequest,
        answer: Answer,
        ttft_s: float,
        tps: Rate,
        fault: Fault = "none",
    ) -> web.StreamResponse:
        headers = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        resp = web.StreamResponse(headers={**headers, **self._limit_headers()})
        self._stats.streamed += 1
        self._stats.prompt_tokens += req.prompt_tokens
        await asyncio.sleep(ttft_s)
        stream_fault = None
        if fault in ("cut", "stall", "malformed"):

            def close() -> None:
                if request.transport is not None:
                    request.transport.close()

            stream_fault = StreamFault(
                fault, self._spec.fault_after_chunks, close, lambda: self._hold("stall")
            )
        await answer.stream(request, resp, req, tps, self._stats, stream_fault)
        return resp

    # -- faults ----------------------------------------------------------------------------

    def _draw_fault(self) -> Fault:
        """The fault this request gets: the vendor's, with probability `fault_rate` (seeded)."""
        spec = self._spec
        if spec.fault == "none":
            return "none"
        if spec.fault_rate < 1.0 and self._faults.random() >= spec.fault_rate:
            return "none"
        self._stats.faults += 1
        return spec.fault

    async def _hold(self, fault: Fault) -> None:
        """Wait while the vendor's fault is still `fault` (cancelled if the client leaves)."""
        while self._spec.fault == fault:
            await self._changed.wait()

    async def _partial_body(
        self, request: web.Request, body: bytes, fault: Fault
    ) -> web.StreamResponse:
        """Headers and half a JSON body, then the connection is closed (cut) or kept silent."""
        resp = web.StreamResponse(headers={"Content-Type": _JSON, **self._limit_headers()})
        resp.content_length = len(body)
        await resp.prepare(request)
        self._stats.answered(200)
        half = len(body) // 2
        await resp.write(body[:half])
        if fault == "stall":
            await self._hold("stall")
            await resp.write(body[half:])
            await resp.write_eof()
        elif request.transport is not None:
            request.transport.close()
        return resp

    # -- helpers ---------------------------------------------------------------------------

    def _authorized(self, request: web.Request) -> bool:
        key = self._spec.api_key
        return key is None or request.headers.get("Authorization") == f"Bearer {key}"

    def _outage(self) -> Outage | None:
        elapsed = time.monotonic() - self._started_at
        for outage in self._spec.outages:
            if outage.start_s <= elapsed < outage.end_s:
                return outage
        return None

    def _limit_headers(self) -> dict[str, str]:
        spec = self._spec
        if spec.rpm is None and spec.tpm is None:
            return {}
        return self._window.headers(time.monotonic(), rpm=spec.rpm, tpm=spec.tpm)

    def _json(self, status: int, body: bytes, **headers: str) -> web.Response:
        """A chat-completions answer: counted in the stats, with the rate-limit headers."""
        self._stats.answered(status)
        headers.update(self._limit_headers())
        return web.Response(status=status, body=body, content_type=_JSON, headers=headers)

    def _error(
        self,
        status: int,
        message: str,
        *,
        type_: str | None = None,
        param: str | None = None,
        code: str | None = None,
        **headers: str,
    ) -> web.Response:
        kind = type_ or wire.error_type(status)
        body = wire.error_body(message, type_=kind, param=param, code=code)
        return self._json(status, body, **headers)

    def _abort(self, request: web.Request) -> web.Response:
        """Close the connection with a TCP reset; aiohttp then drops the unsent response."""
        self._stats.resets += 1
        transport = request.transport
        if transport is not None:
            sock = transport.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            transport.abort()
        return web.Response(status=503)
