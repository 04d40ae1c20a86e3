"""Parse and check an Anthropic Messages body (`POST /v1/messages`), as Anthropic's API does:
`max_tokens` required, roles user/assistant, content strings or blocks; errors name the field."""

from __future__ import annotations

from collections.abc import Mapping

from gateway.api.body import (
    Fields,
    hints_of,
    load_object,
    model_of,
    prompt_checked,
    prompt_tokens_estimate,
)
from gateway.core.caller import ANONYMOUS, Caller
from gateway.core.operation import Operation
from gateway.dialects.messages_chat import Untranslatable, request_to_chat
from gateway.errors import InvalidRequest
from gateway.routing.request import GatewayRequest
from gateway.routing.scoring import Demand

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


def parse_messages(
    raw: bytes,
    *,
    request_id: str,
    received: float,
    caller: Caller = ANONYMOUS,
    policy: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> GatewayRequest:
    return _parse(raw, Operation.MESSAGES, request_id, received, caller, policy, headers)


def parse_count_tokens(
    raw: bytes,
    *,
    request_id: str,
    received: float,
    caller: Caller = ANONYMOUS,
    policy: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> GatewayRequest:
    """The same body without max_tokens (Anthropic's count_tokens)."""
    return _parse(raw, Operation.COUNT_TOKENS, request_id, received, caller, policy, headers)


def _parse(
    raw: bytes,
    op: Operation,
    request_id: str,
    received: float,
    caller: Caller,
    policy: str | None,
    headers: Mapping[str, str] | None,
) -> GatewayRequest:
    body = load_object(raw)
    model = model_of(body)
    FIELDS.check(body)
    if op is Operation.MESSAGES and body.get("max_tokens") is None:
        raise InvalidRequest("'max_tokens' is required.", param="max_tokens")
    prompt = prompt_checked(op, body)
    untranslatable = None
    if op is Operation.MESSAGES:
        try:  # learnt once here, so routing can keep it off deployments that would translate
            request_to_chat(body, upstream_model=model)
        except Untranslatable as exc:
            untranslatable = (exc.message, exc.param)
    caps = {"tools"} if body.get("tools") else set()
    if prompt.images:
        caps.add("vision")
    return GatewayRequest(
        operation=op,
        endpoint=op.endpoint,
        model=model,
        body=body,
        stream=op is Operation.MESSAGES and body.get("stream") is True,
        client_wants_usage=True,  # Messages streams always carry their usage
        demand=Demand(
            prompt_tokens=prompt_tokens_estimate(prompt),
            output_tokens=body.get("max_tokens") or 0,
            capabilities=frozenset(caps),
        ),
        prompt=prompt,
        request_id=request_id,
        received=received,
        caller=caller,
        hints=hints_of(body),
        policy=policy,
        headers=dict(headers or {}),
        untranslatable=untranslatable,
    )
