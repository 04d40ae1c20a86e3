"""chat.completion.chunk stream -> Responses SSE events: the exact event sequence for text then
a function call (argument fragments, a usage chunk, then [DONE]), reasoning, refusals, parallel
calls, truncation, streams without usage, error events. Every event is validated by the openai
SDK's ResponseStreamEvent union and fed to the SDK's own stream accumulator; the whole stream
is also read by the SDK client over HTTP. A property: however text and arguments are cut into
fragments, the events carry them whole."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
from hypothesis import given, settings
from hypothesis import strategies as st
from openai import OpenAI, omit
from openai.lib.streaming.responses._responses import ResponseStreamState
from openai.types.chat import ChatCompletionChunk
from openai.types.responses import ResponseStreamEvent
from pydantic import BaseModel, TypeAdapter

from gateway.dialects.responses_chat import StreamFromChat as Reexported
from gateway.dialects.responses_chat_stream import StreamFromChat

MODEL = "gpt-4.1"
RESP_ID = "resp_67c9fdcecf488190bdd9a0409de3a1ec"
BASE = "67c9fdcecf488190bdd9a0409de3a1ec"
CREATED = 1741290958
EVENT = TypeAdapter(ResponseStreamEvent)
USAGE = {
    "prompt_tokens": 472,
    "completion_tokens": 89,
    "total_tokens": 561,
    "prompt_tokens_details": {"cached_tokens": 384},
    "completion_tokens_details": {"reasoning_tokens": 12},
}
CALL_ID = "call_DdmO9pD3xa9XTPNJ32zg2hcA"
# Fields other SDK releases declare: openai-python 2.10 to 3.3 require `name` in
# function_call_arguments.done (the API sends it); the release installed here leaves it out.
KNOWN_ELSEWHERE = {"ResponseFunctionCallArgumentsDoneEvent": {"name"}}


def chunk(delta: dict[str, Any] | None, finish: str | None = None, **extra: Any) -> dict[str, Any]:
    """A chunk as OpenAI streams it (choices[0] with a delta), or the usage chunk (delta None)."""
    out: dict[str, Any] = {
        "id": "chatcmpl-123",
        "object": "chat.completion.chunk",
        "created": 1694268190,
        "model": "gpt-4o-mini",
        "system_fingerprint": "fp_44709d6fcb",
        "choices": []
        if delta is None
        else [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        **extra,
    }
    ChatCompletionChunk.model_validate(out)  # the fixture is a real chunk
    return out


def call(
    index: int, arguments: str, id: str | None = None, name: str | None = None
) -> dict[str, Any]:
    out: dict[str, Any] = {"index": index, "function": {"arguments": arguments}}
    if id is not None:
        out.update(id=id, type="function")
        out["function"]["name"] = name
    return {"tool_calls": [out]}


def raw(chunks: list[dict[str, Any]]) -> list[bytes]:
    stream = StreamFromChat(model=MODEL, response_id=RESP_ID, created_at=CREATED)
    events = stream.start()
    for c in chunks:
        events += stream.feed(c)
    return events + stream.finish()


def no_extras(value: Any, where: str = "") -> None:
    """Every field is one the SDK's models declare (pydantic keeps unknown ones as extras)."""
    if isinstance(value, BaseModel):
        extra = set(value.model_extra or ()) - KNOWN_ELSEWHERE.get(type(value).__name__, set())
        assert not extra, f"{where}: unknown fields {extra}"
        for name in type(value).model_fields:
            no_extras(getattr(value, name), f"{where}.{name}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            no_extras(v, f"{where}[{i}]")


def parse(events: list[bytes]) -> list[dict[str, Any]]:
    """Each event as its data, checking the SSE framing, that `event:` names the type, that the
    SDK's event union validates it strictly, and that sequence numbers count from 0."""
    out = []
    for n, event in enumerate(events):
        assert event.endswith(b"\n\n")
        head, data = event[:-2].split(b"\n")
        assert head.startswith(b"event: ") and data.startswith(b"data: ")
        obj = orjson.loads(data[len(b"data: ") :])
        assert head[len(b"event: ") :].decode() == obj["type"]
        assert obj["sequence_number"] == n
        no_extras(EVENT.validate_python(obj, strict=True), obj["type"])
        out.append(obj)
    return out


def run(chunks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return parse(raw(chunks))


def sdk_final(events: list[dict[str, Any]]) -> Any:
    """The Response the SDK's stream accumulator builds (raises on any inconsistency)."""
    state: ResponseStreamState[Any] = ResponseStreamState(input_tools=omit, text_format=omit)
    for e in events:
        state.handle_event(EVENT.validate_python(e))
    return state._completed_response


TEXT_THEN_CALL = [
    chunk({"role": "assistant", "content": "", "refusal": None}),
    chunk({"content": "Okay"}),
    chunk({"content": ", let me check"}),
    chunk({"content": " the weather."}),
    chunk(call(0, "", id=CALL_ID, name="get_weather")),
    chunk(call(0, '{"loc')),
    chunk(call(0, 'ation": "San Fra')),
    chunk(call(0, 'ncisco, CA"}')),
    chunk({}, "tool_calls"),
    chunk(None, usage=USAGE),
]  # then [DONE]: finish()
MESSAGE = {
    "type": "message",
    "id": f"msg_{BASE}_0",
    "status": "completed",
    "role": "assistant",
    "content": [
        {"type": "output_text", "text": "Okay, let me check the weather.", "annotations": []}
    ],
}
FUNCTION_CALL = {
    "type": "function_call",
    "id": f"fc_{BASE}_1",
    "call_id": CALL_ID,
    "name": "get_weather",
    "arguments": '{"location": "San Francisco, CA"}',
    "status": "completed",
}


def test_reexported() -> None:
    assert Reexported is StreamFromChat


def test_text_then_function_call_exact_sequence() -> None:
    events = run(TEXT_THEN_CALL)
    assert [e["type"] for e in events] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [e["sequence_number"] for e in events] == list(range(17))
    skeleton = {
        "id": RESP_ID,
        "object": "response",
        "created_at": CREATED,
        "status": "in_progress",
        "background": False,
        "error": None,
        "incomplete_details": None,
        "instructions": None,
        "metadata": {},
        "model": MODEL,
        "output": [],
        "parallel_tool_calls": True,
        "previous_response_id": None,
        "temperature": None,
        "tool_choice": "auto",
        "tools": [],
        "top_p": None,
        "truncation": "disabled",
        "usage": None,
    }
    assert events[0] == {"type": "response.created", "sequence_number": 0, "response": skeleton}
    assert events[1] == {"type": "response.in_progress", "sequence_number": 1, "response": skeleton}
    msg_id = f"msg_{BASE}_0"
    assert events[2] == {
        "type": "response.output_item.added",
        "sequence_number": 2,
        "output_index": 0,
        "item": {**MESSAGE, "status": "in_progress", "content": []},
    }
    empty = {"type": "output_text", "text": "", "annotations": []}
    where = {"output_index": 0, "item_id": msg_id, "content_index": 0}
    assert events[3] == {
        "type": "response.content_part.added",
        "sequence_number": 3,
        **where,
        "part": empty,
    }
    assert events[4] == {
        "type": "response.output_text.delta",
        "sequence_number": 4,
        **where,
        "delta": "Okay",
        "logprobs": [],
    }
    text = "Okay, let me check the weather."
    assert events[7] == {
        "type": "response.output_text.done",
        "sequence_number": 7,
        **where,
        "text": text,
        "logprobs": [],
    }
    assert events[8] == {
        "type": "response.content_part.done",
        "sequence_number": 8,
        **where,
        "part": {**empty, "text": text},
    }
    assert events[9] == {
        "type": "response.output_item.done",
        "sequence_number": 9,
        "output_index": 0,
        "item": MESSAGE,
    }
    fc_id = f"fc_{BASE}_1"
    assert events[10] == {
        "type": "response.output_item.added",
        "sequence_number": 10,
        "output_index": 1,
        "item": {**FUNCTION_CALL, "arguments": "", "status": "in_progress"},
    }
    assert events[11] == {
        "type": "response.function_call_arguments.delta",
        "sequence_number": 11,
        "output_index": 1,
        "item_id": fc_id,
        "delta": '{"loc',
    }
    assert events[14] == {
        "type": "response.function_call_arguments.done",
        "sequence_number": 14,
        "output_index": 1,
        "item_id": fc_id,
        "name": "get_weather",
        "arguments": '{"location": "San Francisco, CA"}',
    }
    assert events[15] == {
        "type": "response.output_item.done",
        "sequence_number": 15,
        "output_index": 1,
        "item": FUNCTION_CALL,
    }
    usage = {
        "input_tokens": 472,
        "input_tokens_details": {"cached_tokens": 384, "cache_write_tokens": 0},
        "output_tokens": 89,
        "output_tokens_details": {"reasoning_tokens": 12},
        "total_tokens": 561,
    }
    assert events[16] == {
        "type": "response.completed",
        "sequence_number": 16,
        "response": {
            **skeleton,
            "status": "completed",
            "output": [MESSAGE, FUNCTION_CALL],
            "usage": usage,
        },
    }
    final = sdk_final(events)
    assert final.output_text == text
    assert final.output[1].arguments == '{"location": "San Francisco, CA"}'
    assert final.usage.input_tokens_details.cached_tokens == 384


def test_reasoning_then_text() -> None:
    events = run(
        [
            chunk({"role": "assistant", "content": ""}),
            chunk({"reasoning_content": "The user "}),
            chunk({"reasoning_content": "asks."}),
            chunk({"content": "Sunny."}),
            chunk({}, "stop"),
        ]
    )
    assert [e["type"] for e in events][2:] == [
        "response.output_item.added",
        "response.reasoning_summary_part.added",
        "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.done",
        "response.reasoning_summary_part.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    rs_id = f"rs_{BASE}_0"
    assert events[2]["item"] == {"type": "reasoning", "id": rs_id, "summary": []}
    assert events[3] == {
        "type": "response.reasoning_summary_part.added",
        "sequence_number": 3,
        "output_index": 0,
        "item_id": rs_id,
        "summary_index": 0,
        "part": {"type": "summary_text", "text": ""},
    }
    assert events[6]["text"] == "The user asks."
    reasoning = {
        "type": "reasoning",
        "id": rs_id,
        "summary": [{"type": "summary_text", "text": "The user asks."}],
    }
    assert events[8]["item"] == reasoning
    assert events[9]["item"]["id"] == f"msg_{BASE}_1"
    assert events[-1]["response"]["output"][0] == reasoning
    assert events[-1]["response"]["usage"] is None
    assert sdk_final(events).output_text == "Sunny."


def test_refusal_part_after_text() -> None:
    events = run([chunk({"content": "Well"}), chunk({"refusal": "I can't."}), chunk({}, "stop")])
    assert [e["type"] for e in events][2:-1] == [
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.content_part.added",
        "response.refusal.delta",
        "response.refusal.done",
        "response.content_part.done",
        "response.output_item.done",
    ]
    assert events[7]["part"] == {"type": "refusal", "refusal": ""}
    assert events[7]["content_index"] == 1
    assert events[9] == {
        "type": "response.refusal.done",
        "sequence_number": 9,
        "output_index": 0,
        "item_id": f"msg_{BASE}_0",
        "content_index": 1,
        "refusal": "I can't.",
    }
    assert events[-1]["response"]["output"][0]["content"] == [
        {"type": "output_text", "text": "Well", "annotations": []},
        {"type": "refusal", "refusal": "I can't."},
    ]
    sdk_final(events)


def test_parallel_calls_and_a_new_id_at_the_same_index() -> None:
    events = run(
        [
            chunk(call(0, '{"a":', id="call_a", name="f")),
            chunk(call(0, "1}")),
            chunk(call(1, '{"b":2}', id="call_b", name="g")),
            chunk(call(1, '{"c":3}', id="call_c", name="h")),
            chunk({}, "tool_calls"),
        ]
    )
    done = [e for e in events if e["type"] == "response.function_call_arguments.done"]
    assert [(e["output_index"], e["name"], e["arguments"]) for e in done] == [
        (0, "f", '{"a":1}'),
        (1, "g", '{"b":2}'),
        (2, "h", '{"c":3}'),
    ]
    output = events[-1]["response"]["output"]
    assert [(o["id"], o["call_id"]) for o in output] == [
        (f"fc_{BASE}_0", "call_a"),
        (f"fc_{BASE}_1", "call_b"),
        (f"fc_{BASE}_2", "call_c"),
    ]
    assert [o.call_id for o in sdk_final(events).output] == ["call_a", "call_b", "call_c"]


def test_call_without_id_gets_one() -> None:
    events = run([chunk({"tool_calls": [{"index": 3, "function": {"arguments": "{}"}}]})])
    assert events[2]["item"]["call_id"] == f"call_{BASE}_3"
    assert events[2]["item"]["name"] == ""


def test_length_ends_incomplete() -> None:
    events = run(
        [chunk({"content": "The weather in Par"}), chunk({}, "length"), chunk(None, usage=USAGE)]
    )
    assert events[-2]["item"]["status"] == "incomplete"
    last = events[-1]
    assert last["type"] == "response.incomplete"
    assert last["response"]["status"] == "incomplete"
    assert last["response"]["incomplete_details"] == {"reason": "max_output_tokens"}
    assert last["response"]["output"][0]["status"] == "incomplete"
    assert last["response"]["usage"]["output_tokens"] == 89


def test_content_filter_ends_incomplete() -> None:
    events = run([chunk({"content": "Part"}), chunk({}, "content_filter")])
    assert events[-1]["type"] == "response.incomplete"
    assert events[-1]["response"]["incomplete_details"] == {"reason": "content_filter"}


def test_empty_stream() -> None:
    events = run([chunk({"role": "assistant", "content": ""}), chunk({}, "stop")])
    assert [e["type"] for e in events] == [
        "response.created",
        "response.in_progress",
        "response.completed",
    ]
    assert events[-1]["response"]["output"] == []


def test_other_choices_and_junk_ignored() -> None:
    other = chunk({"content": "x"})
    other["choices"][0]["index"] = 1
    events = run([other, {"choices": "nope"}, {"choices": [None]}, chunk({"content": "y"})])
    assert events[-1]["response"]["output"][0]["content"][0]["text"] == "y"


def test_error_event_continues_the_sequence() -> None:
    stream = StreamFromChat(model=MODEL, response_id=RESP_ID, created_at=CREATED)
    events = stream.start() + stream.feed(chunk({"content": "Hel"}))
    events.append(stream.error("upstream connection lost"))
    events.append(stream.error("slow down", "rate_limit_exceeded"))
    parsed = parse(events)
    assert parsed[-2] == {
        "type": "error",
        "sequence_number": 5,
        "code": "server_error",
        "message": "upstream connection lost",
        "param": None,
    }
    assert parsed[-1]["code"] == "rate_limit_exceeded"
    assert parsed[-1]["sequence_number"] == 6


def test_no_done_marker() -> None:
    assert all(b"[DONE]" not in e for e in raw(TEXT_THEN_CALL))


def sdk_client(body: bytes) -> OpenAI:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/v1/responses"
        return httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})

    # Newer SDKs type http_client as an httpx2 client and adapt an httpx one.
    http_client: Any = httpx.Client(transport=httpx.MockTransport(handler))
    return OpenAI(api_key="sk-test", base_url="http://gateway/v1", http_client=http_client)


def test_openai_sdk_reads_the_stream_over_http() -> None:
    body = b"".join(raw(TEXT_THEN_CALL))
    client = sdk_client(body)
    with client.responses.stream(model=MODEL, input="weather?") as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_response()
    assert kinds[-1] == "response.completed"
    assert final.id == RESP_ID
    assert final.output_text == "Okay, let me check the weather."
    assert final.output[1].type == "function_call"
    assert final.output[1].arguments == '{"location": "San Francisco, CA"}'
    assert final.usage is not None and final.usage.output_tokens_details.reasoning_tokens == 12
    created = client.responses.create(model=MODEL, input="weather?", stream=True)
    assert [e.sequence_number for e in created] == list(range(17))


# --- property: however the text and arguments are cut, the events carry them whole -----------

FRAGMENTS = st.lists(st.text(min_size=1, max_size=8), min_size=1, max_size=8)


@settings(max_examples=60, deadline=None)
@given(text=FRAGMENTS, arguments=FRAGMENTS)
def test_fragments_kept_whole(text: list[str], arguments: list[str]) -> None:
    chunks = [chunk({"content": t}) for t in text]
    chunks.append(chunk(call(0, arguments[0], id=CALL_ID, name="f")))
    chunks += [chunk(call(0, a)) for a in arguments[1:]]
    events = run([*chunks, chunk({}, "tool_calls")])
    deltas = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
    assert deltas == "".join(text)
    args = [e["delta"] for e in events if e["type"] == "response.function_call_arguments.delta"]
    assert "".join(args) == "".join(arguments)
    output = events[-1]["response"]["output"]
    assert output[0]["content"][0]["text"] == "".join(text)
    assert output[1]["arguments"] == "".join(arguments)
    final = sdk_final(events)
    assert final.output_text == "".join(text)
