"""Parse and check an OpenAI Responses body (`POST /v1/responses`), naming the bad `param`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.api.body import Fields, Meta, read, request
from gateway.core.operation import Operation
from gateway.dialects.responses_chat import Untranslatable, request_to_chat
from gateway.routing.request import GatewayRequest

FIELDS = Fields(
    ints=("max_output_tokens", "top_logprobs"),
    positive=("max_output_tokens",),
    numbers=("temperature", "top_p"),
    types={
        "stream": (bool,),
        "store": (bool,),
        "background": (bool,),
        "parallel_tool_calls": (bool,),
        "instructions": (str,),
        "previous_response_id": (str,),
        "user": (str,),
        "tools": (list,),
        "tool_choice": (str, dict),
        "text": (dict,),
        "reasoning": (dict,),
        "metadata": (dict,),
        "include": (list,),
    },
)


def parse_responses(raw: bytes, meta: Meta) -> GatewayRequest:
    checked = read(raw, Operation.RESPONSES, FIELDS)
    body = checked.body
    return request(
        Operation.RESPONSES,
        checked,
        meta,
        output_tokens=body.get("max_output_tokens") or 0,
        stream=body.get("stream") is True,
        client_wants_usage=True,  # response.completed carries it for every client
        untranslatable=untranslatable(body, checked.model),
    )


def untranslatable(body: Mapping[str, Any], model: str) -> tuple[str, str] | None:
    """Why a chat deployment could not serve it (stateful or built-in features), learnt once
    here so routing keeps it off deployments that would translate."""
    try:
        request_to_chat(body, upstream_model=model)
    except Untranslatable as exc:
        return exc.message, exc.param
    return None
