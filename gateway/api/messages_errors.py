"""Errors in Anthropic's shape for the Messages routes: `{"type":"error","error":{"type",
"message"}}`, the SDKs' error classes chosen by status as Anthropic's API does."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

from gateway.dialects.messages_chat import error_to_anthropic
from gateway.errors import GatewayError, UpstreamStatusError


def render_messages_error(exc: GatewayError) -> Response:
    """A vendor's own Anthropic error passes through; an OpenAI-shaped one (a translated
    request's vendor) keeps its message; ours are reshaped."""
    body: Any = None
    message = exc.message
    if isinstance(exc, UpstreamStatusError) and not exc.is_retryable:
        try:
            body = orjson.loads(exc.upstream_body)
        except orjson.JSONDecodeError:
            body = None
        if isinstance(body, dict) and isinstance(body.get("error"), dict):
            inner = body["error"]
            if body.get("type") == "error" and isinstance(inner.get("type"), str):
                return _response(exc, orjson.dumps(body))
            if isinstance(inner.get("message"), str):
                message = inner["message"]
    if exc.param and exc.param not in message:
        message = f"{exc.param}: {message}"
    return _response(exc, orjson.dumps(error_to_anthropic(exc.status_code, message)))


def _response(exc: GatewayError, body: bytes) -> Response:
    response = Response(body, status_code=exc.status_code, media_type="application/json")
    response.headers.update(exc.headers())
    return response
