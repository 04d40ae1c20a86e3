"""A broken or hostile vendor (issue 12): its bytes never carry our key to the client, its
usage is bounded, stray lines and oversized replies are refused, malformed shapes are errors."""

from __future__ import annotations

import httpx
import orjson
import pytest
import respx

from gateway.api.errors import render
from gateway.core.usage import CLAMPED, MAX_TOKENS
from gateway.errors import UpstreamProtocolError, UpstreamStatusError
from gateway.upstream import http_client, sse
from gateway.upstream.redact import redact
from gateway.upstream.sse import parse_usage
from tests.upstream.test_openai_compat import URL, adapter, call, chunk, streamed

KEY = "sk-test-key"


async def test_a_vendor_400_echoing_our_authorization_header_does_not_hand_out_the_key() -> None:
    echoed = {
        "error": {
            "message": f"Bad header: Authorization: Bearer {KEY}; also api-key={KEY}",
            "type": "invalid_request_error",
            "param": None,
            "code": None,
        }
    }
    with respx.mock() as mock:
        mock.post(URL).respond(400, json=echoed)
        up = adapter()
        with pytest.raises(UpstreamStatusError) as caught:
            await up.complete(call())
        await up.aclose()
    assert KEY.encode() not in caught.value.upstream_body
    relayed = render(caught.value)
    assert relayed.status_code == 400
    assert KEY.encode() not in relayed.body
    assert b"[redacted]" in relayed.body


@pytest.mark.parametrize(
    "text",
    [
        b"Authorization: Bearer abcdefghijklmnop1234",
        b'{"x-api-key": "another-tenants-key-123456"}',
        b"key sk-proj-ABCDEFGHIJKLMNOPQRSTUV was refused",
    ],
)
def test_key_shaped_strings_are_redacted_even_when_not_ours(text: bytes) -> None:
    out = redact(text)
    assert b"[redacted]" in out
    assert b"abcdefghijklmnop1234" not in out
    assert b"another-tenants-key-123456" not in out
    assert b"ABCDEFGHIJKLMNOPQRSTUV" not in out


@pytest.mark.parametrize("huge", [10**12, 2**63 - 1, 1e15])
def test_usage_past_any_context_window_is_clamped_and_flagged(huge: float) -> None:
    usage = parse_usage({"prompt_tokens": 10, "completion_tokens": huge})
    assert usage is not None
    assert usage.completion_tokens == MAX_TOKENS and usage.prompt_tokens == 10
    assert usage.note == CLAMPED


@pytest.mark.parametrize("bad", [-5, "12", 3.5, True, [1]])
def test_usage_that_is_no_count_is_unusable_so_the_caller_estimates(bad: object) -> None:
    assert parse_usage({"prompt_tokens": bad, "completion_tokens": 4}) is None
    assert parse_usage({"prompt_tokens": 4, "completion_tokens": bad}) is None


def test_integral_floats_and_nulls_are_read_as_counts() -> None:
    usage = parse_usage({"prompt_tokens": 7.0, "completion_tokens": None})
    assert usage is not None
    assert (usage.prompt_tokens, usage.completion_tokens, usage.note) == (7, 0, None)


async def test_stream_lines_that_are_no_sse_field_never_reach_the_client() -> None:
    body = (
        b"data: " + orjson.dumps(chunk("a")) + b"\n\n"
        b"HTTP/1.1 garbage the vendor printed\n\n"
        b"data: " + orjson.dumps(chunk("b")) + b"\nstray line\n\n"
        b"data: [DONE]\n\n"
    )
    with respx.mock() as mock:
        mock.post(URL).mock(return_value=streamed(body))
        up = adapter()
        stream = await up.open_stream(call(stream=True))
        out = b"".join([c async for c in stream])
        await stream.aclose()
        await up.aclose()
    assert b"garbage" not in out and b"stray" not in out
    assert out.count(b"data: ") == 3 and out.endswith(b"data: [DONE]\n\n")


async def test_a_stream_event_without_end_is_not_buffered_past_the_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sse, "MAX_EVENT_BYTES", 10_000)
    body = b"data: " + orjson.dumps(chunk("a")) + b"\n\n" + b"data: " + b"x" * 50_000
    with respx.mock() as mock:
        sent = httpx.Response(
            200, stream=_Chunks(body), headers={"content-type": "text/event-stream"}
        )
        mock.post(URL).mock(return_value=sent)
        up = adapter()
        stream = await up.open_stream(call(stream=True))
        out = b"".join([c async for c in stream])
        await stream.aclose()
        await up.aclose()
    assert stream.failure is not None and stream.failure[1] == "upstream_malformed_chunk"
    assert len(out) < 10_000 and b"upstream_malformed_chunk" in out


async def test_a_reply_over_the_size_limit_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http_client, "MAX_REPLY_BYTES", 10_000)
    big = b'{"choices": [], "pad": "' + b"x" * 50_000 + b'"}'
    with respx.mock() as mock:
        route = mock.post(URL)
        route.mock(return_value=httpx.Response(200, stream=_Chunks(big)))  # no content-length
        up = adapter()
        with pytest.raises(UpstreamProtocolError, match="size limit"):
            await up.complete(call())
        route.mock(return_value=httpx.Response(200, content=big))  # with content-length
        with pytest.raises(UpstreamProtocolError, match="over the limit"):
            await up.complete(call())
        await up.aclose()


@pytest.mark.parametrize("choices", ["oops", {"0": 1}, None])
async def test_choices_that_are_not_an_array_are_a_protocol_error(choices: object) -> None:
    with respx.mock() as mock:
        mock.post(URL).respond(200, json={"choices": choices})
        up = adapter()
        with pytest.raises(UpstreamProtocolError, match="'choices' array"):
            await up.complete(call())
        await up.aclose()


class _Chunks(httpx.AsyncByteStream):
    def __init__(self, body: bytes) -> None:
        self.body = body

    async def __aiter__(self):  # type: ignore[no-untyped-def]
        for i in range(0, len(self.body), 4096):
            yield self.body[i : i + 4096]
