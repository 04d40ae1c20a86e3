"""kind: cohere through the whole gateway, Cohere's v2 chat API mocked on the wire (respx): our
key as a bearer token, a chat, a stream, a tool call both ways, usage and cost in the ledger,
failover to an OpenAI-compatible kind on 429 and 5xx, and a 400 relayed to the client."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import respx

from tests.upstream.litellm.harness import (
    BACKUP,
    BACKUP_REPLY,
    BACKUP_URL,
    CHAT,
    SentWithBearer,
    cost,
    gateway,
    route,
    spend_rows,
    sse_chunks,
    tool_round_trip,
)

URL = "https://api.cohere.com/v2/chat"
ENV = {"COHERE_KEY": "co-test-key-0123456789"}
PROVIDER = """
  co:
    kind: cohere
    api_key_env: COHERE_KEY
    models:
      m:
        upstream: command-r-plus-08-2024
        price: {input_per_mtok: 2.5, output_per_mtok: 10}
"""
# As in Cohere's API reference (POST /v2/chat).
REPLY = {
    "id": "c14c80c3-18eb-4519-9460-6c92edd8cfb4",
    "finish_reason": "COMPLETE",
    "message": {"role": "assistant", "content": [{"type": "text", "text": "Hello from Cohere"}]},
    "usage": {
        "billed_units": {"input_tokens": 5, "output_tokens": 4},
        "tokens": {"input_tokens": 71, "output_tokens": 4},
    },
}
TOOL_REPLY = {
    "id": "0a2b1c4e-0f51-4e83-a1c2-77e1ff0e4b13",
    "finish_reason": "TOOL_CALL",
    "message": {
        "role": "assistant",
        "tool_plan": "I will look up the weather in Paris.",
        "tool_calls": [
            {
                "id": "get_weather_1byjy32y4hvq",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
            }
        ],
    },
    "usage": {
        "billed_units": {"input_tokens": 30, "output_tokens": 20},
        "tokens": {"input_tokens": 900, "output_tokens": 20},
    },
}


sent = SentWithBearer("co-test-key-0123456789")


async def test_chat_with_our_key_and_cohere_token_counts_in_the_ledger(tmp_path: Path) -> None:
    with respx.mock() as mock:
        chat = mock.post(URL).respond(200, json=REPLY)
        async with gateway(tmp_path, PROVIDER, ENV, route("co/m")) as gw:
            reply = await gw.post("/v1/chat/completions", json={**CHAT, "temperature": 0.3})
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["choices"][0]["message"] == {"role": "assistant", "content": "Hello from Cohere"}
    assert body["choices"][0]["finish_reason"] == "stop"
    wire = sent(chat)
    assert wire["model"] == "command-r-plus-08-2024" and wire["temperature"] == 0.3
    assert wire["messages"] == [{"role": "user", "content": "hi"}]
    (row,) = await spend_rows(tmp_path)
    assert (row.prompt_tokens, row.completion_tokens) == (71, 4)  # tokens, not billed_units
    assert row.cost_usd == cost(71, 4, 2.5, 10)


def ndjson(*events: dict[str, Any]) -> bytes:
    """Cohere's v2 stream as its reference shows it: one JSON event per line."""
    return b"".join(json.dumps(e).encode() + b"\n" for e in events)


STARTED = {"message": {"role": "assistant", "content": [], "tool_plan": "", "tool_calls": []}}
STREAM = ndjson(
    {"id": "29f14a5a-11de-4cae-9800-25e4747408ea", "type": "message-start", "delta": STARTED},
    {"type": "content-start", "index": 0, "delta": {"message": {"content": {"type": "text"}}}},
    {"type": "content-delta", "index": 0, "delta": {"message": {"content": {"text": "Hel"}}}},
    {"type": "content-delta", "index": 0, "delta": {"message": {"content": {"text": "lo"}}}},
    {"type": "content-end", "index": 0},
    {
        "type": "message-end",
        "delta": {
            "finish_reason": "COMPLETE",
            "usage": {
                "billed_units": {"input_tokens": 3, "output_tokens": 2},
                "tokens": {"input_tokens": 69, "output_tokens": 2},
            },
        },
    },
)  # fmt: skip


