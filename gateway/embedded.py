"""Run an ASGI app on a loopback port inside the current event loop (demo, tests, benchmarks)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from starlette.types import ASGIApp

from gateway.api.http_guard import GuardedHttpTools


@asynccontextmanager
async def serve_in_loop(app: ASGIApp, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
    """Yield the base URL (http://host:port) while the app serves; shut it down cleanly after."""
    # IPPROTO_TCP named: asyncio then sets TCP_NODELAY on each connection (else Nagle and
    # delayed ACKs add ~40 ms to every small answer).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound_port = sock.getsockname()[1]
    config = uvicorn.Config(
        app, lifespan="on", log_level="warning", access_log=False, http=GuardedHttpTools
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()  # surface a start-up failure
                raise RuntimeError("server stopped during start-up")
            await asyncio.sleep(0.005)
        yield f"http://{host}:{bound_port}"
    finally:
        server.should_exit = True
        await task
        sock.close()
