"""chat.completion.chunk stream -> Messages SSE events: the exact event sequence for text then
a tool call (with argument fragments, a usage chunk and [DONE]), reasoning, parallel tool calls,
streams without usage, error events; and a property: however the text and arguments are cut
into fragments, the events carry them whole."""

from __future__ import annotations

import itertools
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openai.types.chat import ChatCompletionChunk

from gateway.dialects.messages_chat import StreamFromChat as Reexported
from gateway.dialects.messages_chat_stream import StreamFromChat

MODEL = "claude-sonnet-4-5"
MSG_ID = "msg_01XFDUDYJgAACzvnptvVoYEL"


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


USAGE = {
    "prompt_tokens": 472,
    "completion_tokens": 89,
    "total_tokens": 561,
    "prompt_tokens_details": {"cached_tokens": 384},
}


def parse(events: list[bytes]) -> list[dict[str, Any]]:
    """Each event as its data, checking the SSE framing and that `event:` names the type."""
    out = []
    for raw in events:
        assert raw.endswith(b"\n\n")
        head, data = raw[:-2].split(b"\n")
        assert head.startswith(b"event: ") and data.startswith(b"data: ")
        obj = orjson.loads(data[len(b"data: ") :])
        assert head[len(b"event: ") :].decode() == obj["type"]
        out.append(obj)
    return out


def run(chunks: list[dict[str, Any]], input_tokens: int = 470) -> list[dict[str, Any]]:
    stream = StreamFromChat(model=MODEL, message_id=MSG_ID, input_tokens=input_tokens)
    events = stream.start()
    for c in chunks:
        events += stream.feed(c)
    return parse(events + stream.finish())


def types(events: list[dict[str, Any]]) -> list[str]:
    return [
        e["type"] + (f":{e['content_block']['type']}" if e["type"] == "content_block_start" else "")
        for e in events
    ]


