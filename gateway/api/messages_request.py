"""Parse and check an Anthropic Messages body (`POST /v1/messages`), as Anthropic's API does:
`max_tokens` required, roles user/assistant, content strings or blocks; errors name the field."""

from __future__ import annotations

from gateway.api.body import Fields, Meta, read, request
from gateway.core.operation import Operation
from gateway.dialects.messages_chat import Untranslatable, request_to_chat
from gateway.errors import InvalidRequest
from gateway.routing.request import GatewayRequest

FIELDS = Fields(
    ints=("max_tokens", "top_k"),
    positive=("max_tokens",),
    numbers=("temperature", "top_p"),
    types={
        "stream": (bool,),
        "stop_sequences": (list,),
        "tools": (list,),
        "tool_choice": (dict,),
        "metadata": (dict,),
        "thinking": (dict,),
        "system": (str, list),
    },
)


def parse_messages(raw: bytes, meta: Meta) -> GatewayRequest:
    checked = read(raw, Operation.MESSAGES, FIELDS)
    body = checked.body
    if body.get("max_tokens") is None:
        raise InvalidRequest("'max_tokens' is required.", param="max_tokens")
    untranslatable = None
    try:  # learnt once here, so routing can keep it off deployments that would translate
        request_to_chat(body, upstream_model=checked.model)
    except Untranslatable as exc:
        untranslatable = (exc.message, exc.param)
    return request(
        Operation.MESSAGES,
        checked,
        meta,
        output_tokens=body["max_tokens"],
        stream=body.get("stream") is True,
        client_wants_usage=True,  # Messages streams always carry their usage
        untranslatable=untranslatable,
    )


def parse_count_tokens(raw: bytes, meta: Meta) -> GatewayRequest:
    """The same body without max_tokens (Anthropic's count_tokens)."""
    checked = read(raw, Operation.COUNT_TOKENS, FIELDS)
    return request(
        Operation.COUNT_TOKENS,
        checked,
        meta,
        output_tokens=0,
        stream=False,
        client_wants_usage=False,
    )
