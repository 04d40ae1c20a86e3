"""The Anthropic Messages adapter against respx-mocked vendor HTTP: pass-through bodies and
headers, usage with cache reads and writes apart, rate-limit hints, streams and their breaks."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest
import respx

from gateway.core.operation import Operation
from gateway.errors import UpstreamStatusError
from gateway.state.quota import header_headroom
from gateway.upstream.anthropic import AnthropicUpstream, messages_usage
from gateway.upstream.base import Call
from gateway.upstream.transport import make_transport
from tests.upstream.test_openai_compat import Chunked

URL = "http://vendor.test/v1/messages"
BODY: dict[str, Any] = {
    "model": "claude-public",
    "max_tokens": 64,
    "system": [{"type": "text", "text": "be brief", "cache_control": {"type": "ephemeral"}}],
    "messages": [{"role": "user", "content": "hi"}],
}
USAGE = {
    "input_tokens": 12,
    "cache_creation_input_tokens": 100,
    "cache_read_input_tokens": 300,
    "output_tokens": 7,
}
REPLY = {
    "id": "msg_1",
    "type": "message",
    "role": "assistant",
    "model": "claude-x",
    "content": [{"type": "text", "text": "hello"}],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": USAGE,
}


def adapter() -> AnthropicUpstream:
    return AnthropicUpstream(
        base_url="http://vendor.test",
        api_key="sk-ant-test",
        transport=make_transport("httpx", max_connections=4),
        connect_timeout_s=1.0,
        read_timeout_s=1.0,
    )


def call(stream: bool = False) -> Call:
    return Call(
        Operation.MESSAGES,
        "claude-x",
        BODY,
        stream,
        True,
        "req-1",
        headers={"anthropic-beta": "prompt-caching-2024-07-31", "x-other": "no"},
    )


def test_usage_counts_cache_reads_and_writes_apart_inside_the_prompt() -> None:
    usage = messages_usage(USAGE)
    assert usage is not None
    assert (usage.prompt_tokens, usage.cached_tokens, usage.cache_write_tokens) == (412, 300, 100)
    assert usage.completion_tokens == 7
    assert messages_usage({"input_tokens": "12"}) is None


async def test_complete_passes_the_body_and_anthropic_headers_through() -> None:
    headers = {
        "anthropic-ratelimit-requests-limit": "100",
        "anthropic-ratelimit-requests-remaining": "25",
    }
    with respx.mock() as mock:
        route = mock.post(URL).respond(200, json=REPLY, headers=headers)
        up = adapter()
        reply = await up.complete(call())
        await up.aclose()
    sent = route.calls[0].request
    assert orjson.loads(sent.content) == {**BODY, "model": "claude-x"}  # only the model changed
    assert sent.headers["x-api-key"] == "sk-ant-test"
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert sent.headers["anthropic-beta"] == "prompt-caching-2024-07-31"
    assert "x-other" not in sent.headers and "authorization" not in sent.headers
    assert reply.body == orjson.dumps(REPLY)  # the vendor's bytes
    assert reply.usage is not None and reply.usage.cached_tokens == 300
    assert header_headroom(reply.headers) == 0.25


def event(kind: str, data: dict[str, Any]) -> bytes:
    return f"event: {kind}\ndata: ".encode() + orjson.dumps({"type": kind, **data}) + b"\n\n"


START = event(
    "message_start",
    {
        "message": {
            **REPLY,
            "content": [],
            "stop_reason": None,
            "usage": {**USAGE, "output_tokens": 1},
        }
    },
)
DELTA = event("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": "he"}})


async def test_a_stream_is_relayed_as_is_and_its_usage_read_from_start_and_delta() -> None:
    body = (
        START
        + event("ping", {})
        + event("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}})
        + DELTA
        + event("content_block_stop", {"index": 0})
        + event(
            "message_delta", {"delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 9}}
        )
        + event("message_stop", {})
    )
    with respx.mock() as mock:
        mock.post(URL).mock(return_value=httpx.Response(200, stream=Chunked(body, size=11)))
        up = adapter()
        stream = await up.open_stream(call(stream=True))
        out = b"".join([c async for c in stream])
        await stream.aclose()
        await up.aclose()
    assert out == body
    assert stream.usage is not None
    assert (stream.usage.prompt_tokens, stream.usage.completion_tokens) == (412, 9)
    assert stream.usage.cache_write_tokens == 100
    assert stream.completion_events == 1 and stream.failure is None


async def test_a_stream_cut_before_message_stop_ends_with_an_anthropic_error_event() -> None:
    with respx.mock() as mock:
        mock.post(URL).mock(return_value=httpx.Response(200, stream=Chunked(START + DELTA)))
        up = adapter()
        stream = await up.open_stream(call(stream=True))
        out = b"".join([c async for c in stream])
        await up.aclose()
    assert stream.truncated
    last = out.rsplit(b"\n\n", 2)[-2]
    assert last.startswith(b"event: error\ndata: ")
    assert orjson.loads(last.split(b"data: ", 1)[1])["error"]["type"] == "api_error"


@pytest.mark.parametrize(("status", "retryable"), [(529, True), (429, True), (400, False)])
async def test_overloaded_529_is_retryable_and_a_bad_request_is_not(
    status: int, retryable: bool
) -> None:
    error = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    with respx.mock() as mock:
        mock.post(URL).respond(status, json=error)
        up = adapter()
        with pytest.raises(UpstreamStatusError) as caught:
            await up.complete(call())
        await up.aclose()
    assert caught.value.is_retryable is retryable
    assert b"sk-ant-test" not in caught.value.upstream_body
