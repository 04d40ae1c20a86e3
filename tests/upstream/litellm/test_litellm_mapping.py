"""litellm's exceptions onto our error tree (by type), its usage onto ours, its headers onto
rate-limit hints, and what of a client's body may reach litellm: tables of real instances."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import respx

from gateway.core.operation import Operation
from gateway.core.usage import Usage
from gateway.errors import UpstreamConnectError, UpstreamStatusError, UpstreamTimeout
from gateway.state.quota import header_headroom
from gateway.upstream import litellm_loader
from gateway.upstream.base import Call
from gateway.upstream.litellm_adapter import LitellmUpstream
from gateway.upstream.litellm_convert import rate_hints, reply_body, usage_of
from gateway.upstream.litellm_errors import map_litellm_error
from tests.upstream.litellm.eventstream import exception, message
from tests.upstream.litellm.harness import cost, gateway, spend_rows

SECRET = "AKIA-very-secret-0123"
REQUEST = httpx.Request("POST", "https://vendor.test/v1/chat")


def response(status: int, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, headers=headers or {}, request=REQUEST)


def made(name: str, **extra: Any) -> BaseException:
    """One of litellm's exceptions, built as litellm builds it."""
    module = litellm_loader.start().result(timeout=120)
    cls = getattr(module, name)
    args: dict[str, Any] = {
        "message": f"vendor said no (key {SECRET})",
        "llm_provider": "bedrock",
        "model": "m",
    }
    args.update(extra)
    exc: BaseException = cls(**args)
    return exc


STATUS = UpstreamStatusError
CASES = [
    # (exception, its extra args, our type, status, retried elsewhere?, retry-after)
    ("RateLimitError", {"response": response(429, {"retry-after": "7"})}, STATUS, 429, True, 7.0),
    ("ServiceUnavailableError", {"response": response(503)}, STATUS, 503, True, None),
    ("InternalServerError", {"response": response(500)}, STATUS, 500, True, None),
    ("BadGatewayError", {"response": response(502)}, STATUS, 502, True, None),
    ("AuthenticationError", {"response": response(401)}, STATUS, 401, True, None),
    ("PermissionDeniedError", {"response": response(403)}, STATUS, 403, True, None),
    ("BadRequestError", {"response": response(400)}, STATUS, 400, False, None),
    ("ContextWindowExceededError", {"response": response(400)}, STATUS, 400, False, None),
    ("NotFoundError", {"response": response(404)}, STATUS, 404, False, None),
    ("UnprocessableEntityError", {"response": response(422)}, STATUS, 422, False, None),
    ("Timeout", {}, UpstreamTimeout, None, True, None),
    ("APIConnectionError", {"request": REQUEST}, UpstreamConnectError, None, True, None),
    ("APIError", {"status_code": 529, "request": REQUEST}, STATUS, 529, True, None),
]  # fmt: skip


@pytest.mark.parametrize(("name", "extra", "ours", "status", "retried", "retry_after"), CASES)
def test_litellm_errors_map_by_type(
    name: str,
    extra: dict[str, Any],
    ours: type,
    status: int | None,
    retried: bool,
    retry_after: float | None,
) -> None:
    module = litellm_loader.start().result(timeout=120)
    mapped = map_litellm_error(module, made(name, **extra), [SECRET])
    assert type(mapped) is ours
    assert mapped is not None and mapped.is_retryable is retried
    assert SECRET not in mapped.message
    if isinstance(mapped, UpstreamStatusError):
        assert mapped.upstream_status == status and mapped.retry_after_s == retry_after
        body = orjson.loads(mapped.upstream_body)["error"]
        assert set(body) == {"message", "type", "param", "code"}
        assert SECRET not in body["message"] and "vendor said no" in body["message"]


def test_a_context_window_error_keeps_openai_code_for_the_client() -> None:
    module = litellm_loader.start().result(timeout=120)
    mapped = map_litellm_error(
        module, made("ContextWindowExceededError", response=response(400)), []
    )
    assert isinstance(mapped, UpstreamStatusError) and mapped.status_code == 400
    assert orjson.loads(mapped.upstream_body)["error"]["code"] == "context_length_exceeded"


