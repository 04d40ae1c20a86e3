"""POST /v1/route/explain: ranked candidates for a chat request, every term of the score."""

from __future__ import annotations

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from gateway.api.auth import authenticate, check_model
from gateway.api.body import Meta
from gateway.api.chat_request import parse_chat
from gateway.api.request_context import ID_KEY, T0_KEY
from gateway.routing.explain import explain

router = APIRouter()


@router.post("/v1/route/explain")
async def route_explain(request: Request) -> Response:
    state, caller = authenticate(request.scope)
    policy = request.headers.get("x-gateway-policy")
    meta = Meta(request.scope[ID_KEY], request.scope[T0_KEY], caller, policy)
    chat = parse_chat(await request.body(), meta)
    check_model(caller, chat.model)
    route = state.router.resolve(chat)
    body = explain(route, state.router.rank(chat, route))
    return Response(orjson.dumps(body), media_type="application/json")
