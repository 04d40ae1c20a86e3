"""Liveness and readiness."""

from __future__ import annotations

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from gateway.api.auth import app_state

router = APIRouter()


@router.get("/healthz")
async def healthz() -> Response:
    return Response(b'{"status":"ok"}', media_type="application/json")


@router.get("/readyz")
async def readyz(request: Request) -> Response:
    state = app_state(request.scope)
    config = state.router.config
    ready = bool(config.deployments)
    body = {
        "status": "ready" if ready else "not_ready",
        "config_version": config.version,
        "deployments": len(config.deployments),
        "unavailable_providers": dict(config.unavailable),
        "state": dict(state.store.health()),
    }
    return Response(
        orjson.dumps(body), status_code=200 if ready else 503, media_type="application/json"
    )
