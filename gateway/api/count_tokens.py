"""POST /v1/messages/count_tokens: Anthropic's free token count, for every deployment (the
vendor's own count when the route has an Anthropic target, else our tokenizer); the answer's
`x-gateway-token-count` header says which."""

from __future__ import annotations

import orjson
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from gateway.api.auth import authenticate, check_model
from gateway.api.body import Meta
from gateway.api.endpoint import read_body
from gateway.api.messages_errors import render_messages_error
from gateway.api.messages_request import parse_count_tokens
from gateway.api.request_context import ID_KEY, T0_KEY
from gateway.errors import GatewayError

FORWARD = frozenset({b"anthropic-version", b"anthropic-beta"})


class CountTokens:
    """A raw ASGI app (an instance: Starlette mounts plain functions as request handlers)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await _count(scope, receive, send)


async def _count(scope: Scope, receive: Receive, send: Send) -> None:
    try:
        state, caller = authenticate(scope, x_api_key=True)
        headers = {k.decode(): v.decode("latin-1") for k, v in scope["headers"] if k in FORWARD}
        meta = Meta(scope[ID_KEY], scope[T0_KEY], caller, headers=headers)
        req = parse_count_tokens(await read_body(receive), meta)
        check_model(caller, req.model)
        tokens, source = await state.router.count_tokens(req)
    except GatewayError as exc:
        await render_messages_error(exc)(scope, receive, send)
        return
    response = Response(
        orjson.dumps({"input_tokens": tokens}),
        media_type="application/json",
        headers={"x-gateway-token-count": source},
    )
    await response(scope, receive, send)
