"""Chat completions from a simulated vendor over real HTTP: JSON answers, streams, tools."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from gateway.sim import SimVendor, text

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    import httpx

    StartVendor = Callable[..., Awaitable[SimVendor]]

MESSAGES = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello"}]
PROMPT = "be brief" + "hello"
TOOLS = [{"type": "function", "function": {"name": "search", "parameters": {}}}]


async def _chat(client: httpx.AsyncClient, vendor: SimVendor, **body: Any) -> httpx.Response:
    body = {"model": "m", "messages": MESSAGES, **body}
    return await client.post(f"{vendor.base_url}/chat/completions", json=body)


async def _stream(
    client: httpx.AsyncClient, vendor: SimVendor, **body: Any
) -> tuple[httpx.Response, list[Any]]:
    """The response and its SSE events, decoded (the final `[DONE]` kept as a string)."""
    body = {"model": "m", "messages": MESSAGES, "stream": True, **body}
    async with client.stream("POST", f"{vendor.base_url}/chat/completions", json=body) as resp:
        raw = b"".join([chunk async for chunk in resp.aiter_bytes()])
    events: list[Any] = []
    for block in raw.decode().split("\n\n")[:-1]:
        assert block.startswith("data: ")
        data = block.removeprefix("data: ")
        events.append(data if data == "[DONE]" else orjson.loads(data))
    return resp, events


async def test_non_stream_shape_and_usage(
    start_vendor: StartVendor, client: httpx.AsyncClient
) -> None:
    vendor = await start_vendor()
    resp = await _chat(client, vendor)
    assert resp.status_code == 200
    body = resp.json()
    assert body["id"].startswith("chatcmpl-sim-")
    assert body["object"] == "chat.completion"
    assert isinstance(body["created"], int)
    assert body["model"] == "m"
    [choice] = body["choices"]
    assert choice["index"] == 0
    assert choice["message"] == {"role": "assistant", "content": text.completion_text(PROMPT, 8)}
    assert choice["finish_reason"] == "stop"
    prompt_tokens = -(-len(PROMPT) // 4)
    assert body["usage"] == {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": 8,
        "total_tokens": prompt_tokens + 8,
    }


async def test_max_tokens_caps_the_answer(
    start_vendor: StartVendor, client: httpx.AsyncClient
) -> None:
    vendor = await start_vendor()
    capped = (await _chat(client, vendor, max_tokens=3)).json()
    assert capped["choices"][0]["finish_reason"] == "length"
    assert capped["usage"]["completion_tokens"] == 3
    roomy = (await _chat(client, vendor, max_completion_tokens=100)).json()
    assert roomy["choices"][0]["finish_reason"] == "stop"
    assert roomy["usage"]["completion_tokens"] == 8


async def test_n_choices(start_vendor: StartVendor, client: httpx.AsyncClient) -> None:
    vendor = await start_vendor()
    body = (await _chat(client, vendor, n=3)).json()
    assert [c["index"] for c in body["choices"]] == [0, 1, 2]
    assert len({c["message"]["content"] for c in body["choices"]}) == 1
    assert body["usage"]["completion_tokens"] == 24


async def test_same_prompt_same_text_on_any_vendor(
    start_vendor: StartVendor, client: httpx.AsyncClient
) -> None:
    first = await start_vendor("a", seed=1)
    second = await start_vendor("b", seed=2)
    answers = []
    for vendor in (first, first, second):
        answers.append((await _chat(client, vendor)).json()["choices"][0]["message"]["content"])
    assert answers[0] == answers[1] == answers[2]
    other = (await _chat(client, first, messages=[{"role": "user", "content": "bye"}])).json()
    assert other["choices"][0]["message"]["content"] != answers[0]


async def test_stream_events_with_usage(
    start_vendor: StartVendor, client: httpx.AsyncClient
) -> None:
    vendor = await start_vendor()
    resp, events = await _stream(client, vendor, stream_options={"include_usage": True})
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/event-stream")
    assert events[-1] == "[DONE]"
    *tokens, final, usage = events[:-1]
    assert len(tokens) == 8
    assert tokens[0]["choices"][0]["delta"]["role"] == "assistant"
    assert all("role" not in t["choices"][0]["delta"] for t in tokens[1:])
    assert "".join(t["choices"][0]["delta"]["content"] for t in tokens) == text.completion_text(
        PROMPT, 8
    )
    for chunk in [*tokens, final]:
        assert chunk["object"] == "chat.completion.chunk"
        assert chunk["model"] == "m"
        assert chunk["usage"] is None
    assert final["choices"][0]["delta"] == {}
    assert final["choices"][0]["finish_reason"] == "stop"
    assert usage["choices"] == []
    assert usage["usage"]["completion_tokens"] == 8
    assert len({e["id"] for e in events[:-1]}) == 1


async def test_stream_without_usage(start_vendor: StartVendor, client: httpx.AsyncClient) -> None:
    vendor = await start_vendor(tokens_per_s=2_000)  # several paced batches
    _, events = await _stream(client, vendor, max_tokens=5)
    assert events[-1] == "[DONE]"
    chunks = events[:-1]
    assert all("usage" not in c for c in chunks)
    assert len(chunks) == 6
    assert chunks[-1]["choices"][0]["finish_reason"] == "length"
    assert vendor.stats.streamed == 1
    assert vendor.stats.completion_tokens == 5


async def test_tool_call(start_vendor: StartVendor, client: httpx.AsyncClient) -> None:
    vendor = await start_vendor()
    body = (await _chat(client, vendor, tools=TOOLS)).json()
    choice = body["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    [call] = choice["message"]["tool_calls"]
    assert call["type"] == "function"
    assert call["id"].startswith("call_")
    assert call["function"]["name"] == "search"
    first_word = text.tokens(PROMPT, 1)[0].strip()
    assert orjson.loads(call["function"]["arguments"]) == {"query": first_word}


async def test_tool_choice_none_and_named(
    start_vendor: StartVendor, client: httpx.AsyncClient
) -> None:
    vendor = await start_vendor()
    plain = (await _chat(client, vendor, tools=TOOLS, tool_choice="none")).json()
    assert plain["choices"][0]["message"]["content"] == text.completion_text(PROMPT, 8)
    named = {"type": "function", "function": {"name": "lookup"}}
    body = (await _chat(client, vendor, tools=TOOLS, tool_choice=named)).json()
    assert body["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == "lookup"


async def test_streamed_tool_call(start_vendor: StartVendor, client: httpx.AsyncClient) -> None:
    vendor = await start_vendor()
    _, events = await _stream(client, vendor, tools=TOOLS)
    first, final, done = events
    delta = first["choices"][0]["delta"]
    assert delta["role"] == "assistant"
    [call] = delta["tool_calls"]
    assert call["index"] == 0
    assert call["type"] == "function"
    assert call["function"]["name"] == "search"
    assert "query" in orjson.loads(call["function"]["arguments"])
    assert final["choices"][0] == {
        "index": 0,
        "delta": {},
        "logprobs": None,
        "finish_reason": "tool_calls",
    }
    assert done == "[DONE]"
