"""`POST /v1/embeddings` on a simulated OpenAI vendor over real HTTP."""

from __future__ import annotations

import base64
import math
import struct
from typing import TYPE_CHECKING, Any

import openai
import pytest

from gateway.sim.embeddings import vector

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    import httpx

    from gateway.sim import SimVendor

    StartVendor = Callable[..., Awaitable[SimVendor]]


async def _embed(client: httpx.AsyncClient, vendor: SimVendor, **body: Any) -> httpx.Response:
    return await client.post(f"{vendor.base_url}/embeddings", json={"model": "m", **body})


async def test_one_string_shape_and_usage(
    start_vendor: StartVendor, client: httpx.AsyncClient
) -> None:
    vendor = await start_vendor()
    resp = await _embed(client, vendor, input="hello world")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("application/json")
    body = resp.json()
    assert set(body) == {"object", "data", "model", "usage"}
    assert body["object"] == "list"
    assert body["model"] == "m"
    assert body["usage"] == {"prompt_tokens": 3, "total_tokens": 3}
    [item] = body["data"]
    assert set(item) == {"object", "index", "embedding"}
    assert item["object"] == "embedding"
    assert item["index"] == 0
    assert item["embedding"] == vector("hello world", 8)
    assert len(item["embedding"]) == 8  # the vendor's default dimensions
    assert math.isclose(math.fsum(x * x for x in item["embedding"]), 1.0, rel_tol=1e-5)
    assert vendor.stats.by_endpoint == {"/v1/embeddings": {200: 1}}
    assert vendor.stats.requests_by_endpoint == {"/v1/embeddings": 1}
    assert vendor.stats.prompt_tokens == 3
    assert vendor.stats.completion_tokens == 0


async def test_vectors_are_deterministic_per_text(
    start_vendor: StartVendor, client: httpx.AsyncClient
) -> None:
    a = await start_vendor("a", seed=1)
    b = await start_vendor("b", seed=2)
    first = (await _embed(client, a, input=["x", "y", "x"])).json()["data"]
    second = (await _embed(client, b, input=["x"])).json()["data"]
    assert [d["index"] for d in first] == [0, 1, 2]
    assert first[0]["embedding"] == first[2]["embedding"] == second[0]["embedding"]
    assert first[0]["embedding"] != first[1]["embedding"]


@pytest.mark.parametrize(
    ("inputs", "count", "tokens"),
    [
        ("abcdefgh", 1, 2),
        (["abcd", "efghi"], 2, 1 + 2),
        ([1, 2, 3], 1, 3),
        ([[1, 2], [3, 4, 5]], 2, 5),
    ],
)
async def test_input_forms(
    start_vendor: StartVendor,
    client: httpx.AsyncClient,
    inputs: object,
    count: int,
    tokens: int,
) -> None:
    vendor = await start_vendor()
    body = (await _embed(client, vendor, input=inputs)).json()
    assert len(body["data"]) == count
    assert body["usage"] == {"prompt_tokens": tokens, "total_tokens": tokens}


async def test_token_arrays_embed_by_their_ids(
    start_vendor: StartVendor, client: httpx.AsyncClient
) -> None:
    vendor = await start_vendor()
    data = (await _embed(client, vendor, input=[[1, 2], [1, 2], [2, 1]])).json()["data"]
    assert data[0]["embedding"] == data[1]["embedding"] == vector([1, 2], 8)
    assert data[0]["embedding"] != data[2]["embedding"]


async def test_dimensions(start_vendor: StartVendor, client: httpx.AsyncClient) -> None:
    vendor = await start_vendor(embedding_dimensions=4)
    assert len((await _embed(client, vendor, input="a")).json()["data"][0]["embedding"]) == 4
    body = (await _embed(client, vendor, input="a", dimensions=32)).json()
    assert len(body["data"][0]["embedding"]) == 32


