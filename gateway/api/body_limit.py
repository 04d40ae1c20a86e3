"""Pure ASGI middleware: refuse bodies over the limit with 413, before or while they arrive."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.api.shapes import error_json
from gateway.errors import PayloadTooLarge


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length":
                if value.isdigit() and int(value) > self.max_bytes:
                    await self._refuse(scope["path"], send)
                    return
                break
        seen = 0

        async def counting_receive() -> Message:
            # A body without (or lying about) content-length is counted as it arrives; the
            # error handler renders the 413.
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise PayloadTooLarge(self._message())
            return message

        await self.app(scope, counting_receive, send)

    def _message(self) -> str:
        return f"Request body is larger than the limit of {self.max_bytes} bytes."

    async def _refuse(self, path: str, send: Send) -> None:
        exc = PayloadTooLarge(self._message())
        body = error_json(path, 413, exc.message, exc.type, exc.code)
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})
