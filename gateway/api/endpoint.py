"""The routed endpoints (chat completions, and each dialect to come) as raw ASGI apps: the hot
path, without Request/Response objects.

Profiling put Starlette's request and response wrappers at a tenth of the gateway's CPU; here
the handler reads the few headers it needs, the body, and writes the reply itself. Errors are
raised as GatewayError and rendered by the app's one error handler, like everywhere else. A
dialect is its parser (body bytes in, GatewayRequest out); the rest is shared.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from gateway.api.auth import authenticate, check_model
from gateway.api.body import Meta
from gateway.api.request_context import ID_KEY, T0_KEY
from gateway.api.state import AppState
from gateway.errors import GatewayError
from gateway.routing.explain import summary
from gateway.routing.request import GatewayRequest, Served

log = logging.getLogger("gateway.api")
_SESSION = (b"x-claude-code-session-id", b"x-session-id")  # the first one sent wins
_WANTED = frozenset({b"x-gateway-policy", b"x-gateway-explain", *_SESSION})
_SANE = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
ARM_AFTER_S = 0.1  # a request still running after this watches for its client leaving


Parser = Callable[[bytes, Meta], GatewayRequest]  # a dialect: body bytes in, request out


@dataclass(frozen=True, slots=True)
class Dialect:
    """What a dialect brings to the one endpoint: its parser, its error shape (None: OpenAI's,
    rendered by the app's handler), whether its SDKs send the key as `x-api-key`, and the client
    headers its own vendors get."""

    parse: Parser
    render_error: Callable[[GatewayError], Response] | None = None
    x_api_key: bool = False
    forward: frozenset[bytes] = frozenset()


class Endpoint:
    def __init__(self, dialect: Dialect) -> None:
        self._dialect = dialect
        self._wanted = _WANTED | dialect.forward

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._dialect.render_error is None:
            await self._serve(scope, receive, send)
            return
        try:
            await self._serve(scope, receive, send)
        except GatewayError as exc:  # in the caller's dialect, not the app's OpenAI shape
            if exc.status_code >= 500:
                log.warning("%s: %s", type(exc).__name__, exc.message)
            await self._dialect.render_error(exc)(scope, receive, send)

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        dialect = self._dialect
        state, caller = authenticate(scope, x_api_key=dialect.x_api_key)
        headers = {
            k.decode(): v.decode("latin-1") for k, v in scope["headers"] if k in self._wanted
        }
        t0: float = scope[T0_KEY]
        forward = {k: v for k, v in headers.items() if k.encode() in dialect.forward}
        meta = Meta(scope[ID_KEY], t0, caller, headers.get("x-gateway-policy"), forward)
        req = dialect.parse(await read_body(receive), meta)
        check_model(caller, req.model)
        session = headers.get("x-claude-code-session-id") or headers.get("x-session-id")
        if session is not None and _SANE.match(session):
            req = replace(req, session=session)
        served = await _unless_client_leaves(state, req, receive)
        if served is None:
            return  # the client left before any answer: nothing to send, its row says so
        out = _headers(served, t0)
        if headers.get("x-gateway-explain") == "1":
            out.append((b"x-gateway-explain", summary(served.ranking).encode("latin-1", "replace")))
        if served.stream is None:
            assert served.reply is not None
            body = served.reply.body
            out += [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
            await send({"type": "http.response.start", "status": 200, "headers": out})
            await send({"type": "http.response.body", "body": body})
            return
        out += [
            (b"content-type", b"text/event-stream; charset=utf-8"),
            (b"cache-control", b"no-cache"),
            (b"x-accel-buffering", b"no"),
        ]
        await _stream(served, state, out, receive, send)


async def _unless_client_leaves(
    state: AppState, req: GatewayRequest, receive: Receive
) -> Served | None:
    """Route the request; a client that disconnects meanwhile cancels it (so the upstream
    request is closed and the vendor stops generating) and gets None."""
    watch = _ClientWatch(receive)
    try:
        return await state.router.handle(req)
    except asyncio.CancelledError:
        if not watch.gone:
            raise  # the server is stopping: not ours to swallow
        watch.task.uncancel()
        return None
    finally:
        watch.close()


class _ClientWatch:
    """Cancels the request's task when its client disconnects. Armed only for a request still
    running after ARM_AFTER_S: a fast one (most) pays for a timer, never for a watcher task."""

    __slots__ = ("_receive", "_timer", "_watcher", "gone", "task")

    def __init__(self, receive: Receive) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.task = task
        self.gone = False
        self._receive = receive
        self._watcher: asyncio.Task[None] | None = None
        loop = asyncio.get_running_loop()
        self._timer: asyncio.TimerHandle | None = loop.call_later(ARM_AFTER_S, self._arm)

    def _arm(self) -> None:
        self._timer = None
        self._watcher = asyncio.get_running_loop().create_task(self._watch())

    async def _watch(self) -> None:
        while (await self._receive())["type"] != "http.disconnect":
            pass
        self.gone = True
        self.task.cancel()

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self._watcher is not None:
            self._watcher.cancel()


async def _stream(
    served: Served,
    state: AppState,
    headers: list[tuple[bytes, bytes]],
    receive: Receive,
    send: Send,
) -> None:
    """Relay the stream in this task; a client that leaves cancels it (and so the upstream
    request): the watch, armed after ARM_AFTER_S as for a whole answer, sees it go. No task
    group and no second task per stream (they were a tenth of a short stream's CPU)."""
    watch = _ClientWatch(receive)
    try:
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        async for chunk in state.router.relay(served):
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    except OSError:
        pass  # the client went away while we wrote: the relay's cleanup has billed it
    except asyncio.CancelledError:
        if not watch.gone:
            raise  # the server is stopping: not ours to swallow
        watch.task.uncancel()
    finally:
        watch.close()


async def read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message: Message = await receive()
        if message["type"] == "http.disconnect":
            return b"".join(chunks)
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _headers(served: Served, t0: float) -> list[tuple[bytes, bytes]]:
    overhead_ms = max((time.perf_counter() - t0 - served.upstream_s) * 1000, 0.0)
    dep = served.deployment
    headers = [
        (b"x-gateway-provider", dep.provider.encode()),
        (b"x-gateway-deployment", dep.id.encode()),
        (b"x-gateway-attempts", b"%d" % served.attempts),
        (b"x-gateway-overhead-ms", b"%.3f" % overhead_ms),
    ]
    if served.hedged_with:  # the runner-up raced (and cancelled): not counted in attempts
        headers.append((b"x-gateway-hedged-with", served.hedged_with.encode()))
    return headers