def test_an_exception_that_is_not_litellm_is_not_ours_to_map() -> None:
    module = litellm_loader.start().result(timeout=120)
    assert map_litellm_error(module, KeyError("bug"), []) is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # Bedrock via litellm: cache reads and writes inside prompt_tokens
        (
            {
                "prompt_tokens": 150, "completion_tokens": 10,
                "prompt_tokens_details": {"cached_tokens": 100, "cache_creation_tokens": 20},
                "cache_creation_input_tokens": 20, "cache_read_input_tokens": 100,
            },
            Usage(150, 10, cached_tokens=100, cache_write_tokens=20),
        ),
        # Gemini via litellm: cached content and thinking
        (
            {
                "prompt_tokens": 120, "completion_tokens": 58,
                "prompt_tokens_details": {"cached_tokens": 100},
                "completion_tokens_details": {"reasoning_tokens": 50},
            },
            Usage(120, 58, cached_tokens=100, reasoning_tokens=50),
        ),
        # Cohere: plain counts, details null
        (
            {"prompt_tokens": 71, "completion_tokens": 4, "prompt_tokens_details": None},
            Usage(71, 4),
        ),
        ({"prompt_tokens": "71", "completion_tokens": 4}, None),
        (None, None),
    ],
)  # fmt: skip
def test_litellm_usage_maps_to_ours(raw: object, expected: Usage | None) -> None:
    assert usage_of(raw) == expected


def test_rate_limit_headers_litellm_kept_feed_quota_headroom() -> None:
    hints = rate_hints(
        {
            "x-ratelimit-remaining-requests": "10",
            "llm_provider-x-ratelimit-limit-requests": "40",
            "llm_provider-content-type": "application/json",
        }
    )
    assert hints == {"x-ratelimit-remaining-requests": "10", "x-ratelimit-limit-requests": "40"}
    assert header_headroom(hints) == 0.25
    assert rate_hints(None) == {}


def test_a_reply_leaves_litellm_only_fields_out() -> None:
    dumped = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {
                    "role": "assistant",
                    "content": "hi",
                    "tool_calls": None,
                    "function_call": None,
                    "provider_specific_fields": {"x": 1},
                },
            }
        ],
    }
    body = orjson.loads(reply_body(dumped))
    assert body["choices"][0]["message"] == {"role": "assistant", "content": "hi"}


BEDROCK = "https://bedrock-runtime.eu-west-1.amazonaws.com/model/m/converse"
REPLY = {
    "output": {"message": {"role": "assistant", "content": [{"text": "ok"}]}},
    "stopReason": "end_turn",
    "usage": {"inputTokens": 3, "outputTokens": 1, "totalTokens": 4},
}


async def test_a_client_cannot_set_litellm_own_arguments() -> None:
    """api_base, credentials or litellm's metadata in a client's body never reach litellm: the
    request goes where providers.yaml says, signed with its credentials."""
    up = LitellmUpstream(
        kind="bedrock",
        credentials={
            "aws_access_key_id": "AKIAOURS",
            "aws_secret_access_key": "ours",
            "aws_region_name": "eu-west-1",
        },
        secrets=["ours"],
        read_timeout_s=10,
    )
    hostile = {
        "messages": [{"role": "user", "content": "hi"}],
        "api_base": "http://evil.test",
        "aws_region_name": "us-west-2",
        "aws_access_key_id": "AKIATHEIRS",
        "metadata": {"x": 1},
        "mock_response": "not from the vendor",
    }
    with respx.mock() as mock:
        converse = mock.post(BEDROCK).respond(200, json=REPLY)
        reply = await up.complete(Call(Operation.CHAT, "m", hostile, False, False, "r"))
    auth = converse.calls[0].request.headers["authorization"]
    assert "Credential=AKIAOURS/" in auth and "/eu-west-1/" in auth
    assert orjson.loads(reply.body)["choices"][0]["message"]["content"] == "ok"


EMBEDDINGS = {
    "object": "list",
    "data": [{"object": "embedding", "index": 0, "embedding": [0.25, -0.5, 0.125]}],
    "model": "text-embedding-3-small",
    "usage": {"prompt_tokens": 6, "total_tokens": 6},
}
EMBEDDER = """
  tail:
    kind: litellm
    base_url: http://emb.test/v1
    api_key_env: TAIL_KEY
    models:
      emb:
        upstream: openai/text-embedding-3-small
        operations: [embeddings]
        price: {input_per_mtok: 0.02, output_per_mtok: 0}
"""


