"""kind: azure on our own client, against Azure OpenAI's wire format (REST reference,
api-version 2024-10-21): deployment URLs, the api-key header, content-filter fields passed
through, rate-limit headers without a limit, retry-after-ms; through the whole gateway: a chat,
a stream and a tool call land in the ledger at the right cost, and a 429 fails over."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import respx

from gateway.config.loader import load_config
from gateway.core.operation import Operation
from gateway.errors import UpstreamStatusError
from gateway.state.quota import header_headroom
from gateway.upstream.azure import DEFAULT_API_VERSION, AzureUpstream, azure_url
from gateway.upstream.base import Call
from gateway.upstream.transport import make_transport
from tests.config.test_loader import problems, write
from tests.upstream.test_openai_compat import Chunked
from tests.vendors.gateway import vendor_gateway

ROOT = "https://contoso.openai.azure.com"
CHAT_URL = f"{ROOT}/openai/deployments/gpt4o-prod/chat/completions"
KEY = "azure-key-0123456789abcdef"
FILTERS = {
    "hate": {"filtered": False, "severity": "safe"},
    "self_harm": {"filtered": False, "severity": "safe"},
    "sexual": {"filtered": False, "severity": "safe"},
    "violence": {"filtered": False, "severity": "safe"},
}
USAGE = {
    "completion_tokens": 120,
    "completion_tokens_details": {"reasoning_tokens": 64},
    "prompt_tokens": 2006,
    "prompt_tokens_details": {"cached_tokens": 1920},
    "total_tokens": 2126,
}


def reply(message: dict[str, Any], finish: str = "stop") -> dict[str, Any]:
    return {
        "id": "chatcmpl-AZ1",
        "object": "chat.completion",
        "created": 1733000000,
        "model": "gpt-4o-2024-08-06",
        "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": FILTERS}],
        "choices": [
            {
                "content_filter_results": FILTERS,
                "finish_reason": finish,
                "index": 0,
                "logprobs": None,
                "message": {"refusal": None, "role": "assistant", **message},
            }
        ],
        "system_fingerprint": "fp_04751d0b65",
        "usage": USAGE,
    }


def stream_body() -> bytes:
    base = {"id": "chatcmpl-AZ2", "object": "chat.completion.chunk", "created": 1733000000}
    chunks: list[dict[str, Any]] = [
        # Azure's first chunk: no choices, the prompt's filter results.
        {**base, "model": "", "choices": [], "prompt_filter_results": [
            {"prompt_index": 0, "content_filter_results": FILTERS}]},
        {**base, "model": "gpt-4o-2024-08-06", "choices": [
            {"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]},
        {**base, "model": "gpt-4o-2024-08-06", "choices": [
            {"index": 0, "delta": {"content": "Hello"}, "finish_reason": None,
             "content_filter_results": FILTERS}]},
        {**base, "model": "gpt-4o-2024-08-06", "choices": [
            {"index": 0, "delta": {}, "finish_reason": "stop"}]},
        {**base, "model": "gpt-4o-2024-08-06", "choices": [], "usage": USAGE},
    ]  # fmt: skip
    events = [b"data: " + orjson.dumps(c) + b"\n\n" for c in chunks]
    return b"".join(events) + b"data: [DONE]\n\n"


def adapter() -> AzureUpstream:
    return AzureUpstream(
        base_url=ROOT,
        api_key=KEY,
        api_version=None,
        transport=make_transport("httpx", max_connections=4),
        connect_timeout_s=1.0,
        read_timeout_s=1.0,
    )


def call(stream: bool = False, op: Operation = Operation.CHAT) -> Call:
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
    return Call(op, "gpt4o-prod", body, stream, False, "req-az-1")


@pytest.mark.parametrize(
    ("op", "url"),
    [
        (Operation.CHAT, f"{CHAT_URL}?api-version={DEFAULT_API_VERSION}"),
        (Operation.EMBEDDINGS, f"{ROOT}/openai/deployments/gpt4o-prod/embeddings?api-version=v"),
        (Operation.COMPLETIONS, f"{ROOT}/openai/deployments/gpt4o-prod/completions?api-version=v"),
        (Operation.RESPONSES, f"{ROOT}/openai/v1/responses"),
    ],
)
def test_urls_name_the_deployment_and_version(op: Operation, url: str) -> None:
    version = DEFAULT_API_VERSION if op is Operation.CHAT else "v"
    assert str(azure_url(ROOT, op, "gpt4o-prod", version)) == url
    assert azure_url(ROOT, Operation.MESSAGES, "d", "v") is None
    # A deployment name is one path segment, whatever it holds.
    assert "/deployments/a%2Fb/" in str(azure_url(ROOT, Operation.CHAT, "a/b", "v"))


@respx.mock
async def test_complete_sends_api_key_and_relays_azure_bytes() -> None:
    headers = {"x-ratelimit-remaining-requests": "99", "x-ratelimit-remaining-tokens": "9000"}
    route = respx.post(CHAT_URL, params={"api-version": DEFAULT_API_VERSION}).mock(
        return_value=httpx.Response(200, json=reply({"content": "hi"}), headers=headers)
    )
    up = adapter()
    got = await up.complete(call())
    sent = route.calls.last.request
    assert sent.headers["api-key"] == KEY and "authorization" not in sent.headers
    assert orjson.loads(sent.content)["model"] == "gpt4o-prod"
    assert orjson.loads(got.body)["prompt_filter_results"][0]["prompt_index"] == 0
    assert got.usage is not None
    assert (got.usage.prompt_tokens, got.usage.cached_tokens) == (2006, 1920)
    assert (got.usage.completion_tokens, got.usage.reasoning_tokens) == (120, 64)
    # No limit header: the largest remaining seen stands for it (1.0 at the window's start).
    assert header_headroom(got.headers) == 1.0
    route.mock(
        return_value=httpx.Response(
            200,
            json=reply({"content": "hi"}),
            headers={"x-ratelimit-remaining-requests": "33", "x-ratelimit-remaining-tokens": "900"},
        )
    )
    again = await up.complete(call())
    assert header_headroom(again.headers) == pytest.approx(0.1)  # tokens: 900 of 9000
    await up.aclose()


@respx.mock
async def test_a_429_carries_retry_after_ms_and_never_the_key() -> None:
    body = {
        "error": {
            "code": "429",
            "message": "Requests to the ChatCompletions_Create Operation under Azure OpenAI API "
            "version 2024-10-21 have exceeded token rate limit of your current OpenAI S0 "
            "pricing tier. Please retry after 2 seconds.",
        }
    }
    respx.post(CHAT_URL).mock(
        return_value=httpx.Response(
            429, json=body, headers={"retry-after": "2", "retry-after-ms": "1500"}
        )
    )
    up = adapter()
    with pytest.raises(UpstreamStatusError) as info:
        await up.complete(call())
    assert info.value.upstream_status == 429 and info.value.retry_after_s == 1.5
    assert KEY.encode() not in (info.value.upstream_body or b"")
    await up.aclose()


@respx.mock
async def test_stream_asks_for_usage_and_reads_it() -> None:
    route = respx.post(CHAT_URL).mock(
        return_value=httpx.Response(200, stream=Chunked(stream_body()))
    )
    up = adapter()
    stream = await up.open_stream(call(stream=True))
    relayed = b"".join([event async for event in stream])
    sent = orjson.loads(route.calls.last.request.content)
    assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}
    assert b"Hello" in relayed and relayed.endswith(b"data: [DONE]\n\n")
    assert stream.usage is not None and stream.usage.cached_tokens == 1920
    await up.aclose()


PROVIDERS = f"""
providers:
  azure-eu:
    kind: azure
    base_url: {ROOT}
    api_key_env: AZURE_KEY
    api_version: "2024-10-21"
    models:
      gpt-4o:
        upstream: gpt4o-prod
        price: {{input_per_mtok: 2.50, output_per_mtok: 10.00, cached_input_per_mtok: 1.25}}
  openai:
    kind: openai
    base_url: https://api.openai.test/v1
    api_key_env: OPENAI_KEY
    models:
      gpt-4o:
        price: {{input_per_mtok: 5.00, output_per_mtok: 15.00}}
