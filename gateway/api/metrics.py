"""GET /metrics (Prometheus text), guarded like /admin; optionally also on its own port without a
key (`--metrics-port`), for a scraper on a private network. With several workers each answers
with the sum of every worker's files (PROMETHEUS_MULTIPROC_DIR, set by `gateway serve`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, Request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client import multiprocess as prometheus_multiprocess
from starlette.responses import Response

from gateway.api.auth import require_admin
from gateway.api.state import AppState
from gateway.telemetry.families import multiprocess
from gateway.telemetry.gauges import refresh, refresh_loop

log = logging.getLogger("gateway")
router = APIRouter(include_in_schema=False)


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    state = require_admin(request.scope)
    return Response(await exposition(state), media_type=CONTENT_TYPE_LATEST)


async def exposition(state: AppState) -> bytes:
    families = state.router.observer.metrics
    if state.live is not None:
        await refresh(families, state.live)
    if not multiprocess():
        return generate_latest(families.registry)
    registry = CollectorRegistry()
    prometheus_multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]  # every worker's files, summed
    return await asyncio.to_thread(generate_latest, registry)  # (file reads: off the loop)


@asynccontextmanager
async def serving_metrics(state: AppState) -> AsyncIterator[None]:
    """For the app's lifetime: the metrics port if asked for, and with several workers this
    worker's gauges kept current; at the end its live gauges leave the sum."""
    tasks: list[asyncio.Task[None]] = []
    if multiprocess() and state.live is not None:
        tasks.append(asyncio.create_task(refresh_loop(state.router.observer.metrics, state.live)))
    server = None
    if state.settings.metrics_port is not None:
        server = await _metrics_port(state, state.settings.host, state.settings.metrics_port)
    try:
        yield
    finally:
        if server is not None:
            server.close()
            await server.wait_closed()
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if multiprocess():
            prometheus_multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]


async def _metrics_port(state: AppState, host: str, port: int) -> asyncio.Server:
    """A bare HTTP/1.0 responder: GET /metrics answers, anything else is a 404. SO_REUSEPORT
    lets every worker listen on the port (each one answers with the sum)."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=10)
            method, path, *_ = head.split(b" ", 2)
            if method == b"GET" and path.split(b"?")[0] == b"/metrics":
                body, status, kind = await exposition(state), b"200 OK", CONTENT_TYPE_LATEST
            else:
                body, status, kind = b"not found\n", b"404 Not Found", "text/plain"
            writer.write(
                b"HTTP/1.0 %s\r\ncontent-type: %s\r\ncontent-length: %d\r\n\r\n%s"
                % (status, kind.encode(), len(body), body)
            )
            await writer.drain()
        except (OSError, ValueError, asyncio.IncompleteReadError, TimeoutError):
            pass  # a scraper that went away or spoke nonsense
        finally:
            writer.close()

    server = await asyncio.start_server(answer, host, port, reuse_port=True)
    log.info("metrics on http://%s:%d/metrics (no key)", host, port)
    return server
