"""Which error shape a path's callers read: Anthropic's on the Messages routes, OpenAI's on every
other; for the answers given before a route's own handler runs (the HTTP guard, the body limit,
405s)."""

from __future__ import annotations

import orjson

from gateway.dialects.messages_chat import error_to_anthropic
from gateway.errors import error_object


def anthropic_path(path: str) -> bool:
    return path.startswith("/v1/messages")  # and /v1/messages/count_tokens


def error_json(
    path: str, status: int, message: str, type_: str, code: str | None, param: str | None = None
) -> bytes:
    if anthropic_path(path):
        return orjson.dumps(error_to_anthropic(status, message))
    return orjson.dumps(error_object(message, type_, code, param))
