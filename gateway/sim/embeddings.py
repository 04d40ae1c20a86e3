"""`POST /v1/embeddings`: deterministic unit vectors, as floats or base64 float32 (OpenAI).

The vector of an input is a function of its text (or token ids) and the dimensions only, so
every vendor agrees; its components are float32 values, so the `float` and `base64` encodings
of one input decode to the same numbers.
"""

from __future__ import annotations

import asyncio
import base64
import math
import struct
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, TypeGuard

import orjson

from gateway.sim import wire
from gateway.sim.core import Admitted
from gateway.sim.wire import BadRequest

if TYPE_CHECKING:
    from aiohttp import web

    from gateway.sim.core import VendorCore

MAX_INPUTS = 2048
MAX_DIMENSIONS = 8192
_UNIT = 1.0 / (1 << 31)


@dataclass(frozen=True, slots=True)
class EmbeddingsRequest:
    model: str
    inputs: list[str | list[int]]  # texts or token-id arrays, in order
    prompt_tokens: int
    dimensions: int | None
    encoding_format: Literal["float", "base64"]

    def budget(self, natural: int) -> int:
        return self.prompt_tokens


def parse_embeddings_request(raw: bytes) -> EmbeddingsRequest:
    """Validate an embeddings body; raises BadRequest naming the offending parameter."""
    body = wire.load_object(raw)
    model = wire.model_of(body)
    inputs = _inputs(body.get("input"))
    dimensions = None
    if body.get("dimensions") is not None:
        dimensions = wire.positive_int(body, "dimensions", default=0, maximum=MAX_DIMENSIONS)
    encoding = body.get("encoding_format", "float")
    if encoding not in ("float", "base64"):
        raise BadRequest("'encoding_format' must be 'float' or 'base64'", "encoding_format")
    return EmbeddingsRequest(
        model=model,
        inputs=inputs,
        prompt_tokens=sum(
            wire.estimate_tokens(i) if isinstance(i, str) else len(i) for i in inputs
        ),
        dimensions=dimensions,
        encoding_format="base64" if encoding == "base64" else "float",
    )


def _inputs(value: object) -> list[str | list[int]]:
    """A string, a list of strings, a token array or a list of token arrays, as a list."""
    if isinstance(value, str) or _is_tokens(value):
        value = [value]
    if not isinstance(value, list) or not value or len(value) > MAX_INPUTS:
        msg = f"'input' must be a string or a non-empty array (at most {MAX_INPUTS} items)"
        raise BadRequest(msg, "input")
    out: list[str | list[int]] = []
    for item in value:
        if (isinstance(item, str) and item) or _is_tokens(item):
            out.append(item)
        else:
            raise BadRequest("each 'input' must be a non-empty string or token array", "input")
    return out


def _is_tokens(value: object) -> TypeGuard[list[int]]:
    """A non-empty array of token ids."""
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(t, int) and not isinstance(t, bool) and t >= 0 for t in value)
    )


def vector(item: str | list[int], dimensions: int) -> list[float]:
    """The unit vector of an input: hash-seeded components, float32-exact."""
    if isinstance(item, str):
        key = zlib.crc32(item.encode("utf-8", "surrogatepass"))
    else:
        key = zlib.crc32(struct.pack(f"<{len(item)}I", *(t & 0xFFFFFFFF for t in item)), 1)
    raw = [zlib.crc32(i.to_bytes(4, "little"), key) * _UNIT - 1.0 for i in range(dimensions)]
    norm = math.sqrt(sum(x * x for x in raw)) or 1.0
    packed = struct.pack(f"<{dimensions}f", *(x / norm for x in raw))
    return list(struct.unpack(f"<{dimensions}f", packed))


def encode_base64(values: list[float]) -> str:
    """OpenAI's base64 encoding: little-endian float32 bytes."""
    return base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode()


def embeddings_body(req: EmbeddingsRequest, dimensions: int) -> bytes:
    data = []
    for i, item in enumerate(req.inputs):
        values = vector(item, dimensions)
        embedding: list[float] | str = (
            encode_base64(values) if req.encoding_format == "base64" else values
        )
        data.append({"object": "embedding", "index": i, "embedding": embedding})
    usage = {"prompt_tokens": req.prompt_tokens, "total_tokens": req.prompt_tokens}
    return orjson.dumps({"object": "list", "data": data, "model": req.model, "usage": usage})


async def handle(core: VendorCore, request: web.Request) -> web.StreamResponse:
    admitted = await core.admit(request, parse_embeddings_request)
    if not isinstance(admitted, Admitted):
        return admitted
    req = admitted.req
    body = embeddings_body(req, req.dimensions or core.spec.embedding_dimensions)
    key = "".join(i if isinstance(i, str) else "" for i in req.inputs)
    async with core.timing(key, req.prompt_tokens, req.prompt_tokens, admitted.ttft_ms) as timing:
        ttft_s, _ = timing
        await asyncio.sleep(ttft_s)  # an embedding is a prefill: no decoding
        instant = (0.0, 1.0)
        usage = (req.prompt_tokens, 0)
        return await core.respond(
            request, body, admitted.fault, timing=instant, decoded=0, usage=usage
        )
