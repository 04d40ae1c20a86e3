"""kind: bedrock through the whole gateway, Bedrock's Converse API mocked on the wire (respx):
SigV4-signed requests, a chat, a binary event stream, a tool call both ways, usage with cache
reads and writes into the ledger, and failover to an OpenAI-compatible kind on 429 and 5xx."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
import respx

from tests.upstream.litellm.eventstream import exception, message
from tests.upstream.litellm.harness import (
    BACKUP,
    BACKUP_REPLY,
    BACKUP_STREAM,
    BACKUP_URL,
    CHAT,
    SSE,
    cost,
    gateway,
    route,
    spend_rows,
    sse_chunks,
    tool_round_trip,
)

MODEL_ID = "anthropic.claude-3-5-haiku-20241022-v1:0"
BASE = "https://bedrock-runtime.eu-west-1.amazonaws.com/model/anthropic.claude-3-5-haiku-20241022-v1%3A0"
ENV = {
    "AWS_KEY_ID": "AKIAIOSFODNN7EXAMPLE",
    "AWS_SECRET": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
}
PROVIDER = f"""
  aws:
    kind: bedrock
    aws_access_key_id_env: AWS_KEY_ID
    aws_secret_access_key_env: AWS_SECRET
    aws_region: eu-west-1
    models:
      m:
        upstream: "{MODEL_ID}"
        price:
          {{input_per_mtok: 0.8, output_per_mtok: 4, cached_input_per_mtok: 0.08,
           cache_write_per_mtok: 1}}
