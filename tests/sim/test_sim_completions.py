"""`POST /v1/completions` (legacy text completions) on a simulated vendor over real HTTP."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import openai
import orjson
import pytest

from gateway.sim import text

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    import httpx

    from gateway.sim import SimVendor

    StartVendor = Callable[..., Awaitable[SimVendor]]


async def _complete(client: httpx.AsyncClient, vendor: SimVendor, **body: Any) -> httpx.Response:
    return await client.post(
        f"{vendor.base_url}/completions", json={"model": "m", "prompt": "hello", **body}
    )


async def _stream(
    client: httpx.AsyncClient, vendor: SimVendor, **body: Any
) -> tuple[httpx.Response, list[Any]]:
    body = {"model": "m", "prompt": "hello", "stream": True, **body}
    async with client.stream("POST", f"{vendor.base_url}/completions", json=body) as resp:
        raw = b"".join([chunk async for chunk in resp.aiter_bytes()])
    events: list[Any] = []
    for block in raw.decode().split("\n\n")[:-1]:
        assert block.startswith("data: ")
        data = block.removeprefix("data: ")
        events.append(data if data == "[DONE]" else orjson.loads(data))
    return resp, events


async def test_non_stream_shape(start_vendor: StartVendor, client: httpx.AsyncClient) -> None:
    vendor = await start_vendor()
    resp = await _complete(client, vendor)
    assert resp.status_code == 200
    body = resp.json()
    assert list(body) == ["id", "object", "created", "model", "choices", "usage"]
    assert body["id"].startswith("cmpl-sim-")
    assert body["object"] == "text_completion"
    assert isinstance(body["created"], int)
    assert body["model"] == "m"
    assert body["choices"] == [
        {
            "text": text.completion_text("hello", 8),
            "index": 0,
            "logprobs": None,
            "finish_reason": "stop",
        }
    ]
    assert body["usage"] == {"prompt_tokens": 2, "completion_tokens": 8, "total_tokens": 10}
    assert vendor.stats.by_endpoint == {"/v1/completions": {200: 1}}
    assert (vendor.stats.prompt_tokens, vendor.stats.completion_tokens) == (2, 8)


async def test_a_list_of_prompts_and_n(
    start_vendor: StartVendor, client: httpx.AsyncClient
) -> None:
    vendor = await start_vendor()
    body = (await _complete(client, vendor, prompt=["a", [5, 6, 7]], n=2, max_tokens=3)).json()
    choices = body["choices"]
    assert [c["index"] for c in choices] == [0, 1, 2, 3]
    assert choices[0]["text"] == choices[1]["text"] == text.completion_text("a", 3)
    assert choices[2]["text"] == choices[3]["text"] == text.completion_text("5 6 7", 3)
    assert {c["finish_reason"] for c in choices} == {"length"}
    assert body["usage"] == {"prompt_tokens": 1 + 3, "completion_tokens": 12, "total_tokens": 16}


async def test_stream_with_usage(start_vendor: StartVendor, client: httpx.AsyncClient) -> None:
    vendor = await start_vendor(tokens_per_s=2_000)  # several paced batches
    resp, events = await _stream(client, vendor, stream_options={"include_usage": True})
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/event-stream")
    assert events[-1] == "[DONE]"
    *tokens, final, usage = events[:-1]
    assert len(tokens) == 8
    words = text.tokens("hello", 8)
    for chunk, word in zip(tokens, words, strict=True):
        assert chunk["object"] == "text_completion"
        assert chunk["model"] == "m"
        assert chunk["usage"] is None
        assert chunk["choices"] == [
            {"text": word, "index": 0, "logprobs": None, "finish_reason": None}
        ]
    assert final["choices"] == [{"text": "", "index": 0, "logprobs": None, "finish_reason": "stop"}]
    assert usage["choices"] == []
    assert usage["usage"] == {"prompt_tokens": 2, "completion_tokens": 8, "total_tokens": 10}
    assert len({e["id"] for e in events[:-1]}) == 1
    assert vendor.stats.streamed == 1
    assert vendor.stats.completion_tokens == 8


async def test_stream_without_usage_and_two_prompts(
    start_vendor: StartVendor, client: httpx.AsyncClient
) -> None:
    vendor = await start_vendor()
    _, events = await _stream(client, vendor, prompt=["a", "b"], max_tokens=2)
    assert events[-1] == "[DONE]"
    chunks = events[:-1]
    assert all("usage" not in c for c in chunks)
    by_index: dict[int, str] = {0: "", 1: ""}
    for chunk in chunks:
        [choice] = chunk["choices"]
        by_index[choice["index"]] += choice["text"]
    assert by_index == {0: text.completion_text("a", 2), 1: text.completion_text("b", 2)}
    assert [c["choices"][0]["finish_reason"] for c in chunks[-2:]] == ["length", "length"]
    assert vendor.stats.completion_tokens == 4


async def test_openai_sdk_reads_them(start_vendor: StartVendor) -> None:
    vendor = await start_vendor()
    async with openai.AsyncOpenAI(base_url=vendor.base_url, api_key="unused") as sdk:
        whole = await sdk.completions.create(model="m", prompt="hi", max_tokens=4)
        stream = await sdk.completions.create(
            model="m",
            prompt="hi",
            max_tokens=4,
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = [chunk async for chunk in stream]
    assert whole.choices[0].text == text.completion_text("hi", 4)
    assert "".join(c.choices[0].text for c in chunks if c.choices) == whole.choices[0].text
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 4


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"prompt": "a"}, "model"),
        ({"model": "m"}, "prompt"),
        ({"model": "m", "prompt": []}, "prompt"),
        ({"model": "m", "prompt": ["a", 3]}, "prompt"),
        ({"model": "m", "prompt": "a", "max_tokens": 0}, "max_tokens"),
        ({"model": "m", "prompt": "a", "n": 0}, "n"),
    ],
)
async def test_invalid_bodies_are_400(
    start_vendor: StartVendor, client: httpx.AsyncClient, body: dict[str, Any], param: str
) -> None:
    vendor = await start_vendor()
    resp = await client.post(f"{vendor.base_url}/completions", json=body)
    assert resp.status_code == 400
    error = resp.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert (error["type"], error["param"]) == ("invalid_request_error", param)


async def test_auth_errors_and_stream_faults(
    start_vendor: StartVendor, client: httpx.AsyncClient
) -> None:
    vendor = await start_vendor(api_key="sk-sim")
    good = {"Authorization": "Bearer sk-sim"}
    url = f"{vendor.base_url}/completions"
    assert (await client.post(url, json={"model": "m", "prompt": "a"})).status_code == 401
    forced = await client.post(url, json={"model": "m-error-502", "prompt": "a"}, headers=good)
    assert forced.status_code == 502
    assert forced.json()["error"]["type"] == "server_error"
    vendor.set_behaviour(fault="malformed", fault_after_chunks=2)
    body = {"model": "m", "prompt": "a", "stream": True}
    async with client.stream("POST", url, json=body, headers=good) as resp:
        raw = b"".join([chunk async for chunk in resp.aiter_bytes()])
    blocks = raw.split(b"\n\n")
    assert blocks[2] == b"data: {broken"
    assert raw.endswith(b"data: [DONE]\n\n")
    assert vendor.stats.by_endpoint == {"/v1/completions": {401: 1, 502: 1, 200: 1}}
