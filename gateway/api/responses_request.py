"""Parse and check an OpenAI Responses body (`POST /v1/responses`), naming the bad `param`."""

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
from gateway.routing.request import GatewayRequest
from gateway.routing.scoring import Demand

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


def parse_responses(
    raw: bytes,
    *,
    request_id: str,
    received: float,
    caller: Caller = ANONYMOUS,
    policy: str | None = None,
    headers: Mapping[str, str] | None = None,  # (no client header goes to these vendors)
) -> GatewayRequest:
    body = load_object(raw)
    model = model_of(body)
    FIELDS.check(body)
    prompt = prompt_checked(Operation.RESPONSES, body)
    caps = {"tools"} if body.get("tools") else set()
    if prompt.images:
        caps.add("vision")
    text = body.get("text")
    fmt = text.get("format") if isinstance(text, dict) else None
    if isinstance(fmt, dict) and fmt.get("type") in ("json_schema", "json_object"):
        caps.add("json_mode")
    return GatewayRequest(
        operation=Operation.RESPONSES,
        endpoint=Operation.RESPONSES.endpoint,
        model=model,
        body=body,
        stream=body.get("stream") is True,
        client_wants_usage=True,  # response.completed carries it for every client
        demand=Demand(
            prompt_tokens=prompt_tokens_estimate(prompt),
            output_tokens=body.get("max_output_tokens") or 0,
            capabilities=frozenset(caps),
        ),
        prompt=prompt,
        request_id=request_id,
        received=received,
        caller=caller,
        hints=hints_of(body),
        policy=policy,
        untranslatable=untranslatable(body),
    )


def untranslatable(body: Mapping[str, object]) -> tuple[str, str] | None:
    """Why a chat deployment could not serve it (translation lands with its dialect module)."""
    return ("the Responses API is served only where it is native", "model")