"""
POLICY = """
routes:
  gpt-4o:
    targets: [azure-eu/gpt-4o, openai/gpt-4o]
    strategy: ordered
"""
ENV = {"AZURE_KEY": KEY, "OPENAI_KEY": "sk-openai-test-key"}
# 86 fresh + 1920 cached at 2.50 / 1.25, 120 output (64 of them reasoning) at 10.00 per 1M.
AZURE_COST = (Decimal(86) * Decimal("2.50") + 1920 * Decimal("1.25") + 120 * Decimal(10)) / 10**6


@respx.mock
async def test_chat_stream_and_tools_through_the_gateway_land_in_the_ledger(
    tmp_path: Path,
) -> None:
    tool_call = {
        "content": None,
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'},
            }
        ],
    }
    route = respx.post(CHAT_URL).mock(
        side_effect=[
            httpx.Response(200, json=reply({"content": "hi"})),
            httpx.Response(200, stream=Chunked(stream_body())),
            httpx.Response(200, json=reply(tool_call, finish="tool_calls")),
        ]
    )
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            },
        }
    ]
    msgs = [{"role": "user", "content": "weather in Oslo?"}]
    async with vendor_gateway(tmp_path, PROVIDERS, ENV, POLICY) as (gw, rows):
        chat = await gw.post("/v1/chat/completions", json={"model": "gpt-4o", "messages": msgs})
        stream = await gw.post(
            "/v1/chat/completions", json={"model": "gpt-4o", "messages": msgs, "stream": True}
        )
        tool = await gw.post(
            "/v1/chat/completions", json={"model": "gpt-4o", "messages": msgs, "tools": tools}
        )
    assert [r.status_code for r in (chat, stream, tool)] == [200, 200, 200]
    assert chat.headers["x-gateway-deployment"] == "azure-eu/gpt-4o"
    assert b"Hello" in stream.content and b'"usage"' not in stream.content  # not asked for
    assert tool.json()["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == (
        "get_weather"
    )
    assert orjson.loads(route.calls[2].request.content)["tools"] == tools
    assert len(rows) == 3
    for row in rows:
        assert (row.deployment, row.upstream_model) == ("azure-eu/gpt-4o", "gpt4o-prod")
        assert (row.prompt_tokens, row.cached_tokens, row.completion_tokens) == (2006, 1920, 120)
        assert row.reasoning_tokens == 64
        assert row.cost_usd == AZURE_COST


@respx.mock
@pytest.mark.parametrize("status", [429, 503])
async def test_an_azure_failure_fails_over_to_openai_before_the_first_byte(
    tmp_path: Path, status: int
) -> None:
    respx.post(CHAT_URL).mock(
        return_value=httpx.Response(status, json={"error": {"code": str(status), "message": "x"}})
    )
    openai = respx.post("https://api.openai.test/v1/chat/completions").mock(
        return_value=httpx.Response(200, stream=Chunked(stream_body()))
    )
    async with vendor_gateway(tmp_path, PROVIDERS, ENV, POLICY) as (gw, rows):
        body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], "stream": True}
        got = await gw.post("/v1/chat/completions", json=body)
    assert got.status_code == 200 and b"Hello" in got.content
    assert got.headers["x-gateway-deployment"] == "openai/gpt-4o"
    assert got.headers["x-gateway-attempts"] == "2"
    assert openai.calls.last.request.headers["authorization"] == "Bearer sk-openai-test-key"
    assert [r.deployment for r in rows] == ["openai/gpt-4o"] and rows[0].attempts == 2


AZURE_ONLY = """\
providers:
  az:
    kind: azure
    base_url: https://contoso.openai.azure.com
    api_key_env: FAST_KEY
    api_version: "2025-04-01-preview"
    models:
      m: {upstream: my-deployment}
