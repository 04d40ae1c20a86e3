"""OpenAI-compatible routes besides the routed ones (see endpoint.py)."""

from __future__ import annotations

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from gateway.api.auth import authenticate
from gateway.core.operation import Operation, served_as

router = APIRouter()


@router.get("/v1/models")
async def list_models(request: Request) -> Response:
    state, caller = authenticate(request.scope)
    config = state.router.config
    served: dict[str, frozenset[str]] = {
        name: frozenset().union(*(_serves(d.operations) for d in route.targets))
        for name, route in config.routes.items()
        if route.targets
    }
    served |= {name: _serves(dep.operations) for name, dep in config.deployments.items()}
    data = [
        {
            "id": name,
            "object": "model",
            "created": 0,
            "owned_by": "gateway",
            "operations": sorted(ops),  # what it answers here, natively or translated
        }
        for name, ops in served.items()
        if caller.may_use(name)  # a key sees only the models it may use
    ]
    return Response(orjson.dumps({"object": "list", "data": data}), media_type="application/json")


def _serves(native: frozenset[str]) -> frozenset[str]:
    return frozenset(op.value for op in Operation if served_as(op, native) is not None)
