"""Parse and check an embeddings body (OpenAI's `POST /v1/embeddings`): the input's shape, the
field types, naming the bad `param`. Passed through as it is (dimensions, encoding_format...)."""

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
from gateway.errors import InvalidRequest
from gateway.routing.request import GatewayRequest
from gateway.routing.scoring import Demand

FIELDS = Fields(
    ints=("dimensions",),
    positive=("dimensions",),
    types={"user": (str,), "encoding_format": (str,)},
)


def parse_embeddings(
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
    if body.get("encoding_format") not in (None, "float", "base64"):
        raise InvalidRequest("'encoding_format' must be float or base64.", param="encoding_format")
    prompt = prompt_checked(Operation.EMBEDDINGS, body)
    return GatewayRequest(
        operation=Operation.EMBEDDINGS,
        endpoint=Operation.EMBEDDINGS.endpoint,
        model=model,
        body=body,
        stream=False,
        client_wants_usage=False,
        demand=Demand(prompt_tokens=prompt_tokens_estimate(prompt), output_tokens=0),
        prompt=prompt,
        request_id=request_id,
        received=received,
        caller=caller,
        hints=hints_of(body),
        policy=policy,
    )
