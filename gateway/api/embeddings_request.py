"""Parse and check an embeddings body (OpenAI's `POST /v1/embeddings`): the input's shape, the
field types, naming the bad `param`. Passed through as it is (dimensions, encoding_format...)."""

from __future__ import annotations

from gateway.api.body import Fields, Meta, read, request
from gateway.core.operation import Operation
from gateway.errors import InvalidRequest
from gateway.routing.request import GatewayRequest

FIELDS = Fields(
    ints=("dimensions",),
    positive=("dimensions",),
    types={"user": (str,), "encoding_format": (str,)},
)


def parse_embeddings(raw: bytes, meta: Meta) -> GatewayRequest:
    checked = read(raw, Operation.EMBEDDINGS, FIELDS)
    if checked.body.get("encoding_format") not in (None, "float", "base64"):
        raise InvalidRequest("'encoding_format' must be float or base64.", param="encoding_format")
    return request(
        Operation.EMBEDDINGS,
        checked,
        meta,
        output_tokens=0,
        stream=False,
        client_wants_usage=False,
    )
