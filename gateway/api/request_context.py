"""Pure ASGI middleware: start the overhead clock, fix the request id, stamp it on responses."""

from __future__ import annotations

import os
import re
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

_SANE_ID = re.compile(rb"^[A-Za-z0-9._:\-]{1,128}$")
T0_KEY = "gateway.t0"
ID_KEY = "gateway.request_id"


class RequestContext:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope[T0_KEY] = time.perf_counter()
        request_id = _client_id(scope) or os.urandom(16).hex()
        scope[ID_KEY] = request_id
        header = (b"x-request-id", request_id.encode())

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [h for h in message.get("headers", []) if h[0] != b"x-request-id"]
                headers.append(header)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_id)


def _client_id(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            return value.decode() if _SANE_ID.match(value) else None
    return None