"""
# Converse's reply, as in the Bedrock API reference (usage with prompt-cache reads and writes).
USAGE = {
    "inputTokens": 30,
    "outputTokens": 10,
    "totalTokens": 160,
    "cacheReadInputTokens": 100,
    "cacheWriteInputTokens": 20,
}
REPLY = {
    "output": {"message": {"role": "assistant", "content": [{"text": "Hello from Bedrock"}]}},
    "stopReason": "end_turn",
    "usage": USAGE,
    "metrics": {"latencyMs": 412},
}
TOOL_REPLY = {
    "output": {
        "message": {
            "role": "assistant",
            "content": [
                {
                    "toolUse": {
                        "toolUseId": "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q",
                        "name": "get_weather",
                        "input": {"city": "Paris"},
                    }
                }
            ],
        }
    },
    "stopReason": "tool_use",
    "usage": {"inputTokens": 80, "outputTokens": 20, "totalTokens": 100},
    "metrics": {"latencyMs": 300},
}


def sent(route_: respx.Route, i: int = 0) -> dict[str, Any]:
    request = route_.calls[i].request
    # Signed with SigV4 for bedrock in the provider's region, with the key id we were given.
    auth = request.headers["authorization"]
    assert auth.startswith("AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/")
    assert "/eu-west-1/bedrock/aws4_request" in auth and "Signature=" in auth
    assert "x-amz-date" in request.headers
    body: dict[str, Any] = orjson.loads(request.content)
    return body


async def test_chat_signed_and_billed_with_cache_reads_and_writes(tmp_path: Path) -> None:
    with respx.mock() as mock:
        converse = mock.post(f"{BASE}/converse").respond(200, json=REPLY)
        async with gateway(tmp_path, PROVIDER, ENV, route("aws/m")) as gw:
            reply = await gw.post("/v1/chat/completions", json={**CHAT, "max_tokens": 50})
    assert reply.status_code == 200, reply.text
    assert reply.headers["x-gateway-deployment"] == "aws/m"
    body = reply.json()
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"] == {"role": "assistant", "content": "Hello from Bedrock"}
    assert body["choices"][0]["finish_reason"] == "stop"
    wire = sent(converse)
    assert wire["messages"] == [{"role": "user", "content": [{"text": "hi"}]}]
    assert wire["inferenceConfig"]["maxTokens"] == 50
    (row,) = await spend_rows(tmp_path)
    # Bedrock counts cache reads and writes outside inputTokens: ours counts every input token.
    assert (row.prompt_tokens, row.cached_tokens, row.cache_write_tokens) == (150, 100, 20)
    assert row.completion_tokens == 10
    expected = cost(30, 10, 0.8, 4) + cost(100, 0, 0.08, 0) + cost(20, 0, 1, 0)
    assert row.cost_usd == expected and row.provider == "aws"


def stream_body(*texts: str) -> bytes:
    events = [message("messageStart", {"role": "assistant", "p": "abcd"})]
    for text in texts:
        delta = {"contentBlockIndex": 0, "delta": {"text": text}, "p": "abcdefgh"}
        events.append(message("contentBlockDelta", delta))
    events += [
        message("contentBlockStop", {"contentBlockIndex": 0, "p": "ab"}),
        message("messageStop", {"stopReason": "end_turn", "p": "abc"}),
        message("metadata", {"usage": USAGE, "metrics": {"latencyMs": 512}, "p": "abcdef"}),
    ]
    return b"".join(events)


EVENTSTREAM = {"content-type": "application/vnd.amazon.eventstream"}


@pytest.mark.parametrize("client_wants_usage", [True, False])
async def test_binary_event_stream_relayed_as_openai_sse(
    tmp_path: Path, client_wants_usage: bool
) -> None:
    request = {**CHAT, "stream": True}
    if client_wants_usage:
        request["stream_options"] = {"include_usage": True}
    with respx.mock() as mock:
        stream = mock.post(f"{BASE}/converse-stream").respond(
            200, content=stream_body("Hel", "lo", " there"), headers=EVENTSTREAM
        )
        async with gateway(tmp_path, PROVIDER, ENV, route("aws/m")) as gw:
            reply = await gw.post("/v1/chat/completions", json=request)
    assert reply.status_code == 200 and reply.headers["content-type"].startswith(
        "text/event-stream"
    )
    sent(stream)
    chunks = sse_chunks(reply.content)
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == "Hello there"
    assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]][-1] == "stop"
    usage_chunks = [c for c in chunks if c.get("usage")]
    if client_wants_usage:
        assert usage_chunks[-1]["usage"]["prompt_tokens"] == 150
    else:  # asked for upstream to bill the stream, hidden from a client that did not ask
        assert usage_chunks == []
    (row,) = await spend_rows(tmp_path)
    assert row.stream and (row.prompt_tokens, row.completion_tokens) == (150, 10)
    assert (row.cached_tokens, row.cache_write_tokens) == (100, 20)
    expected = cost(30, 10, 0.8, 4) + cost(100, 0, 0.08, 0) + cost(20, 0, 1, 0)
    assert row.cost_usd == expected


async def test_a_tool_call_round_trip(tmp_path: Path) -> None:
    with respx.mock() as mock:
        converse = mock.post(f"{BASE}/converse")
        converse.side_effect = [
            respx.MockResponse(200, json=TOOL_REPLY),
            respx.MockResponse(200, json=REPLY),
        ]
        async with gateway(tmp_path, PROVIDER, ENV, route("aws/m")) as gw:
            await tool_round_trip(
                gw, "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q", tool_choice="auto", echo_message=True
            )
    wire = sent(converse, 0)
    (spec,) = wire["toolConfig"]["tools"]
    assert spec["toolSpec"]["name"] == "get_weather"
    assert spec["toolSpec"]["inputSchema"]["json"]["required"] == ["city"]
    back = sent(converse, 1)["messages"]
    assert back[1]["role"] == "assistant"
    assert back[1]["content"][-1]["toolUse"]["toolUseId"] == "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q"
    result = back[2]["content"][0]["toolResult"]
    assert result["toolUseId"] == "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q"
    assert result["content"] == [{"text": "18 C, sunny"}]
    rows = await spend_rows(tmp_path)
    assert sorted(r.prompt_tokens for r in rows) == [80, 150]


THROTTLED = {"message": "Too many requests, please wait before trying again."}
AMZ_THROTTLE = {"x-amzn-errortype": "ThrottlingException:http://internal.amazon.com/coral/"}


@pytest.mark.parametrize(
    ("status", "body", "headers"),
    [
        (429, THROTTLED, {**AMZ_THROTTLE, "retry-after": "3"}),
        (503, {"message": "Bedrock is unable to process your request."}, {}),
        (500, {"message": "The server encountered an internal error."}, {}),
    ],
)
async def test_throttled_or_failing_bedrock_fails_over_to_openai(
    tmp_path: Path, status: int, body: dict[str, str], headers: dict[str, str]
) -> None:
    with respx.mock() as mock:
        converse = mock.post(f"{BASE}/converse").respond(status, json=body, headers=headers)
        backup = mock.post(BACKUP_URL).respond(200, json=BACKUP_REPLY)
        async with gateway(tmp_path, PROVIDER + BACKUP, ENV, route("aws/m", "backup/m")) as gw:
            reply = await gw.post("/v1/chat/completions", json=CHAT)
    assert reply.status_code == 200, reply.text
    assert converse.call_count == 1 and backup.call_count == 1  # litellm did not retry itself
    assert reply.headers["x-gateway-deployment"] == "backup/m"
    assert reply.headers["x-gateway-attempts"] == "2"
    assert reply.json()["choices"][0]["message"]["content"] == "from backup"
    (row,) = await spend_rows(tmp_path)
    assert (row.provider, row.attempts, row.cost_usd) == ("backup", 2, cost(5, 2, 1, 2))


async def test_a_stream_throttled_before_its_first_event_fails_over(tmp_path: Path) -> None:
    with respx.mock() as mock:
        mock.post(f"{BASE}/converse-stream").respond(429, json=THROTTLED, headers=AMZ_THROTTLE)
        mock.post(BACKUP_URL).respond(200, content=BACKUP_STREAM, headers=SSE)
        async with gateway(tmp_path, PROVIDER + BACKUP, ENV, route("aws/m", "backup/m")) as gw:
            reply = await gw.post("/v1/chat/completions", json={**CHAT, "stream": True})
    assert reply.status_code == 200
    assert reply.headers["x-gateway-deployment"] == "backup/m"
    assert [c["choices"][0]["delta"]["content"] for c in sse_chunks(reply.content)] == ["ok"]


async def test_a_throttling_exception_inside_the_stream_before_content_fails_over(
    tmp_path: Path,
) -> None:
    body = exception("throttlingException", "Too many tokens, please wait.")
    with respx.mock() as mock:
        mock.post(f"{BASE}/converse-stream").respond(200, content=body, headers=EVENTSTREAM)
        backup = mock.post(BACKUP_URL).respond(200, content=BACKUP_STREAM, headers=SSE)
        async with gateway(tmp_path, PROVIDER + BACKUP, ENV, route("aws/m", "backup/m")) as gw:
            reply = await gw.post("/v1/chat/completions", json={**CHAT, "stream": True})
    assert reply.status_code == 200 and backup.call_count == 1
    assert reply.headers["x-gateway-deployment"] == "backup/m"
    assert [c["choices"][0]["delta"]["content"] for c in sse_chunks(reply.content)] == ["ok"]


MESSAGES_BODY = {
    "model": "chat",
    "max_tokens": 50,
    "messages": [{"role": "user", "content": "hi"}],
}


@pytest.mark.parametrize("stream", [False, True])
async def test_a_messages_client_reaches_bedrock_translated(tmp_path: Path, stream: bool) -> None:
    """An Anthropic-dialect client (/v1/messages) on a bedrock deployment: translated to chat
    for litellm, and the answer back into Messages, usage included."""
    with respx.mock() as mock:
        if stream:
            mock.post(f"{BASE}/converse-stream").respond(
                200, content=stream_body("Hel", "lo"), headers=EVENTSTREAM
            )
        else:
            mock.post(f"{BASE}/converse").respond(200, json=REPLY)
        async with gateway(tmp_path, PROVIDER, ENV, route("aws/m")) as gw:
            reply = await gw.post(
                "/v1/messages",
                json={**MESSAGES_BODY, "stream": stream},
                headers={"anthropic-version": "2023-06-01"},
            )
    assert reply.status_code == 200, reply.text
    if stream:
        assert b"event: message_start" in reply.content
        assert reply.content.rstrip().endswith(b'{"type":"message_stop"}')
        assert b'"text":"Hel"' in reply.content
    else:
        body = reply.json()
        assert body["type"] == "message" and body["content"][0]["text"] == "Hello from Bedrock"
        assert body["usage"]["output_tokens"] == 10
    (row,) = await spend_rows(tmp_path)
    assert row.endpoint == "/v1/messages" and row.prompt_tokens == 150
