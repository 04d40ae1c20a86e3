"""The SSE relay (gateway.upstream.sse_stream) in each dialect, the body cut into reads at every
byte position: the client gets whole events only, exactly what the per-event path would give
(runs of plain events go as they came, unparsed), and the usage (cache reads and writes,
reasoning) and the content count come out the same however the reads fall. A broken event ends
the stream with an error event; a payload shaped like an object is relayed unparsed past the
first event (the documented, structural guarantee), but a translated stream, which parses
every event, still ends there."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator

import httpx
import orjson
import pytest

from gateway.core.usage import Usage
from gateway.dialects.messages_chat_stream import StreamFromChat
from gateway.errors import UpstreamProtocolError
from gateway.routing.translate import MALFORMED, TranslatedStream
from gateway.upstream.anthropic import MESSAGES_EVENTS
from gateway.upstream.openai_compat import OPENAI_CHUNKS, RESPONSES_EVENTS
from gateway.upstream.sse import EventSplitter, PlainEvents
from gateway.upstream.sse_stream import SseDialect, SseStream


class Reads(httpx.AsyncByteStream):
    def __init__(self, reads: list[bytes]) -> None:
        self._reads = reads

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for read in self._reads:
            yield read


class EventByEvent:
    """A dialect as it is, but with no plain run: every event takes the per-event path."""

    def __init__(self, dialect: SseDialect) -> None:
        self._dialect = dialect
        self.end_name = dialect.end_name
        self.plain = PlainEvents(re.compile(b"(?!)"), None, dialect.plain.content)

    def is_end(self, event: bytes) -> bool:
        return self._dialect.is_end(event)

    def usage(self, event: bytes, so_far: Usage | None) -> tuple[Usage | None, bool]:
        return self._dialect.usage(event, so_far)

    def is_content(self, event: bytes) -> bool:
        return self._dialect.is_content(event)

    def text(self, event: bytes) -> str:
        return self._dialect.text(event)

    def error_event(self, message: str, code: str) -> bytes:
        return self._dialect.error_event(message, code)


def opened(reads: list[bytes], dialect: SseDialect, *, strip_usage: bool = False) -> SseStream:
    response = httpx.Response(200, stream=Reads(reads))
    return SseStream(
        response, dialect, headers={}, strip_usage=strip_usage, started=time.perf_counter()
    )


async def relayed(
    reads: list[bytes], dialect: SseDialect, *, strip_usage: bool = False
) -> tuple[SseStream, bytes]:
    stream = opened(reads, dialect, strip_usage=strip_usage)
    await stream.prime()
    out = b"".join([chunk async for chunk in stream])
    await stream.aclose()
    return stream, out


def data(obj: object, name: str | None = None) -> bytes:
    head = b"event: %s\n" % name.encode() if name else b""
    return head + b"data: " + orjson.dumps(obj) + b"\n\n"


def chat(delta: dict[str, object], finish: str | None = None) -> bytes:
    choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
    return data({"id": "c1", "object": "chat.completion.chunk", "choices": [choice], "usage": None})


CHAT_USAGE = data(
    {
        "id": "c1",
        "object": "chat.completion.chunk",
        "choices": [],
        "usage": {
            "prompt_tokens": 1200,
            "completion_tokens": 80,
            "total_tokens": 1280,
            "prompt_tokens_details": {"cached_tokens": 1024},
            "completion_tokens_details": {"reasoning_tokens": 32},
        },
    }
)
CHAT_HEAD = (
    chat({"role": "assistant", "content": ""})
    + chat({"content": "Hello"})
    + b": keep-alive\n\n"
    + chat({"content": ' "usage": {} '})  # the word in the text is no usage
    + chat({"content": "!"}, finish="stop")
)
CHAT = CHAT_HEAD + CHAT_USAGE + b"data: [DONE]\n\n"
CHAT_USED = Usage(prompt_tokens=1200, completion_tokens=80, cached_tokens=1024, reasoning_tokens=32)

MESSAGES = (
    data(
        {
            "type": "message_start",
            "message": {
                "id": "msg_1",
                "type": "message",
                "role": "assistant",
                "content": [],
                "usage": {
                    "input_tokens": 10,
                    "cache_read_input_tokens": 100,
                    "cache_creation_input_tokens": 20,
                    "output_tokens": 1,
                },
            },
        },
        "message_start",
    )
    + data({"type": "ping"}, "ping")
    + data({"type": "content_block_start", "index": 0}, "content_block_start")
    + b"".join(
        data(
            {"type": "content_block_delta", "index": 0, "delta": {"text": t}}, "content_block_delta"
        )
        for t in ("Hi", " there", "!")
    )
    + data({"type": "content_block_stop", "index": 0}, "content_block_stop")
    + data(
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn"},
            "usage": {"output_tokens": 15},
        },
        "message_delta",
    )
    + data({"type": "message_stop"}, "message_stop")
)
MESSAGES_USED = Usage(
    prompt_tokens=130, completion_tokens=15, cached_tokens=100, cache_write_tokens=20
)

RESPONSES = (
    data({"type": "response.created"}, "response.created")
    + data({"type": "response.output_text.delta", "delta": "Hi"}, "response.output_text.delta")
    + data({"type": "response.output_text.delta", "delta": "!"}, "response.output_text.delta")
    + data(
        {
            "type": "response.completed",
            "response": {
                "usage": {
                    "input_tokens": 50,
                    "output_tokens": 9,
                    "input_tokens_details": {"cached_tokens": 40},
                    "output_tokens_details": {"reasoning_tokens": 4},
                }
            },
        },
        "response.completed",
    )
)
RESPONSES_USED = Usage(prompt_tokens=50, completion_tokens=9, cached_tokens=40, reasoning_tokens=4)

# (name, dialect, body, strip_usage, what the client gets, usage, content events)
CASES = [
    ("chat", OPENAI_CHUNKS, CHAT, False, CHAT, CHAT_USED, 5),
    (
        "chat, usage hidden",
        OPENAI_CHUNKS,
        CHAT,
        True,
        CHAT_HEAD + b"data: [DONE]\n\n",
        CHAT_USED,
        4,
    ),
    ("chat, CRLF", OPENAI_CHUNKS, CHAT.replace(b"\n", b"\r\n"), False, CHAT, CHAT_USED, 5),
    (
        "chat, events after [DONE]",
        OPENAI_CHUNKS,
        CHAT + chat({"content": "late"}),
        False,
        CHAT,
        CHAT_USED,
        5,
    ),
    ("messages", MESSAGES_EVENTS, MESSAGES, False, MESSAGES, MESSAGES_USED, 3),
    (
        "messages, CRLF",
        MESSAGES_EVENTS,
        MESSAGES.replace(b"\n", b"\r\n"),
        False,
        MESSAGES,
        MESSAGES_USED,
        3,
    ),
    ("responses", RESPONSES_EVENTS, RESPONSES, False, RESPONSES, RESPONSES_USED, 2),
]


def cuts(body: bytes) -> list[list[bytes]]:
    """The body in one read, a byte a read, and in two reads cut at every position."""
    out = [[body], [body[i : i + 1] for i in range(len(body))]]
    return out + [[body[:i], body[i:]] for i in range(1, len(body))]


@pytest.mark.parametrize(
    ("dialect", "body", "strip", "expected", "usage", "content"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
async def test_however_the_reads_fall_the_client_gets_the_same_events_and_usage(
    dialect: SseDialect,
    body: bytes,
    strip: bool,
    expected: bytes,
    usage: Usage,
    content: int,
) -> None:
    for reads in cuts(body):
        for path in (dialect, EventByEvent(dialect)):
            stream, out = await relayed(reads, path, strip_usage=strip)
            where = ([len(r) for r in reads[:2]], type(path).__name__)
            assert out == expected, where
            assert stream.usage == usage, where
            assert stream.completion_events == content, where
            assert (stream.failure, stream.truncated) == (None, False), where


def test_a_read_of_plain_events_is_relayed_as_the_same_object_and_counted_in_c() -> None:
    body = b"".join(chat({"content": f"t{i}"}) for i in range(64))
    assert EventSplitter().take(body) is body
    assert OPENAI_CHUNKS.plain.run(body, 0, len(body)) == (len(body), 64)
    assert OPENAI_CHUNKS.plain.stops(body) == [len(body)]  # `"usage":null` is no usage
    with_usage = body + CHAT_USAGE + b"data: [DONE]\n\n"
    assert OPENAI_CHUNKS.plain.stops(with_usage) == [len(body), len(with_usage)]
    assert OPENAI_CHUNKS.plain.run(with_usage, 0, len(body)) == (len(body), 64)


@pytest.mark.parametrize(
    "broken",
    [
        b"data: {broken\n\n",  # torn (the simulator's `malformed` fault)
        b"data: hello\n\n",  # text
        b'data: ["a"]\n\n',  # JSON, but no chunk
        b"data: {broken\ndata: }\n\n",  # only the first data line is checked
    ],
)
async def test_a_broken_event_ends_the_stream_with_an_error_and_nothing_after_it(
    broken: bytes,
) -> None:
    good = chat({"content": "a"}) + chat({"content": "b"})
    body = good + broken + chat({"content": "c"}) + CHAT_USAGE + b"data: [DONE]\n\n"
    for reads in cuts(body):
        stream, out = await relayed(reads, OPENAI_CHUNKS)
        assert out.startswith(good) and b'"c"' not in out, [len(r) for r in reads[:2]]
        assert b"upstream_malformed_chunk" in out
        assert stream.failure is not None and stream.failure[1] == "upstream_malformed_chunk"
        assert stream.usage is None and stream.completion_events == 2


async def test_a_broken_messages_event_ends_the_stream_in_the_messages_shape() -> None:
    cut = MESSAGES.index(b"event: content_block_stop")
    body = MESSAGES[:cut] + b"event: content_block_delta\ndata: {broken\n\n" + MESSAGES[cut:]
    stream, out = await relayed([body], MESSAGES_EVENTS)
    assert out.startswith(MESSAGES[:cut]) and b"message_delta" not in out
    assert out.endswith(b"event: error\n" + out.rsplit(b"event: error\n", 1)[1])
    assert stream.failure is not None and stream.failure[1] == "upstream_malformed_chunk"


async def test_an_object_shaped_payload_past_the_first_event_is_relayed_unparsed() -> None:
    """The structural guarantee: only the usage, the end and the first event are parsed."""
    body = chat({"content": "a"}) + b"data: {bad}\n\n" + CHAT_USAGE + b"data: [DONE]\n\n"
    stream, out = await relayed([body], OPENAI_CHUNKS)
    assert out == body
    assert stream.usage == CHAT_USED and stream.failure is None


@pytest.mark.parametrize("first", [b"data: {bad}\n\n", b"data: {broken\n\n"])
async def test_a_broken_first_event_is_a_failure_to_fail_over_from(first: bytes) -> None:
    stream = opened([first + CHAT_USAGE + b"data: [DONE]\n\n"], OPENAI_CHUNKS)
    with pytest.raises(UpstreamProtocolError, match="malformed first event"):
        await stream.prime()


async def test_a_stream_of_only_its_end_is_no_malformed_first_event() -> None:
    stream, out = await relayed([b"data: [DONE]\n\n"], OPENAI_CHUNKS)
    assert out == b"data: [DONE]\n\n" and stream.failure is None


async def test_a_translated_stream_ends_with_an_error_at_a_chunk_that_is_not_json() -> None:
    body = CHAT_HEAD + b"data: {bad}\n\n" + CHAT_USAGE + b"data: [DONE]\n\n"
    inner = opened([body], OPENAI_CHUNKS)
    await inner.prime()
    events = StreamFromChat(model="claude", message_id="msg_1", input_tokens=3)
    stream = TranslatedStream(inner, events)
    out = b"".join([chunk async for chunk in stream])
    await stream.aclose()
    last = out.rsplit(b"\n\n", 2)[-2]
    assert last.startswith(b"event: error\n") and b"message_stop" not in out
    assert b'"text":"Hello"' in out  # what came before it was translated
    assert (stream.failure, stream.truncated) == (MALFORMED, True)
