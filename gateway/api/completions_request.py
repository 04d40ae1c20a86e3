"""Parse and check a legacy completions body (OpenAI's `POST /v1/completions`), naming the bad
`param`; streamed or not, passed through to OpenAI-compatible deployments."""

from __future__ import annotations

from gateway.api.body import Fields, Meta, read, request
from gateway.core.operation import Operation
from gateway.routing.request import GatewayRequest

FIELDS = Fields(
    ints=("max_tokens", "n", "best_of", "logprobs", "seed"),
    positive=("max_tokens", "n", "best_of"),
    numbers=("temperature", "top_p", "presence_penalty", "frequency_penalty"),
    types={
        "stream": (bool,),
        "echo": (bool,),
        "suffix": (str,),
        "stop": (str, list),
        "user": (str,),
        "stream_options": (dict,),
        "logit_bias": (dict,),
    },
)


def parse_completions(raw: bytes, meta: Meta) -> GatewayRequest:
    checked = read(raw, Operation.COMPLETIONS, FIELDS)
    body = checked.body
    opts = body.get("stream_options")
    return request(
        Operation.COMPLETIONS,
        checked,
        meta,
        output_tokens=(body.get("max_tokens") or 0) * (body.get("n") or 1),  # 0: estimated
        stream=body.get("stream") is True,
        client_wants_usage=isinstance(opts, dict) and opts.get("include_usage") is True,
    )
