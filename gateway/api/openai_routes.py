"""The OpenAI-compatible routes: thin handlers (parse, route, respond)."""

from __future__ import annotations

import hmac
import time

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response, StreamingResponse

from gateway.api.chat_request import parse_chat
from gateway.api.request_context import ID_KEY, T0_KEY
from gateway.api.state import AppState
from gateway.errors import AuthenticationError
from gateway.routing.explain import summary
from gateway.routing.router import Served

router = APIRouter()


def check_key(request: Request, state: AppState) -> None:
    key = state.settings.master_key
    if not key:
        return
    given = request.headers.get("authorization", "")
    if not hmac.compare_digest(given.encode(), f"Bearer {key}".encode()):
        raise AuthenticationError("Missing or invalid API key in the Authorization header.")


async def chat_completions(request: Request) -> Response:
    state: AppState = request.app.state.gateway
    check_key(request, state)
    request_id: str = request.scope[ID_KEY]
    chat = parse_chat(
        await request.body(),
        request_id=request_id,
        received=request.scope[T0_KEY],
        team=request.headers.get("x-gateway-team"),
        policy=request.headers.get("x-gateway-policy"),
    )
    served = await state.router.handle(chat)
    headers = _headers(served, request.scope[T0_KEY])
    if request.headers.get("x-gateway-explain") == "1":
        headers["x-gateway-explain"] = summary(served.ranking)
    if served.stream is not None:
        headers["cache-control"] = "no-cache"
        headers["x-accel-buffering"] = "no"
        return StreamingResponse(
            state.router.relay(served), media_type="text/event-stream", headers=headers
        )
    assert served.reply is not None
    return Response(served.reply.body, media_type="application/json", headers=headers)


def _headers(served: Served, t0: float) -> dict[str, str]:
    overhead_ms = max((time.perf_counter() - t0 - served.upstream_s) * 1000, 0.0)
    dep = served.deployment
    return {
        "x-gateway-provider": dep.provider,
        "x-gateway-deployment": dep.id,
        "x-gateway-attempts": str(served.attempts),
        "x-gateway-overhead-ms": f"{overhead_ms:.3f}",
    }


@router.get("/v1/models")
async def list_models(request: Request) -> Response:
    state: AppState = request.app.state.gateway
    check_key(request, state)
    config = state.router.config
    names = [name for name, route in config.routes.items() if route.targets]
    names += list(config.deployments)
    data = [{"id": n, "object": "model", "created": 0, "owned_by": "gateway"} for n in names]
    return Response(orjson.dumps({"object": "list", "data": data}), media_type="application/json")
