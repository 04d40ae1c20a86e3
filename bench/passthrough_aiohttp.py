"""The baseline proxy with aiohttp: FastAPI, one `aiohttp.ClientSession`, bytes in, bytes out.

Nothing is parsed: the body goes upstream as is, and the answer comes back as is (a stream is
relayed chunk by chunk). This is the least any Python proxy on this stack can cost.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
from fastapi import FastAPI, Request
from starlette.background import BackgroundTask
from starlette.responses import Response, StreamingResponse


def create_app(upstream: str) -> FastAPI:
    """`upstream` is an OpenAI base URL, e.g. http://127.0.0.1:8000/v1."""
    url = f"{upstream}/chat/completions"
    sessions: list[aiohttp.ClientSession] = []  # made in the lifespan: it needs a running loop

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=5, sock_read=120)
        connector = aiohttp.TCPConnector(limit=512)
        async with aiohttp.ClientSession(
            connector=connector, timeout=timeout, auto_decompress=False
        ) as session:
            sessions.append(session)
            yield

    app = FastAPI(lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Response:
        headers = {"content-type": "application/json"}
        resp = await sessions[0].post(url, data=await request.body(), headers=headers)
        media_type = resp.headers.get("content-type", "application/json")
        if media_type.startswith("text/event-stream"):
            return StreamingResponse(
                resp.content.iter_any(), resp.status, media_type=media_type,
                background=BackgroundTask(resp.release),
            )  # fmt: skip
        try:
            content = await resp.read()
        finally:
            resp.release()
        return Response(content, resp.status, media_type=media_type)

    return app
