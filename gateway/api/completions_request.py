"""Parse and check a legacy completions body (OpenAI's `POST /v1/completions`), naming the bad
`param`; streamed or not, passed through to OpenAI-compatible deployments."""

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


def parse_completions(
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
    prompt = prompt_checked(Operation.COMPLETIONS, body)
    opts = body.get("stream_options")
    out = body.get("max_tokens") or 0  # 0: the router estimates
    return GatewayRequest(
        operation=Operation.COMPLETIONS,
        endpoint=Operation.COMPLETIONS.endpoint,
        model=model,
        body=body,
        stream=body.get("stream") is True,
        client_wants_usage=isinstance(opts, dict) and opts.get("include_usage") is True,
        demand=Demand(
            prompt_tokens=prompt_tokens_estimate(prompt),
            output_tokens=out * (body.get("n") or 1),
        ),
        prompt=prompt,
        request_id=request_id,
        received=received,
        caller=caller,
        hints=hints_of(body),
        policy=policy,
    )
