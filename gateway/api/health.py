"""Liveness and readiness."""

from __future__ import annotations

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from gateway.api.auth import app_state, require_admin
from gateway.errors import AuthenticationError

router = APIRouter()


@router.get("/healthz")
async def healthz() -> Response:
    return Response(b'{"status":"ok"}', media_type="application/json")


@router.get("/readyz")
async def readyz(request: Request) -> Response:
    """Ready or not for anyone (load balancers probe without a key); the details, which say
    which providers are down and why, only for the admin when a master key is set."""
    state = app_state(request.scope)
    config = state.router.config
    ready = bool(config.deployments)
    body: dict[str, object] = {"status": "ready" if ready else "not_ready"}
    if _is_admin(request):
        body |= {
            "config_version": config.version,
            "deployments": len(config.deployments),
            "unavailable_providers": dict(config.unavailable),
            "state": dict(state.store.health()),
        }
    return Response(
        orjson.dumps(body), status_code=200 if ready else 503, media_type="application/json"
    )


def _is_admin(request: Request) -> bool:
    try:
        require_admin(request.scope)
    except AuthenticationError:
        return False
    return True
