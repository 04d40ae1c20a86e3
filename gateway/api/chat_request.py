"""Parse and check a chat completion body: OpenAI's field types, naming the bad `param`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

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
    ints=("max_tokens", "max_completion_tokens", "n", "seed", "top_logprobs"),
    positive=("max_tokens", "max_completion_tokens", "n"),
    numbers=("temperature", "top_p", "presence_penalty", "frequency_penalty"),
    types={
        "stream": (bool,),
        "logprobs": (bool,),
        "parallel_tool_calls": (bool,),
        "user": (str,),
        "tools": (list,),
        "tool_choice": (str, dict),
        "response_format": (dict,),
        "stream_options": (dict,),
        "stop": (str, list),
        "metadata": (dict,),
        "logit_bias": (dict,),
    },
)


def parse_chat(
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
    prompt = prompt_checked(Operation.CHAT, body)
    hints = hints_of(body)
    out = body.get("max_completion_tokens") or body.get("max_tokens") or 0  # 0: router estimates
    opts = body.get("stream_options")
    demand = Demand(
        prompt_tokens=prompt_tokens_estimate(prompt),
        output_tokens=out * (body.get("n") or 1),
        capabilities=_capabilities(body, prompt.images),
    )
    return GatewayRequest(
        operation=Operation.CHAT,
        endpoint=Operation.CHAT.endpoint,
        model=model,
        body=body,
        stream=body.get("stream") is True,
        client_wants_usage=isinstance(opts, dict) and opts.get("include_usage") is True,
        demand=demand,
        prompt=prompt,
        request_id=request_id,
        received=received,
        caller=caller,
        hints=hints,
        policy=policy,
    )


def _capabilities(body: dict[str, Any], images: int) -> frozenset[str]:
    caps = set()
    if body.get("tools"):
        caps.add("tools")
    fmt = body.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") in ("json_object", "json_schema"):
        caps.add("json_mode")
    if images:
        caps.add("vision")
    return frozenset(caps)
