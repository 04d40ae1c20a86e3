"""kind: gemini, Gemini's OpenAI-compatible endpoint on our own client: the default base URL,
Bearer auth, and its usage, whose completion_tokens may leave out the thoughts that
total_tokens counts (they are billed as output: we count them as reasoning, never drop them).
Through the whole gateway: a chat, a stream and a tool call land in the ledger, and a 429
fails over to another kind (Azure) before the first byte."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import respx

from tests.upstream.test_openai_compat import Chunked
from tests.vendors.gateway import vendor_gateway
from tests.vendors.test_azure import CHAT_URL as AZURE_URL
from tests.vendors.test_azure import KEY as AZURE_KEY
from tests.vendors.test_azure import reply as azure_reply

URL = "https://generativelanguage.googleapis.com/v1beta/openai/chat/completions"
KEY = "gemini-key-0123456789"
# A thinking model's usage as the endpoint sends it: 382 thought tokens only in the total.
USAGE = {"prompt_tokens": 20, "completion_tokens": 151, "total_tokens": 553}


def reply(message: dict[str, Any], finish: str = "stop") -> dict[str, Any]:
    return {
        "id": "gem-1",
        "object": "chat.completion",
        "created": 1733000000,
        "model": "gemini-2.5-flash",
        "choices": [
            {"index": 0, "message": {"role": "assistant", **message}, "finish_reason": finish}
        ],
        "usage": USAGE,
    }


def stream_body() -> bytes:
    base = {"object": "chat.completion.chunk", "created": 1733000000, "model": "gemini-2.5-flash"}
    chunks = [
        {**base, "choices": [{"index": 0, "delta": {"content": "Hel", "role": "assistant"}}]},
        {**base, "choices": [{"index": 0, "delta": {"content": "lo"}, "finish_reason": "stop"}],
         "usage": USAGE},
    ]  # fmt: skip
    return b"".join(b"data: " + orjson.dumps(c) + b"\n\n" for c in chunks) + b"data: [DONE]\n\n"


PROVIDERS = """
providers:
  gemini:
    kind: gemini
    api_key_env: GEMINI_KEY
    models:
      flash:
        upstream: gemini-2.5-flash
        price: {input_per_mtok: 0.30, output_per_mtok: 2.50, cached_input_per_mtok: 0.075}
  azure:
    kind: azure
    base_url: https://contoso.openai.azure.com
    api_key_env: AZURE_KEY
    models:
      flash:
        upstream: gpt4o-prod
        price: {input_per_mtok: 2.50, output_per_mtok: 10.00}
"""
POLICY = """
routes:
  flash:
    targets: [gemini/flash, azure/flash]
    strategy: ordered
"""
ENV = {"GEMINI_KEY": KEY, "AZURE_KEY": AZURE_KEY}
COST = (20 * Decimal("0.30") + 533 * Decimal("2.50")) / 10**6  # thoughts billed as output


@respx.mock
async def test_chat_stream_and_tools_count_the_thoughts(tmp_path: Path) -> None:
    tool_call = {
        "tool_calls": [
            {"id": "t1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
        ]
    }
    route = respx.post(URL).mock(
        side_effect=[
            httpx.Response(200, json=reply({"content": "hi"})),
            httpx.Response(200, stream=Chunked(stream_body())),
            httpx.Response(200, json=reply(tool_call, finish="tool_calls")),
        ]
    )
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    msgs = [{"role": "user", "content": "hi"}]
    async with vendor_gateway(tmp_path, PROVIDERS, ENV, POLICY) as (gw, rows):
        chat = await gw.post("/v1/chat/completions", json={"model": "flash", "messages": msgs})
        body = {"model": "flash", "messages": msgs, "stream": True}
        stream = await gw.post("/v1/chat/completions", json=body)
        body = {"model": "flash", "messages": msgs, "tools": tools}
        tool = await gw.post("/v1/chat/completions", json=body)
    assert [r.status_code for r in (chat, stream, tool)] == [200, 200, 200]
    assert chat.json() == reply({"content": "hi"}) | {"model": "gemini-2.5-flash"}
    assert b"Hel" in stream.content and b"lo" in stream.content
    assert tool.json()["choices"][0]["message"]["tool_calls"][0]["id"] == "t1"
    sent = route.calls[0].request
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    assert orjson.loads(sent.content)["model"] == "gemini-2.5-flash"
    assert orjson.loads(route.calls[1].request.content)["stream_options"] == {"include_usage": True}
    assert len(rows) == 3
    for row in rows:
        assert (row.deployment, row.prompt_tokens) == ("gemini/flash", 20)
        assert (row.completion_tokens, row.reasoning_tokens) == (533, 382)
        assert row.cost_usd == COST


@respx.mock
@pytest.mark.parametrize("status", [429, 500])
async def test_a_gemini_failure_fails_over_to_azure(tmp_path: Path, status: int) -> None:
    error = {"error": {"code": status, "message": "Resource has been exhausted", "status": "X"}}
    respx.post(URL).mock(return_value=httpx.Response(status, json=error))
    respx.post(AZURE_URL).mock(return_value=httpx.Response(200, json=azure_reply({"content": "a"})))
    async with vendor_gateway(tmp_path, PROVIDERS, ENV, POLICY) as (gw, rows):
        body = {"model": "flash", "messages": [{"role": "user", "content": "hi"}]}
        got = await gw.post("/v1/chat/completions", json=body)
    assert got.status_code == 200 and got.headers["x-gateway-deployment"] == "azure/flash"
    assert [(r.deployment, r.attempts) for r in rows] == [("azure/flash", 2)]