def accumulate(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The final content, built as the Anthropic SDK builds it (blocks by index)."""
    blocks: list[dict[str, Any]] = []
    for e in events:
        if e["type"] == "content_block_start":
            assert e["index"] == len(blocks)
            blocks.append({**e["content_block"], "_json": ""})
        elif e["type"] == "content_block_delta":
            block, delta = blocks[e["index"]], e["delta"]
            key = {"text_delta": "text", "thinking_delta": "thinking", "input_json_delta": "_json"}
            field = key[delta["type"]]
            block[field] += delta["partial_json" if field == "_json" else field]
    for block in blocks:
        raw = block.pop("_json")
        if block["type"] == "tool_use":
            block["input"] = orjson.loads(raw) if raw else {}
    return blocks


def test_text_then_tool_call_exact_sequence() -> None:
    events = run(
        [
            chunk({"role": "assistant", "content": "", "refusal": None}),
            chunk({"content": "Okay"}),
            chunk({"content": ", let me check"}),
            chunk({"content": " the weather."}),
            chunk(call(0, "", id="call_DdmO9pD3xa9XTPNJ32zg2hcA", name="get_weather")),
            chunk(call(0, '{"loc')),
            chunk(call(0, 'ation": "San Fra')),
            chunk(call(0, 'ncisco, CA"}')),
            chunk({}, "tool_calls"),
            chunk(None, usage=USAGE),
        ]
    )
    assert types(events) == [
        "message_start",
        "ping",
        "content_block_start:text",
        "content_block_delta",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "content_block_start:tool_use",
        "content_block_delta",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert events[0] == {
        "type": "message_start",
        "message": {
            "id": MSG_ID,
            "type": "message",
            "role": "assistant",
            "model": MODEL,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {
                "input_tokens": 470,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
                "output_tokens": 1,
            },
        },
    }
    assert events[1] == {"type": "ping"}
    assert events[2] == {
        "type": "content_block_start",
        "index": 0,
        "content_block": {"type": "text", "text": ""},
    }
    assert events[3] == {
        "type": "content_block_delta",
        "index": 0,
        "delta": {"type": "text_delta", "text": "Okay"},
    }
    assert events[6] == {"type": "content_block_stop", "index": 0}
    assert events[7] == {
        "type": "content_block_start",
        "index": 1,
        "content_block": {
            "type": "tool_use",
            "id": "call_DdmO9pD3xa9XTPNJ32zg2hcA",
            "name": "get_weather",
            "input": {},
        },
    }
    assert events[8] == {
        "type": "content_block_delta",
        "index": 1,
        "delta": {"type": "input_json_delta", "partial_json": '{"loc'},
    }
    assert events[11] == {"type": "content_block_stop", "index": 1}
    assert events[12] == {
        "type": "message_delta",
        "delta": {"stop_reason": "tool_use", "stop_sequence": None},
        "usage": {
            "input_tokens": 88,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 384,
            "output_tokens": 89,
        },
    }
    assert events[13] == {"type": "message_stop"}
    assert accumulate(events) == [
        {"type": "text", "text": "Okay, let me check the weather."},
        {
            "type": "tool_use",
            "id": "call_DdmO9pD3xa9XTPNJ32zg2hcA",
            "name": "get_weather",
            "input": {"location": "San Francisco, CA"},
        },
    ]


def test_reasoning_then_text() -> None:
    events = run(
        [
            chunk({"role": "assistant", "content": ""}),
            chunk({"reasoning_content": "The user greets me."}),
            chunk({"reasoning_content": " Answer politely."}),
            chunk({"content": "Hello"}),
            chunk({"content": "!"}, "stop"),
            chunk(
                None,
                usage={
                    "prompt_tokens": 12,
                    "completion_tokens": 30,
                    "total_tokens": 42,
                    "completion_tokens_details": {"reasoning_tokens": 24},
                },
            ),
        ],
        input_tokens=11,
    )
    assert types(events) == [
        "message_start",
        "ping",
        "content_block_start:thinking",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "content_block_start:text",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert events[2]["content_block"] == {"type": "thinking", "thinking": "", "signature": ""}
    assert events[3]["delta"] == {"type": "thinking_delta", "thinking": "The user greets me."}
    assert events[-2] == {
        "type": "message_delta",
        "delta": {"stop_reason": "end_turn", "stop_sequence": None},
        "usage": {
            "input_tokens": 12,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "output_tokens": 30,
            "output_tokens_details": {"thinking_tokens": 24},
        },
    }
    assert accumulate(events) == [
        {"type": "thinking", "thinking": "The user greets me. Answer politely.", "signature": ""},
        {"type": "text", "text": "Hello!"},
    ]


def test_reasoning_key_and_reasoning_then_tool() -> None:
    events = run(
        [
            chunk({"reasoning": "Need weather."}),
            chunk(call(0, '{"location": "Paris"}', id="call_1", name="get_weather")),
            chunk({}, "tool_calls"),
        ]
    )
    assert types(events)[2:] == [
        "content_block_start:thinking",
        "content_block_delta",
        "content_block_stop",
        "content_block_start:tool_use",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert accumulate(events)[1]["input"] == {"location": "Paris"}


def test_parallel_tool_calls_each_a_block() -> None:
    events = run(
        [
            chunk(call(0, "", id="call_a", name="get_weather")),
            chunk(call(0, '{"location": "Paris"}')),
            chunk(call(1, "", id="call_b", name="get_time")),
            chunk(call(1, '{"tz": "CET"}')),
            chunk({}, "tool_calls"),
            chunk(None, usage=USAGE),
        ]
    )
    assert accumulate(events) == [
        {"type": "tool_use", "id": "call_a", "name": "get_weather", "input": {"location": "Paris"}},
        {"type": "tool_use", "id": "call_b", "name": "get_time", "input": {"tz": "CET"}},
    ]
    assert [e["index"] for e in events if e["type"] == "content_block_stop"] == [0, 1]


def test_whole_tool_call_in_one_chunk_and_repeated_id() -> None:
    """Some servers send a call whole, or repeat its id on every fragment."""
    events = run(
        [
            chunk(call(0, '{"a":', id="call_x", name="f")),
            chunk(call(0, " 1}", id="call_x", name="f")),
            chunk(call(0, "{}", id="call_y", name="g")),
            chunk({}, "tool_calls"),
        ]
    )
    assert accumulate(events) == [
        {"type": "tool_use", "id": "call_x", "name": "f", "input": {"a": 1}},
        {"type": "tool_use", "id": "call_y", "name": "g", "input": {}},
    ]


def test_no_usage_chunk_output_estimated_from_fragments() -> None:
    events = run([chunk({"content": "a"}), chunk({"content": "b"}), chunk({}, "length")])
    assert events[-2] == {
        "type": "message_delta",
        "delta": {"stop_reason": "max_tokens", "stop_sequence": None},
        "usage": {"output_tokens": 2},
    }


def test_usage_on_the_last_choice_chunk_is_taken() -> None:
    last = chunk({}, "stop", usage={"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7})
    events = run([chunk({"content": "hi"}), last])
    assert events[-2]["usage"]["output_tokens"] == 2
    assert events[-2]["usage"]["input_tokens"] == 5


def test_stop_sequence_when_the_server_says() -> None:
    last = chunk({}, "stop")
    last["choices"][0]["stop_reason"] = "END"  # vLLM
    events = run([chunk({"content": "x"}), last])
    assert events[-2]["delta"] == {"stop_reason": "stop_sequence", "stop_sequence": "END"}


def test_empty_stream_still_well_formed() -> None:
    events = run([chunk({"role": "assistant", "content": ""}), chunk({}, "stop")])
    assert types(events) == ["message_start", "ping", "message_delta", "message_stop"]
    assert events[2]["delta"]["stop_reason"] == "end_turn"


def test_content_filter_is_refusal() -> None:
    events = run([chunk({"content": "I"}), chunk({}, "content_filter")])
    assert events[-2]["delta"]["stop_reason"] == "refusal"


def test_error_event() -> None:
    stream = StreamFromChat(model=MODEL, message_id=MSG_ID, input_tokens=1)
    assert stream.error("Upstream closed the connection.") == (
        b'event: error\ndata: {"type":"error","error":'
        b'{"type":"api_error","message":"Upstream closed the connection."}}\n\n'
    )
    assert parse([stream.error("Overloaded", "overloaded_error")]) == [
        {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    ]


def test_reexported() -> None:
    assert Reexported is StreamFromChat


@pytest.mark.parametrize("index", [1, 2])
def test_other_choices_ignored(index: int) -> None:
    other = chunk({"content": "other"})
    other["choices"][0]["index"] = index
    events = run([other, chunk({"content": "mine"}, "stop")])
    assert accumulate(events) == [{"type": "text", "text": "mine"}]


# --- property: fragments reassemble whole -----------------------------------------------------


def cut(text: str, cuts: list[int]) -> list[str]:
    points = sorted({c % (len(text) + 1) for c in cuts} | {0, len(text)})
    return [text[a:b] for a, b in itertools.pairwise(points) if b > a]


ARGS = st.dictionaries(
    st.text(max_size=6), st.text(max_size=12) | st.integers(-(2**63), 2**63 - 1), max_size=4
)


@settings(max_examples=200, deadline=None)
@given(
    reasoning=st.text(max_size=60),
    text=st.text(max_size=60),
    calls=st.lists(ARGS, max_size=3),
    cuts=st.lists(st.integers(0, 200), max_size=12),
)
def test_fragments_reassemble(
    reasoning: str, text: str, calls: list[dict[str, Any]], cuts: list[int]
) -> None:
    chunks = [chunk({"reasoning_content": r}) for r in cut(reasoning, cuts)]
    chunks += [chunk({"content": t}) for t in cut(text, cuts)]
    for i, args in enumerate(calls):
        raw = orjson.dumps(args).decode()
        chunks.append(chunk(call(i, "", id=f"call_{i}", name=f"fn_{i}")))
        chunks += [chunk(call(i, piece)) for piece in cut(raw, cuts)]
    chunks.append(chunk({}, "tool_calls" if calls else "stop"))
    events = run([*chunks, chunk(None, usage=USAGE)])
    expected: list[dict[str, Any]] = []
    if reasoning:
        expected.append({"type": "thinking", "thinking": reasoning, "signature": ""})
    if text:
        expected.append({"type": "text", "text": text})
    expected += [
        {"type": "tool_use", "id": f"call_{i}", "name": f"fn_{i}", "input": args}
        for i, args in enumerate(calls)
    ]
    assert accumulate(events) == expected
    assert events[-2]["delta"]["stop_reason"] == ("tool_use" if calls else "end_turn")
    assert events[-1] == {"type": "message_stop"}
