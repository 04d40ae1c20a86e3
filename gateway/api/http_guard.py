"""The HTTP edge before any request reaches the app: bounds uvicorn's httptools protocol lacks.

Without them one connection sending a 96 MB header stalled every other request for seconds
(before auth could say anything), and a client trickling its headers held a connection forever.
Each refusal is answered in OpenAI's error shape and closes the connection:

- header section over MAX_HEADER_BYTES, or more than MAX_HEADERS header lines: 431;
- header section not complete HEADER_TIMEOUT_S after its first byte: 408;
- bytes that are not HTTP: 400 (uvicorn's plain-text answer, reshaped).
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from gateway.api.shapes import error_json

MAX_HEADER_BYTES = 64 * 1024
MAX_HEADERS = 128
HEADER_TIMEOUT_S = 10.0


class GuardedHttpTools(HttpToolsProtocol):
    """Three overrides per request (data_received, on_message_begin, on_headers_complete):
    the bounds cost a few attribute checks on the hot path, nothing per header."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = False  # between a message's first byte and its complete headers
        self._head_bytes = 0
        self._head_timer: asyncio.TimerHandle | None = None
        self._refused = False

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        super().data_received(data)
        if self._in_head and not self._refused:
            # Still no end of headers: all of this chunk was header bytes. (Headers that come
            # whole in one chunk, the usual case, never start the timer.)
            self._head_bytes += len(data)
            if self._head_bytes > MAX_HEADER_BYTES:
                self._refuse(431, "The request's headers are too large.", "headers_too_large")
            elif self._head_timer is None:
                self._head_timer = self.loop.call_later(HEADER_TIMEOUT_S, self._head_timeout)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head, self._head_bytes = True, 0

    def on_headers_complete(self) -> None:
        self._in_head = False
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        if len(self.headers) > MAX_HEADERS:
            self._refuse(431, "The request has too many headers.", "too_many_headers")
            raise _Refused  # stops the parser: nothing of this request reaches the app
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
        super().connection_lost(exc)

    def send_400_response(self, msg: str) -> None:
        if not self._refused:  # (after our own refusal the parser reports that as an error)
            self._refuse(400, msg, "invalid_http")

    def _head_timeout(self) -> None:
        self._head_timer = None
        if self._in_head and not self._refused:
            self._refuse(408, "The request's headers did not arrive in time.", "request_timeout")

    def _refuse(self, status: int, message: str, code: str) -> None:
        self._refused = True
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        path = (getattr(self, "url", b"") or b"").split(b"?", 1)[0].decode("latin-1")
        body = error_json(path, status, message, "invalid_request_error", code)
        head = [
            STATUS_LINE[status],
            b"content-type: application/json\r\n",
            b"content-length: %d\r\n" % len(body),
            b"connection: close\r\n\r\n",
        ]
        if not self.transport.is_closing():
            self.transport.write(b"".join(head) + body)
            self.transport.close()


class _Refused(Exception):
    """Raised from a parser callback to stop parsing a refused request."""
