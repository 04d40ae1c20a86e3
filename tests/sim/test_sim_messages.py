"""`POST /v1/messages` and `/v1/messages/count_tokens` on a simulated Anthropic vendor over real
HTTP: reply shapes, the exact stream event sequence, tool use, token counts, prompt caching."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson
import pytest

from gateway.sim import text

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    import httpx

    from gateway.sim import SimVendor

    StartVendor = Callable[..., Awaitable[SimVendor]]

KEY = "sk-ant-sim"
HEADERS = {"x-api-key": KEY, "anthropic-version": "2023-06-01"}
BODY: dict[str, Any] = {
    "model": "claude-sim",
    "max_tokens": 100,
    "system": "be brief",
    "messages": [{"role": "user", "content": "hello"}],
}
PROMPT = "be brief" + "hello"  # what the answer's words hash: the same as chat's
TOOLS = [{"name": "search", "description": "look it up", "input_schema": {"type": "object"}}]
LONG = "You are a careful assistant. " * 40  # 1160 characters: 290 tokens


async def _anthropic(start_vendor: StartVendor, **fields: Any) -> SimVendor:
    fields = {"dialect": "anthropic", "models": ["claude-sim"], "api_key": KEY, **fields}
    return await start_vendor("claude", **fields)


async def _post(
    client: httpx.AsyncClient, vendor: SimVendor, path: str = "/v1/messages", **body: Any
) -> httpx.Response:
    return await client.post(f"{vendor.root_url}{path}", json={**BODY, **body}, headers=HEADERS)


async def _stream(
    client: httpx.AsyncClient, vendor: SimVendor, **body: Any
) -> list[tuple[str, dict[str, Any]]]:
    """The (event, data) pairs of a stream, each checked to be `event: X\\ndata: {...}`."""
    url = f"{vendor.root_url}/v1/messages"
    body = {**BODY, "stream": True, **body}
    async with client.stream("POST", url, json=body, headers=HEADERS) as resp:
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/event-stream")
        raw = b"".join([chunk async for chunk in resp.aiter_bytes()])
    assert raw.endswith(b"\n\n")
    events = []
    for block in raw.decode().split("\n\n")[:-1]:
        name_line, data_line = block.split("\n")
        name = name_line.removeprefix("event: ")
        data = orjson.loads(data_line.removeprefix("data: "))
        assert data["type"] == name
        events.append((name, data))
    return events


def _tokens(chars: int) -> int:
    return -(-chars // 4)


async def test_non_stream_shape(start_vendor: StartVendor, client: httpx.AsyncClient) -> None:
    vendor = await _anthropic(start_vendor)
    resp = await _post(client, vendor)
    assert resp.status_code == 200
    body = resp.json()
    assert body["id"].startswith("msg_")
    assert body == {
        "id": body["id"],
        "type": "message",
        "role": "assistant",
        "model": "claude-sim",
        "content": [{"type": "text", "text": text.completion_text(PROMPT, 8)}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {
            "input_tokens": _tokens(len(PROMPT)),
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "output_tokens": 8,
        },
    }
    stats = vendor.stats
    assert stats.by_endpoint == {"/v1/messages": {200: 1}}
    assert (stats.prompt_tokens, stats.completion_tokens) == (_tokens(len(PROMPT)), 8)


async def test_same_answer_as_chat_on_an_openai_vendor(
    start_vendor: StartVendor, client: httpx.AsyncClient
) -> None:
    claude = await _anthropic(start_vendor)
    openai_vendor = await start_vendor("gpt")
    messages = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello"}]
    chat = await client.post(
        f"{openai_vendor.base_url}/chat/completions", json={"model": "m", "messages": messages}
    )
    reply = await _post(client, claude, system=[{"type": "text", "text": "be brief"}])
    assert reply.json()["content"][0]["text"] == chat.json()["choices"][0]["message"]["content"]


async def test_max_tokens_stops_the_answer(
    start_vendor: StartVendor, client: httpx.AsyncClient
) -> None:
    vendor = await _anthropic(start_vendor)
    body = (await _post(client, vendor, max_tokens=3)).json()
    assert body["stop_reason"] == "max_tokens"
    assert body["content"] == [{"type": "text", "text": text.completion_text(PROMPT, 3)}]
    assert body["usage"]["output_tokens"] == 3


async def test_tool_use(start_vendor: StartVendor, client: httpx.AsyncClient) -> None:
    vendor = await _anthropic(start_vendor)
    body = (await _post(client, vendor, tools=TOOLS)).json()
    assert body["stop_reason"] == "tool_use"
    [block] = body["content"]
    assert block["id"].startswith("toolu_")
    first_word = text.tokens(PROMPT, 1)[0].strip()
    assert block == {
        "type": "tool_use",
        "id": block["id"],
        "name": "search",
        "input": {"query": first_word},
    }
    none = (await _post(client, vendor, tools=TOOLS, tool_choice={"type": "none"})).json()
    assert none["content"][0]["type"] == "text"
    assert none["stop_reason"] == "end_turn"
    named = {"type": "tool", "name": "lookup"}
    chosen = (await _post(client, vendor, tools=TOOLS, tool_choice=named)).json()
    assert chosen["content"][0]["name"] == "lookup"
    tool_tokens = _tokens(len(orjson.dumps(TOOLS[0])) + len(PROMPT))
    assert chosen["usage"]["input_tokens"] == tool_tokens


async def test_stream_event_sequence(start_vendor: StartVendor, client: httpx.AsyncClient) -> None:
    vendor = await _anthropic(start_vendor, tokens_per_s=2_000)  # several paced batches
    events = await _stream(client, vendor)
    names = [name for name, _ in events]
    assert names == [
        "message_start",
        "ping",
        "content_block_start",
        *["content_block_delta"] * 8,
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    start = events[0][1]["message"]
    assert start["id"].startswith("msg_")
    assert start == {
        "id": start["id"],
        "type": "message",
        "role": "assistant",
        "model": "claude-sim",
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {
            "input_tokens": _tokens(len(PROMPT)),
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "output_tokens": 1,
        },
    }
    assert events[1][1] == {"type": "ping"}
    assert events[2][1] == {
        "type": "content_block_start",
        "index": 0,
        "content_block": {"type": "text", "text": ""},
    }
    deltas = [data for name, data in events if name == "content_block_delta"]
    assert all(d["index"] == 0 and d["delta"]["type"] == "text_delta" for d in deltas)
    assert "".join(d["delta"]["text"] for d in deltas) == text.completion_text(PROMPT, 8)
    assert events[-3][1] == {"type": "content_block_stop", "index": 0}
    assert events[-2][1] == {
        "type": "message_delta",
        "delta": {"stop_reason": "end_turn", "stop_sequence": None},
        "usage": {"output_tokens": 8},
    }
    assert events[-1][1] == {"type": "message_stop"}
    assert vendor.stats.streamed == 1
    assert vendor.stats.completion_tokens == 8
    assert vendor.stats.by_endpoint == {"/v1/messages": {200: 1}}


async def test_streamed_tool_use(start_vendor: StartVendor, client: httpx.AsyncClient) -> None:
    vendor = await _anthropic(start_vendor)
    events = await _stream(client, vendor, tools=TOOLS)
    names = [name for name, _ in events]
    assert names[:3] == ["message_start", "ping", "content_block_start"]
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    block = events[2][1]["content_block"]
    assert block == {"type": "tool_use", "id": block["id"], "name": "search", "input": {}}
    deltas = [data["delta"] for name, data in events if name == "content_block_delta"]
    assert deltas
    assert all(d["type"] == "input_json_delta" for d in deltas)
    first_word = text.tokens(PROMPT, 1)[0].strip()
    assert orjson.loads("".join(d["partial_json"] for d in deltas)) == {"query": first_word}
    assert events[-2][1]["delta"]["stop_reason"] == "tool_use"


async def test_count_tokens(start_vendor: StartVendor, client: httpx.AsyncClient) -> None:
    vendor = await _anthropic(start_vendor, rpm=1)
    body = {k: v for k, v in BODY.items() if k != "max_tokens"}
    url = f"{vendor.root_url}/v1/messages/count_tokens"
    resp = await client.post(url, json=body, headers=HEADERS)
    assert resp.status_code == 200
    assert resp.json() == {"input_tokens": _tokens(len(PROMPT))}
    with_tools = await client.post(url, json={**body, "tools": TOOLS}, headers=HEADERS)
    assert with_tools.json() == {"input_tokens": _tokens(len(orjson.dumps(TOOLS[0])) + 13)}
    assert (await _post(client, vendor)).status_code == 200  # counting used no rate limit
    assert vendor.stats.by_endpoint == {
        "/v1/messages/count_tokens": {200: 2},
        "/v1/messages": {200: 1},
    }
    assert vendor.stats.prompt_tokens == _tokens(len(PROMPT))  # counting is not billed
    missing = await client.post(url, json={"model": "claude-sim"}, headers=HEADERS)
    assert missing.status_code == 400
    assert missing.json()["error"]["type"] == "invalid_request_error"


def _cached_system(question: str) -> dict[str, Any]:
    system = [{"type": "text", "text": LONG, "cache_control": {"type": "ephemeral"}}]
    return {"system": system, "messages": [{"role": "user", "content": question}]}


async def test_prompt_cache_write_then_read(
    start_vendor: StartVendor, client: httpx.AsyncClient
) -> None:
    vendor = await _anthropic(start_vendor)
    prefix = _tokens(len(LONG))
    first = (await _post(client, vendor, **_cached_system("what is 2+2?"))).json()["usage"]
    total = _tokens(len(LONG) + len("what is 2+2?"))
    assert first == {
        "input_tokens": total - prefix,
        "cache_creation_input_tokens": prefix,
        "cache_read_input_tokens": 0,
        "output_tokens": 8,
    }
    again = (await _post(client, vendor, **_cached_system("what is 2+2?"))).json()["usage"]
    assert again["cache_creation_input_tokens"] == 0
    assert again["cache_read_input_tokens"] == prefix
    assert again["input_tokens"] == total - prefix
    other = (await _post(client, vendor, **_cached_system("and 3+3?"))).json()["usage"]
    assert (other["cache_read_input_tokens"], other["cache_creation_input_tokens"]) == (prefix, 0)
    stats = vendor.stats
    assert (stats.cache_write_tokens, stats.cache_read_tokens) == (prefix, 2 * prefix)
    elsewhere = await _post(client, vendor, model="claude-sim-ttft-1ms", **_cached_system("x"))
    assert elsewhere.json()["usage"]["cache_creation_input_tokens"] == prefix  # per model
    vendor.reset_stats()  # forgets the cache too
    fresh = (await _post(client, vendor, **_cached_system("what is 2+2?"))).json()["usage"]
    assert fresh["cache_creation_input_tokens"] == prefix


async def test_prompt_cache_reads_the_longest_cached_breakpoint(
    start_vendor: StartVendor, client: httpx.AsyncClient
) -> None:
    vendor = await _anthropic(start_vendor)
    tools = [{**TOOLS[0], "description": LONG, "cache_control": {"type": "ephemeral"}}]
    tool_chars = len(orjson.dumps({k: v for k, v in tools[0].items() if k != "cache_control"}))
    messages = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "a" * 400, "cache_control": {"type": "ephemeral"}},
                {"type": "text", "text": "question?"},
            ],
        }
    ]
    body: dict[str, Any] = {"tools": tools, "tool_choice": {"type": "none"}, "messages": messages}
    first = (await _post(client, vendor, system="one", **body)).json()["usage"]
    through_messages = _tokens(tool_chars + 3 + 400)
    assert first["cache_creation_input_tokens"] == through_messages
    assert first["cache_read_input_tokens"] == 0
    changed = (await _post(client, vendor, system="two", **body)).json()["usage"]
    assert changed["cache_read_input_tokens"] == _tokens(tool_chars)  # only the tools match
    assert changed["cache_creation_input_tokens"] == through_messages - _tokens(tool_chars)
    assert sum(v for k, v in changed.items() if k != "output_tokens") == _tokens(
        tool_chars + 3 + 400 + len("question?")
    )


async def test_top_level_cache_control_caches_the_whole_prompt(
    start_vendor: StartVendor, client: httpx.AsyncClient
) -> None:
    vendor = await _anthropic(start_vendor)
    auto: dict[str, Any] = {"cache_control": {"type": "ephemeral"}}
    first = (await _post(client, vendor, **auto)).json()["usage"]
    assert (first["input_tokens"], first["cache_creation_input_tokens"]) == (0, 4)
    second = (await _post(client, vendor, **auto)).json()["usage"]
    assert (second["input_tokens"], second["cache_read_input_tokens"]) == (0, 4)


async def test_streamed_usage_reports_the_cache(
    start_vendor: StartVendor, client: httpx.AsyncClient
) -> None:
    vendor = await _anthropic(start_vendor)
    await _post(client, vendor, **_cached_system("q"))
    events = await _stream(client, vendor, **_cached_system("q"))
    usage = events[0][1]["message"]["usage"]
    assert usage["cache_read_input_tokens"] == _tokens(len(LONG))
    assert usage["cache_creation_input_tokens"] == 0


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"model": None}, "model: Field required"),
        ({"max_tokens": None}, "max_tokens: Field required"),
        ({"messages": None}, "messages: Field required"),
        ({"messages": []}, "messages: at least one message is required"),
        ({"system": 3}, "system: Input should be a valid string or list"),
        ({"tools": [{"description": "x"}]}, "tools.0.name: Field required"),
    ],
)
async def test_invalid_bodies_are_400(
    start_vendor: StartVendor, client: httpx.AsyncClient, change: dict[str, Any], message: str
) -> None:
    vendor = await _anthropic(start_vendor)
    body = {k: v for k, v in {**BODY, **change}.items() if v is not None}
    resp = await client.post(f"{vendor.root_url}/v1/messages", json=body, headers=HEADERS)
    assert resp.status_code == 400
    assert resp.json() == {
        "type": "error",
        "error": {"type": "invalid_request_error", "message": message},
    }
