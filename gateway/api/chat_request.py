"""Parse and check a chat completion body: OpenAI's field types, naming the bad `param`."""

from __future__ import annotations

from gateway.api.body import Fields, Meta, read, request
from gateway.core.operation import Operation
from gateway.routing.request import GatewayRequest

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


def parse_chat(raw: bytes, meta: Meta) -> GatewayRequest:
    checked = read(raw, Operation.CHAT, FIELDS)
    body = checked.body
    out = body.get("max_completion_tokens") or body.get("max_tokens") or 0  # 0: router estimates
    opts = body.get("stream_options")
    return request(
        Operation.CHAT,
        checked,
        meta,
        output_tokens=out * (body.get("n") or 1),
        stream=body.get("stream") is True,
        client_wants_usage=isinstance(opts, dict) and opts.get("include_usage") is True,
    )
