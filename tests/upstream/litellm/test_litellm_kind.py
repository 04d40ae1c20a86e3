"""kind: litellm (any litellm model string; here `mistral/...`, Mistral's chat API mocked on the
wire with respx) through the whole gateway: a chat, a stream, a tool call both ways, usage and
cost in the ledger, and failover to an OpenAI-compatible kind on 429 and 5xx."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
import respx

from tests.upstream.litellm.harness import (
    BACKUP,
    BACKUP_REPLY,
    BACKUP_URL,
    CHAT,
    SSE,
    SentWithBearer,
    cost,
    gateway,
    route,
    spend_rows,
    sse_chunks,
    tool_round_trip,
)

URL = "https://api.mistral.ai/v1/chat/completions"
ENV = {"MISTRAL_KEY": "mistral-test-key-0123456789"}
PROVIDER = """
  tail:
    kind: litellm
    api_key_env: MISTRAL_KEY
    models:
      m:
        upstream: mistral/mistral-large-latest
        price: {input_per_mtok: 2, output_per_mtok: 6}
"""


def completion(message: dict[str, Any], finish: str, usage: tuple[int, int]) -> dict[str, Any]:
    return {
        "id": "cmpl-e5cc70bb28c444948073e77776eb30ef",
        "object": "chat.completion",
        "created": 1702256327,
        "model": "mistral-large-latest",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {
            "prompt_tokens": usage[0],
            "completion_tokens": usage[1],
            "total_tokens": sum(usage),
        },
    }


REPLY = completion({"role": "assistant", "content": "Bonjour"}, "stop", (16, 3))
TOOL_CALL = {
    "id": "D681PevKs",
    "type": "function",
    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
}
TOOL_REPLY = completion(
    {"role": "assistant", "content": "", "tool_calls": [TOOL_CALL]}, "tool_calls", (90, 22)
)


sent = SentWithBearer("mistral-test-key-0123456789")


async def test_chat(tmp_path: Path) -> None:
    with respx.mock() as mock:
        chat = mock.post(URL).respond(200, json=REPLY)
        async with gateway(tmp_path, PROVIDER, ENV, route("tail/m")) as gw:
            reply = await gw.post("/v1/chat/completions", json=CHAT)
    assert reply.status_code == 200, reply.text
    assert reply.json()["choices"][0]["message"]["content"] == "Bonjour"
    assert sent(chat)["model"] == "mistral-large-latest"
    (row,) = await spend_rows(tmp_path)
    assert (row.prompt_tokens, row.completion_tokens) == (16, 3)
    assert (
        row.cost_usd == cost(16, 3, 2, 6) and row.upstream_model == "mistral/mistral-large-latest"
    )


def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
    body = {
        "id": "c1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "mistral-large-latest",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    if finish:
        body["usage"] = {"prompt_tokens": 16, "completion_tokens": 2, "total_tokens": 18}
    return b"data: " + orjson.dumps(body) + b"\n\n"


async def test_stream(tmp_path: Path) -> None:
    body = (
        chunk({"role": "assistant", "content": ""})
        + chunk({"content": "Bon"})
        + chunk({"content": "jour"})
        + chunk({"content": ""}, "stop")
        + b"data: [DONE]\n\n"
    )
    with respx.mock() as mock:
        stream = mock.post(URL).respond(200, content=body, headers=SSE)
        async with gateway(tmp_path, PROVIDER, ENV, route("tail/m")) as gw:
            reply = await gw.post("/v1/chat/completions", json={**CHAT, "stream": True})
    assert reply.status_code == 200, reply.text
    assert sent(stream)["stream"] is True
    chunks = sse_chunks(reply.content)
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == "Bonjour"
    (row,) = await spend_rows(tmp_path)
    assert row.stream and (row.prompt_tokens, row.completion_tokens) == (16, 2)
    assert row.cost_usd == cost(16, 2, 2, 6)


async def test_a_tool_call_round_trip(tmp_path: Path) -> None:
    with respx.mock() as mock:
        chat = mock.post(URL)
        chat.side_effect = [
            respx.MockResponse(200, json=TOOL_REPLY),
            respx.MockResponse(200, json=REPLY),
        ]
        async with gateway(tmp_path, PROVIDER, ENV, route("tail/m")) as gw:
            await tool_round_trip(gw, "D681PevKs", assistant_content="")
    assert sent(chat, 0)["tools"][0]["function"]["name"] == "get_weather"
    back = sent(chat, 1)["messages"]
    assert back[1]["tool_calls"][0]["id"] == "D681PevKs"
    assert back[2]["role"] == "tool" and back[2]["tool_call_id"] == "D681PevKs"


@pytest.mark.parametrize("status", [429, 500, 503])
async def test_failing_fails_over_to_openai(tmp_path: Path, status: int) -> None:
    error = {"object": "error", "message": "Requests rate limit exceeded", "type": "rate_limited"}
    with respx.mock() as mock:
        chat = mock.post(URL).respond(status, json=error)
        backup = mock.post(BACKUP_URL).respond(200, json=BACKUP_REPLY)
        async with gateway(tmp_path, PROVIDER + BACKUP, ENV, route("tail/m", "backup/m")) as gw:
            reply = await gw.post("/v1/chat/completions", json=CHAT)
    assert reply.status_code == 200, reply.text
    assert chat.call_count == 1 and backup.call_count == 1
    assert reply.headers["x-gateway-deployment"] == "backup/m"
    (row,) = await spend_rows(tmp_path)
    assert (row.provider, row.attempts) == ("backup", 2)