"""


def test_config_takes_root_version_and_deployment(tmp_path: Path) -> None:

    p, pol = write(tmp_path, AZURE_ONLY)
    dep = load_config(p, pol, {"FAST_KEY": "k"}).deployments["az/m"]
    assert (dep.kind, dep.base_url, dep.api_version) == (
        "azure",
        ROOT,
        "2025-04-01-preview",
    )
    assert dep.upstream_model == "my-deployment"
    assert dep.operations == frozenset({"chat", "completions"})


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (
            (
                "base_url: https://contoso.openai.azure.com",
                "base_url: https://contoso.openai.azure.com/openai",
            ),
            "providers.yaml:2: providers.az: kind: azure takes the resource's root as base_url",
        ),
        (
            ("    base_url: https://contoso.openai.azure.com\n", ""),
            "providers.yaml:2: providers.az: base_url is required for kind: azure",
        ),
        (
            ('"2025-04-01-preview"', '"latest"'),
            "providers.yaml:6: providers.az.api_version: must be an Azure API version",
        ),
        (
            ("kind: azure", "kind: openai"),
            "providers.yaml:2: providers.az: api_version is for kind: azure only",
        ),
    ],
)
def test_config_errors_name_file_line_and_field(
    tmp_path: Path, edit: tuple[str, str], expected: str
) -> None:
    found = problems(tmp_path, AZURE_ONLY.replace(*edit))
    assert any(expected in p for p in found), found