async def stream_once(tmp_path: Path) -> tuple[list[dict[str, Any]], Any]:
    with respx.mock() as mock:
        mock.post(URL).respond(200, content=STREAM, headers={"content-type": "text/event-stream"})
        async with gateway(tmp_path, PROVIDER, ENV, route("co/m")) as gw:
            reply = await gw.post("/v1/chat/completions", json={**CHAT, "stream": True})
    assert reply.status_code == 200, reply.text
    (row,) = await spend_rows(tmp_path)
    return sse_chunks(reply.content), row


async def test_a_stream_relayed_as_openai_sse_and_billed(tmp_path: Path) -> None:
    chunks, row = await stream_once(tmp_path)
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == "Hello"
    assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]][-1] == "stop"
    assert row.stream and row.completion_tokens > 0 and row.prompt_tokens > 0
    assert row.cost_usd == cost(row.prompt_tokens, row.completion_tokens, 2.5, 10)


@pytest.mark.xfail(
    strict=True,
    reason="litellm 1.110 does not read the usage of Cohere's v2 message-end event (it keys on "
    "'event', Cohere sends 'type') and counts the tokens itself",
)
async def test_a_stream_is_billed_with_cohere_own_token_counts(tmp_path: Path) -> None:
    _, row = await stream_once(tmp_path)
    assert (row.prompt_tokens, row.completion_tokens) == (69, 2)


async def test_a_tool_call_round_trip(tmp_path: Path) -> None:
    with respx.mock() as mock:
        chat = mock.post(URL)
        chat.side_effect = [
            respx.MockResponse(200, json=TOOL_REPLY),
            respx.MockResponse(200, json=REPLY),
        ]
        async with gateway(tmp_path, PROVIDER, ENV, route("co/m")) as gw:
            await tool_round_trip(gw, "get_weather_1byjy32y4hvq")
    (spec,) = sent(chat, 0)["tools"]
    assert spec["function"]["name"] == "get_weather"
    back = sent(chat, 1)["messages"]
    assert back[1]["role"] == "assistant"
    assert back[1]["tool_calls"][0]["id"] == "get_weather_1byjy32y4hvq"
    assert back[2]["role"] == "tool" and back[2]["tool_call_id"] == "get_weather_1byjy32y4hvq"
    rows = await spend_rows(tmp_path)
    assert sorted(r.prompt_tokens for r in rows) == [71, 900]


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (429, "You are using a Trial key, which is limited to 10 API calls / minute."),
        (500, "internal server error, this has been reported to our developers"),
        (503, "service unavailable"),
    ],
)
async def test_throttled_or_failing_cohere_fails_over_to_openai(
    tmp_path: Path, status: int, message: str
) -> None:
    with respx.mock() as mock:
        chat = mock.post(URL).respond(status, json={"message": message})
        backup = mock.post(BACKUP_URL).respond(200, json=BACKUP_REPLY)
        async with gateway(tmp_path, PROVIDER + BACKUP, ENV, route("co/m", "backup/m")) as gw:
            reply = await gw.post("/v1/chat/completions", json=CHAT)
    assert reply.status_code == 200, reply.text
    assert chat.call_count == 1 and backup.call_count == 1
    assert reply.headers["x-gateway-deployment"] == "backup/m"
    (row,) = await spend_rows(tmp_path)
    assert (row.provider, row.attempts) == ("backup", 2)


async def test_a_bad_request_is_the_clients_and_not_retried(tmp_path: Path) -> None:
    with respx.mock(assert_all_called=False) as mock:
        chat = mock.post(URL).respond(400, json={"message": "invalid request: temperature"})
        backup = mock.post(BACKUP_URL).respond(200, json=BACKUP_REPLY)
        async with gateway(tmp_path, PROVIDER + BACKUP, ENV, route("co/m", "backup/m")) as gw:
            reply = await gw.post("/v1/chat/completions", json=CHAT)
    assert reply.status_code == 400
    error = reply.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert "invalid request: temperature" in error["message"]
    assert "co-test-key" not in reply.text
    assert chat.call_count == 1 and backup.call_count == 0
