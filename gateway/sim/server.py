"""SimVendor: one simulated vendor served over real HTTP with aiohttp, in its spec's dialect.

An `openai` vendor serves chat completions, legacy completions, embeddings and its model list;
an `anthropic` vendor serves Messages and token counting as api.anthropic.com does. Both have
the `/_sim/*` control endpoints. The shared request path is in core.py, one module per endpoint.
"""

from __future__ import annotations

import base64
import time
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

from gateway.sim import chat, completions, embeddings, metrics
from gateway.sim.core import BEHAVIOUR_FIELDS, JSON, VendorCore
from gateway.sim.dialect import OPENAI, Failure
from gateway.sim.messages import count_tokens, messages
from gateway.sim.messages_wire import ANTHROPIC

if TYPE_CHECKING:
    from gateway.sim.config import VendorSpec
    from gateway.sim.core import Received
    from gateway.sim.pool import Engine
    from gateway.sim.stats import VendorStats

SHUTDOWN_TIMEOUT_S = 0.5

__all__ = ["BEHAVIOUR_FIELDS", "SimVendor"]


class SimVendor:
    """One aiohttp server on loopback that behaves like an OpenAI-compatible or Anthropic
    vendor (VendorSpec.dialect)."""

    def __init__(self, name: str, spec: VendorSpec, *, host: str = "127.0.0.1") -> None:
        self.name = name
        self.host = host
        dialect = ANTHROPIC if spec.dialect == "anthropic" else OPENAI
        self._core = VendorCore(name, spec, dialect)
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application(client_max_size=16 * 1024 * 1024)
        core = self._core
        app.router.add_get("/v1/models", self._models)
        if core.spec.dialect == "anthropic":
            app.router.add_post("/v1/messages", core.serve(messages))
            app.router.add_post("/v1/messages/count_tokens", core.serve(count_tokens))
        else:
            app.router.add_post("/v1/chat/completions", core.serve(chat.handle))
            app.router.add_post("/v1/completions", core.serve(completions.handle))
            app.router.add_post("/v1/embeddings", core.serve(embeddings.handle))
        app.router.add_get("/_sim/stats", self._get_stats)
        app.router.add_get("/_sim/last_request", self._last_request)
        app.router.add_post("/_sim/control", self._control)
        app.router.add_post("/_sim/reset", self._reset)
        if core.engine is not None:
            app.router.add_get("/metrics", self._metrics)
        # handler_cancellation: a client that leaves cancels its handler (hang, slow streams).
        runner = web.AppRunner(
            app, access_log=None, handler_cancellation=True, shutdown_timeout=SHUTDOWN_TIMEOUT_S
        )
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, core.spec.port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._port = int(runner.addresses[0][1])
        core.started_at = time.monotonic()

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
        """The server root: the `/_sim/*` endpoints, and an Anthropic client's base URL."""
        return f"http://{self.host}:{self.port}"

    @property
    def spec(self) -> VendorSpec:
        return self._core.spec

    @property
    def stats(self) -> VendorStats:
        return self._core.stats

    @property
    def engine(self) -> Engine | None:
        """The batching and prefix-cache model when the spec has an `engine`, else None."""
        return self._core.engine

    @property
    def last_request(self) -> Received | None:
        """The last request an endpoint received (rejected ones too): method, path, headers
        as sent and the raw body bytes. None before the first."""
        return self._core.last_request

    def set_behaviour(self, **fields: Any) -> VendorSpec:
        """Change behaviour at run time (ttft_ms, tokens_per_s, error_rate, error_status...)."""
        return self._core.set_behaviour(**fields)

    def reset_stats(self) -> None:
        """Zero the stats, forget the rate-limit windows, the prompt cache and the engine's
        prefix cache."""
        self._core.reset()

    # -- control endpoints -----------------------------------------------------------------

    async def _models(self, request: web.Request) -> web.Response:
        core = self._core
        failure = core.dialect.check(request.headers, core.spec.api_key)
        if failure is not None:
            return web.Response(
                status=failure.status, body=core.dialect.error_body(failure), content_type=JSON
            )
        body = core.dialect.models_body(core.spec.models, self.name)
        return web.json_response(body=body)

    async def _get_stats(self, request: web.Request) -> web.Response:
        body = {"name": self.name, "base_url": self.base_url, **self.stats.to_dict()}
        return web.json_response(body=orjson.dumps(body))

    async def _last_request(self, request: web.Request) -> web.Response:
        last = self._core.last_request
        if last is None:
            return web.json_response(body=b"null")
        body = {
            "method": last.method,
            "path": last.path,
            "headers": [[k, v] for k, v in last.headers.items()],
            "body_base64": base64.b64encode(last.body).decode(),
        }
        return web.json_response(body=orjson.dumps(body))

    async def _control(self, request: web.Request) -> web.Response:
        try:
            fields = orjson.loads(await request.read())
            if not isinstance(fields, dict):
                raise ValueError("the body must be a JSON object")
            spec = self.set_behaviour(**fields)
        except ValueError as exc:  # includes JSON and pydantic validation errors
            body = OPENAI.error_body(Failure(400, str(exc), type="invalid_request_error"))
            return web.Response(status=400, body=body, content_type=JSON)
        behaviour = spec.model_dump(include=set(BEHAVIOUR_FIELDS))
        return web.json_response(body=orjson.dumps(behaviour))

    async def _metrics(self, request: web.Request) -> web.Response:
        assert self.engine is not None  # the route exists only with an engine
        body = metrics.render(self.engine, self.stats, self.spec.models[0])
        return web.Response(body=body, headers={"Content-Type": metrics.CONTENT_TYPE})

    async def _reset(self, request: web.Request) -> web.Response:
        self.reset_stats()
        return await self._get_stats(request)
