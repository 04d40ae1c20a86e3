"""The routed endpoints without the framework's layers in between (issue 18's profile: FastAPI's
__call__, its exit-stack and exception middlewares and Starlette's route matching were ~8 % of
a request's CPU). A POST to one of their exact paths goes straight to the app's middlewares
(ours, and any added later) and the endpoint; errors are rendered here as the app's handlers
render them.
Everything else (other paths and methods, the lifespan) goes through FastAPI as before.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.api.errors import openai_error, render
from gateway.errors import GatewayError

log = logging.getLogger("gateway.api")


class GatewayApp(FastAPI):
    """FastAPI, with `fast_endpoints` (exact path -> ASGI app, POST only) served directly:
    inside the app's own middlewares (`add_middleware`, applied in the same order, so whatever
    is added later wraps them too) and `Rendered`, without the framework's layers."""

    fast_endpoints: Mapping[str, ASGIApp] = {}
    _fast: dict[str, ASGIApp] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            route = (self._fast or self._build_fast()).get(scope["path"])
            if route is not None:
                scope["app"] = self  # as FastAPI sets it: handlers find the app's state there
                await route(scope, receive, send)
                return
        await super().__call__(scope, receive, send)

    def _build_fast(self) -> dict[str, ASGIApp]:
        """Built at the first request, when every middleware has been added."""
        chains: dict[str, ASGIApp] = {}
        for path, endpoint in self.fast_endpoints.items():
            app: ASGIApp = Rendered(endpoint)
            for cls, args, kwargs in reversed(self.user_middleware):
                app = cls(app, *args, **kwargs)
            chains[path] = app
        self._fast = chains
        return chains


class Rendered:
    """What FastAPI's exception middlewares did for a routed endpoint: a GatewayError in
    OpenAI's shape, anything else a logged 500; once the answer has started, the error is
    raised on (the server closes the connection), as Starlette does."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except GatewayError as exc:
            if started:
                raise
            if exc.status_code >= 500:
                log.warning("%s: %s", type(exc).__name__, exc.message)
            await render(exc)(scope, receive, send)
        except Exception as exc:
            if started:
                raise
            log.exception("unexpected error", exc_info=exc)
            response = openai_error(
                500, "The gateway hit an internal error.", "server_error", "internal_error"
            )
            await response(scope, receive, send)
