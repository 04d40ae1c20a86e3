"""OpenAI-compatible routes besides chat (see chat_endpoint.py), and the API key check."""

from __future__ import annotations

import hmac

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from gateway.api.state import AppState
from gateway.errors import AuthenticationError

router = APIRouter()


def check_key(request: Request, state: AppState) -> None:
    check_authorization(request.headers.get("authorization", ""), state)


def check_authorization(given: str, state: AppState) -> None:
    key = state.settings.master_key
    if not key:
        return
    if not hmac.compare_digest(given.encode(), f"Bearer {key}".encode()):
        raise AuthenticationError("Missing or invalid API key in the Authorization header.")


@router.get("/v1/models")
async def list_models(request: Request) -> Response:
    state: AppState = request.app.state.gateway
    check_key(request, state)
    config = state.router.config
    names = [name for name, route in config.routes.items() if route.targets]
    names += list(config.deployments)
    data = [{"id": n, "object": "model", "created": 0, "owned_by": "gateway"} for n in names]
    return Response(orjson.dumps({"object": "list", "data": data}), media_type="application/json")
