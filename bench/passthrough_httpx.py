"""The baseline proxy with httpx: FastAPI, one `httpx.AsyncClient`, bytes in, bytes out.

Nothing is parsed: the body goes upstream as is, and the answer comes back as is (a stream is
relayed chunk by chunk). This is the least any Python proxy on this stack can cost.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI, Request
from starlette.background import BackgroundTask
from starlette.responses import Response, StreamingResponse


def create_app(upstream: str) -> FastAPI:
    """`upstream` is an OpenAI base URL, e.g. http://127.0.0.1:8000/v1."""
    url = f"{upstream}/chat/completions"
    limits = httpx.Limits(max_connections=512, max_keepalive_connections=512)
    client = httpx.AsyncClient(
        limits=limits, timeout=httpx.Timeout(120, connect=5), trust_env=False
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await client.aclose()

    app = FastAPI(lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Response:
        headers = {"content-type": "application/json"}
        sent = client.build_request("POST", url, content=await request.body(), headers=headers)
        resp = await client.send(sent, stream=True)
        media_type = resp.headers.get("content-type", "application/json")
        if media_type.startswith("text/event-stream"):
            return StreamingResponse(
                resp.aiter_raw(), resp.status_code, media_type=media_type,
                background=BackgroundTask(resp.aclose),
            )  # fmt: skip
        try:
            content = await resp.aread()
        finally:
            await resp.aclose()
        return Response(content, resp.status_code, media_type=media_type)

    return app
