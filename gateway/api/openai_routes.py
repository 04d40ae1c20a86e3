"""OpenAI-compatible routes besides the routed ones (see endpoint.py)."""

from __future__ import annotations

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from gateway.api.auth import authenticate

router = APIRouter()


@router.get("/v1/models")
async def list_models(request: Request) -> Response:
    state, _ = authenticate(request.scope)
    config = state.router.config
    names = [name for name, route in config.routes.items() if route.targets]
    names += list(config.deployments)
    data = [{"id": n, "object": "model", "created": 0, "owned_by": "gateway"} for n in names]
    return Response(orjson.dumps({"object": "list", "data": data}), media_type="application/json")
