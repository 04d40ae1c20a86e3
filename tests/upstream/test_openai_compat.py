"""The OpenAI-compatible adapter against respx-mocked vendor HTTP."""

from __future__ import annotations

import httpx
import orjson
import pytest
import respx

from gateway.core.operation import Operation
from gateway.errors import (
    UpstreamConnectError,
    UpstreamProtocolError,
    UpstreamStatusError,
    UpstreamTimeout,
)
from gateway.upstream.base import Call
from gateway.upstream.openai_compat import OpenAICompatUpstream
from gateway.upstream.transport import make_transport

URL = "http://vendor.test/v1/chat/completions"
BODY = {"model": "public-name", "messages": [{"role": "user", "content": "hi"}], "temperature": 0.2}


def adapter(transport: str = "httpx") -> OpenAICompatUpstream:
    return OpenAICompatUpstream(
        base_url="http://vendor.test/v1",
        api_key="sk-test-key",
        transport=make_transport(transport, max_connections=4),  # type: ignore[arg-type]
        connect_timeout_s=1.0,
        read_timeout_s=1.0,
    )


def call(stream: bool = False, wants_usage: bool = False) -> Call:
    return Call(Operation.CHAT, "vendor/model-x", BODY, stream, wants_usage, "req-1")


def sse(*events: dict[str, object] | str) -> bytes:
    out = b""
    for e in events:
        payload = e.encode() if isinstance(e, str) else orjson.dumps(e)
        out += b"data: " + payload + b"\n\n"
    return out


class Chunked(httpx.AsyncByteStream):
    """A body that arrives in awkward pieces, as real sockets deliver it."""

    def __init__(self, body: bytes, size: int = 7) -> None:
        self.parts = [body[i : i + size] for i in range(0, len(body), size)]

    async def __aiter__(self):  # type: ignore[no-untyped-def]
        for part in self.parts:
            yield part


def streamed(body: bytes) -> httpx.Response:
    return httpx.Response(200, stream=Chunked(body), headers={"content-type": "text/event-stream"})


def chunk(text: str) -> dict[str, object]:
    return {
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": {"content": text}}],
        "usage": None,
    }


USAGE: dict[str, object] = {
    "object": "chat.completion.chunk",
    "choices": [],
    "usage": {"prompt_tokens": 3, "completion_tokens": 2},
}


async def test_complete_rewrites_model_and_reads_usage() -> None:
    reply_body = {
        "choices": [{"message": {"content": "yo"}}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1},
    }
    with respx.mock() as mock:
        route = mock.post(URL).respond(
            200, json=reply_body, headers={"x-ratelimit-remaining-requests": "9"}
        )
        up = adapter()
        reply = await up.complete(call())
        await up.aclose()
    sent = orjson.loads(route.calls[0].request.content)
    assert sent["model"] == "vendor/model-x"
    assert sent["temperature"] == 0.2
    assert route.calls[0].request.headers["authorization"] == "Bearer sk-test-key"
    assert reply.usage is not None and reply.usage.completion_tokens == 1
    assert reply.headers == {"x-ratelimit-remaining-requests": "9"}
    assert orjson.loads(reply.body) == reply_body


@pytest.mark.parametrize(("wants_usage", "expect_usage_chunk"), [(False, False), (True, True)])
async def test_stream_asks_for_usage_and_hides_it_unless_asked(
    wants_usage: bool, expect_usage_chunk: bool
) -> None:
    body = sse(chunk("a"), chunk("b"), USAGE, "[DONE]")
    with respx.mock() as mock:
        route = mock.post(URL).mock(return_value=streamed(body))
        up = adapter()
        stream = await up.open_stream(call(stream=True, wants_usage=wants_usage))
        relayed = b"".join([c async for c in stream])
        await stream.aclose()
        await up.aclose()
    sent = orjson.loads(route.calls[0].request.content)
    assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}
    assert (b'"choices":[]' in relayed) is expect_usage_chunk
    assert relayed.endswith(b"data: [DONE]\n\n")
    assert stream.usage is not None and stream.usage.completion_tokens == 2
    assert not stream.truncated


async def test_stream_cut_before_done_ends_with_an_error_event() -> None:
    with respx.mock() as mock:
        mock.post(URL).mock(return_value=streamed(sse(chunk("a"), chunk("b"))))
        up = adapter()
        stream = await up.open_stream(call(stream=True))
        relayed = b"".join([c async for c in stream])
        await up.aclose()
    assert stream.truncated
    last = relayed.strip().split(b"\n\n")[-1]
    assert (
        orjson.loads(last.removeprefix(b"data: "))["error"]["code"] == "upstream_stream_truncated"
    )


async def test_stream_closed_before_any_event_is_a_retryable_protocol_error() -> None:
    with respx.mock() as mock:
        mock.post(URL).mock(return_value=streamed(b""))
        up = adapter()
        with pytest.raises(UpstreamProtocolError) as info:
            await up.open_stream(call(stream=True))
        await up.aclose()
    assert info.value.is_retryable


@pytest.mark.parametrize(
    ("status", "retryable"),
    [(500, True), (429, True), (503, True), (401, True), (400, False), (404, False)],
)
async def test_status_errors_are_classified(status: int, retryable: bool) -> None:
    with respx.mock() as mock:
        mock.post(URL).respond(
            status, json={"error": {"message": "no"}}, headers={"retry-after": "7"}
        )
        up = adapter()
        with pytest.raises(UpstreamStatusError) as info:
            await up.complete(call())
        await up.aclose()
    assert info.value.is_retryable is retryable
    assert info.value.upstream_status == status
    assert info.value.retry_after_s == 7.0
    assert "sk-test-key" not in str(info.value)


async def test_non_json_reply_is_a_protocol_error() -> None:
    with respx.mock() as mock:
        mock.post(URL).respond(200, content=b"<html>oops</html>")
        up = adapter()
        with pytest.raises(UpstreamProtocolError):
            await up.complete(call())
        await up.aclose()


@pytest.mark.parametrize(
    ("exc", "mapped"),
    [
        (httpx.ConnectError("refused"), UpstreamConnectError),
        (httpx.ReadTimeout("slow"), UpstreamTimeout),
    ],
)
async def test_transport_errors_are_mapped_by_type(exc: Exception, mapped: type[Exception]) -> None:
    with respx.mock() as mock:
        mock.post(URL).mock(side_effect=exc)
        up = adapter()
        with pytest.raises(mapped):
            await up.complete(call())
        await up.aclose()