async def test_base64_decodes_to_the_float_vector(
    start_vendor: StartVendor, client: httpx.AsyncClient
) -> None:
    vendor = await start_vendor()
    floats = (await _embed(client, vendor, input=["a", "b"], dimensions=16)).json()["data"]
    encoded = (
        await _embed(client, vendor, input=["a", "b"], dimensions=16, encoding_format="base64")
    ).json()["data"]
    for plain, packed in zip(floats, encoded, strict=True):
        assert isinstance(packed["embedding"], str)
        raw = base64.b64decode(packed["embedding"])
        assert len(raw) == 16 * 4
        assert list(struct.unpack("<16f", raw)) == plain["embedding"]


async def test_openai_sdk_reads_them(start_vendor: StartVendor) -> None:
    """The SDK asks for base64 and decodes it itself: the same numbers as `float`."""
    vendor = await start_vendor(api_key="sk-sim")
    async with openai.AsyncOpenAI(base_url=vendor.base_url, api_key="sk-sim") as sdk:
        result = await sdk.embeddings.create(model="m", input=["hello", "world"], dimensions=5)
    assert [d.embedding for d in result.data] == [vector("hello", 5), vector("world", 5)]
    assert result.usage.prompt_tokens == 4
    last = vendor.last_request
    assert last is not None
    assert last.json()["encoding_format"] == "base64"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"input": "a"}, "model"),
        ({"model": "m"}, "input"),
        ({"model": "m", "input": ""}, "input"),
        ({"model": "m", "input": []}, "input"),
        ({"model": "m", "input": [["a"]]}, "input"),
        ({"model": "m", "input": [1, -2]}, "input"),
        ({"model": "m", "input": "a", "dimensions": 0}, "dimensions"),
        ({"model": "m", "input": "a", "encoding_format": "int8"}, "encoding_format"),
    ],
)
async def test_invalid_bodies_are_400(
    start_vendor: StartVendor, client: httpx.AsyncClient, body: dict[str, Any], param: str
) -> None:
    vendor = await start_vendor()
    resp = await client.post(f"{vendor.base_url}/embeddings", json=body)
    assert resp.status_code == 400
    assert resp.json()["error"] == {
        "message": resp.json()["error"]["message"],
        "type": "invalid_request_error",
        "param": param,
        "code": None,
    }


async def test_auth_limits_errors_and_faults(
    start_vendor: StartVendor, client: httpx.AsyncClient
) -> None:
    vendor = await start_vendor(api_key="sk-sim", rpm=2)
    good = {"Authorization": "Bearer sk-sim"}
    url = f"{vendor.base_url}/embeddings"
    body = {"model": "m", "input": "a"}
    unauthorized = await client.post(url, json=body)
    assert unauthorized.status_code == 401
    assert unauthorized.json()["error"]["code"] == "invalid_api_key"
    missing = await client.post(url, json={**body, "model": "nope"}, headers=good)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "model_not_found"
    ok = await client.post(url, json=body, headers=good)
    assert ok.status_code == 200
    assert ok.headers["x-ratelimit-limit-requests"] == "2"
    assert ok.headers["x-ratelimit-remaining-requests"] == "1"  # refusals are not counted
    assert (await client.post(url, json=body, headers=good)).status_code == 200
    limited = await client.post(url, json=body, headers=good)
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) >= 1
    vendor.set_behaviour(rpm=None, error_rate=1.0, error_status=503)
    assert (await client.post(url, json=body, headers=good)).status_code == 503
    vendor.set_behaviour(error_rate=0.0, fault="malformed")
    broken = await client.post(url, json=body, headers=good)
    assert broken.status_code == 200
    with pytest.raises(ValueError):  # noqa: PT011 (any JSON decode error)
        broken.json()
    assert vendor.stats.by_endpoint == {"/v1/embeddings": {401: 1, 404: 1, 200: 3, 429: 1, 503: 1}}
    assert vendor.stats.faults == 1
