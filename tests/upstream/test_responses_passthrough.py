"""The Responses API passed through the OpenAI-compatible adapter (respx): the body as sent but
the model, the vendor's bytes back, usage read from the reply and from response.completed, and
a stream that ends without response.completed cut with an error event."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import respx

from gateway.core.operation import Operation
from gateway.upstream.base import Call
from tests.upstream.test_openai_compat import Chunked, adapter

URL = "http://vendor.test/v1/responses"
BODY: dict[str, Any] = {"model": "public", "input": "Say hi", "max_output_tokens": 20}
USAGE = {
    "input_tokens": 11,
    "input_tokens_details": {"cached_tokens": 4},
    "output_tokens": 7,
    "output_tokens_details": {"reasoning_tokens": 3},
    "total_tokens": 18,
}
RESPONSE = {
    "id": "resp_1",
    "object": "response",
    "status": "completed",
    "output": [],
    "usage": USAGE,
}


def call(stream: bool = False) -> Call:
    return Call(Operation.RESPONSES, "vendor-model", BODY, stream, True, "req-1")


def event(kind: str, data: dict[str, Any]) -> bytes:
    return f"event: {kind}\ndata: ".encode() + orjson.dumps({"type": kind, **data}) + b"\n\n"


async def test_a_responses_reply_is_relayed_and_its_usage_read() -> None:
    with respx.mock() as mock:
        route = mock.post(URL).respond(200, json=RESPONSE)
        up = adapter()
        reply = await up.complete(call())
        await up.aclose()
    assert orjson.loads(route.calls[0].request.content) == {**BODY, "model": "vendor-model"}
    assert reply.body == orjson.dumps(RESPONSE)
    assert reply.usage is not None
    assert (reply.usage.prompt_tokens, reply.usage.cached_tokens) == (11, 4)
    assert (reply.usage.completion_tokens, reply.usage.reasoning_tokens) == (7, 3)


async def test_a_responses_stream_is_relayed_as_is_with_its_final_usage() -> None:
    body = (
        event("response.created", {"sequence_number": 0, "response": {**RESPONSE, "usage": None}})
        + event("response.output_text.delta", {"sequence_number": 1, "delta": "hi"})
        + event("response.completed", {"sequence_number": 2, "response": RESPONSE})
    )
    with respx.mock() as mock:
        route = mock.post(URL).mock(return_value=httpx.Response(200, stream=Chunked(body)))
        up = adapter()
        stream = await up.open_stream(call(stream=True))
        out = b"".join([c async for c in stream])
        await stream.aclose()
        await up.aclose()
    sent = orjson.loads(route.calls[0].request.content)
    assert sent["stream"] is True and "stream_options" not in sent  # not a chat parameter
    assert out == body  # no [DONE] added, nothing dropped
    assert stream.usage is not None and stream.usage.completion_tokens == 7
    assert stream.completion_events == 1 and stream.failure is None


async def test_a_responses_stream_cut_before_completion_ends_with_an_error_event() -> None:
    body = event("response.output_text.delta", {"sequence_number": 1, "delta": "hi"})
    with respx.mock() as mock:
        mock.post(URL).mock(return_value=httpx.Response(200, stream=Chunked(body)))
        up = adapter()
        stream = await up.open_stream(call(stream=True))
        out = b"".join([c async for c in stream])
        await up.aclose()
    assert stream.truncated
    assert out.rstrip().rsplit(b"\n\n", 1)[-1].startswith(b"event: error\ndata: ")