async def test_embeddings_through_litellm_reach_the_ledger(tmp_path: Path) -> None:
    with respx.mock() as mock:
        embed = mock.post("http://emb.test/v1/embeddings").respond(200, json=EMBEDDINGS)
        async with gateway(tmp_path, EMBEDDER, {"TAIL_KEY": "sk-tail-0123456789"}) as gw:
            reply = await gw.post(
                "/v1/embeddings", json={"model": "emb", "input": "hello there", "user": "u1"}
            )
    assert reply.status_code == 200, reply.text
    assert reply.json()["data"][0]["embedding"] == [0.25, -0.5, 0.125]
    sent = orjson.loads(embed.calls[0].request.content)
    assert sent["input"] == ["hello there"] or sent["input"] == "hello there"
    assert embed.calls[0].request.headers["authorization"] == "Bearer sk-tail-0123456789"
    (row,) = await spend_rows(tmp_path)
    assert (row.endpoint, row.prompt_tokens, row.completion_tokens) == ("/v1/embeddings", 6, 0)
    assert row.cost_usd == cost(6, 0, 0.02, 0)


def bedrock_adapter() -> LitellmUpstream:
    return LitellmUpstream(
        kind="bedrock",
        credentials={
            "aws_access_key_id": "AKIAOURS",
            "aws_secret_access_key": "ours-secret-key",
            "aws_region_name": "eu-west-1",
        },
        secrets=["ours-secret-key"],
        read_timeout_s=10,
    )


CHAT_BODY = {"messages": [{"role": "user", "content": "hi"}]}


async def test_a_vendor_429_keeps_its_retry_after_for_quotas() -> None:
    with respx.mock() as mock:
        mock.post(BEDROCK).respond(
            429,
            json={"message": "Too many requests, please wait before trying again."},
            headers={"retry-after": "3", "x-amzn-errortype": "ThrottlingException"},
        )
        with pytest.raises(UpstreamStatusError) as caught:
            await bedrock_adapter().complete(
                Call(Operation.CHAT, "bedrock/m", CHAT_BODY, False, False, "r")
            )
    assert caught.value.upstream_status == 429 and caught.value.retry_after_s == 3.0
    assert caught.value.is_retryable


async def test_rate_limit_headers_of_a_reply_reach_the_router() -> None:
    """kind: litellm before an OpenAI-compatible vendor: its x-ratelimit-* headers, kept by
    litellm, come back as the reply's hints (quota headroom reads them)."""
    up = LitellmUpstream(
        kind="litellm",
        credentials={"api_key": "sk-tail-0123456789", "api_base": "http://tail.test/v1"},
        secrets=["sk-tail-0123456789"],
        read_timeout_s=10,
    )
    reply = {
        "id": "c",
        "object": "chat.completion",
        "created": 1,
        "model": "m",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}
        ],
        "usage": {
            "prompt_tokens": 9,
            "completion_tokens": 5,
            "total_tokens": 14,
            "prompt_tokens_details": {"cached_tokens": 4},
            "completion_tokens_details": {"reasoning_tokens": 3},
        },
    }
    limits = {"x-ratelimit-limit-requests": "100", "x-ratelimit-remaining-requests": "20"}
    with respx.mock() as mock:
        mock.post("http://tail.test/v1/chat/completions").respond(200, json=reply, headers=limits)
        answer = await up.complete(Call(Operation.CHAT, "openai/m", CHAT_BODY, False, False, "r"))
    assert header_headroom(answer.headers) == 0.2
    assert answer.usage == Usage(9, 5, cached_tokens=4, reasoning_tokens=3)


async def test_a_stream_that_breaks_after_its_first_event_ends_with_an_error_event() -> None:
    body = (
        message("messageStart", {"role": "assistant"})
        + message("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Hel"}})
        + exception("throttlingException", "Too many tokens, please wait.")
    )
    with respx.mock() as mock:
        mock.post(f"{BEDROCK}-stream").respond(
            200, content=body, headers={"content-type": "application/vnd.amazon.eventstream"}
        )
        stream = await bedrock_adapter().open_stream(
            Call(Operation.CHAT, "bedrock/m", CHAT_BODY, True, True, "r")
        )
        out = b"".join([chunk async for chunk in stream])
        await stream.aclose()
    events = [e for e in out.split(b"\n\n") if e]
    assert b'"content":"Hel"' in events[0]
    assert b'"error"' in events[-1] and b"[DONE]" not in out
    assert stream.truncated and stream.failure is not None


def test_litellm_is_configured_offline_and_without_callbacks() -> None:
    module = litellm_loader.start().result(timeout=120)
    assert os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] == "True"
    assert os.environ["LITELLM_OFFLINE_MODE"] == "true"
    for name in ("callbacks", "success_callback", "failure_callback", "_async_success_callback"):
        assert getattr(module, name) == [], name
    assert module.telemetry is False and module.disable_aiohttp_transport is True
    assert module.return_response_headers is True
