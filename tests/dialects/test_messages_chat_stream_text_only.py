"""StreamFromChat.feed takes a shorter way for the usual chunk (text and nothing else): for
every neighbour of that shape it gives exactly what the general path gives, in any order."""

from __future__ import annotations

import itertools
from typing import Any

from gateway.dialects.messages_chat_stream import StreamFromChat, text_only


def chunk(choice: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"id": "c1", "object": "chat.completion.chunk", "choices": [choice], **extra}


def text(value: object = "hi", **choice: Any) -> dict[str, Any]:
    return chunk({"index": 0, "delta": {"content": value}, "finish_reason": None, **choice})


CHUNKS = [
    text(),  # the usual one
    text('a "quoted" \\ line\nbreak ✓'),
    chunk({"index": 0, "delta": {"role": "assistant", "content": "hi"}}),
    text(""),
    text(5),
    text(None),
    text(finish_reason="length"),
    text(stop_reason="END"),  # vLLM's matched stop string
    text(stop_reason=None),
    text(stop_reason=7),  # a token id: no stop string
    text(matched_stop="###"),
    text(index=1),  # n > 1: not translated
    chunk({"delta": {"content": "no index"}}),
    chunk({"index": 0, "delta": {"content": "hi", "refusal": None}}),
    chunk({"index": 0, "delta": {"content": "no", "refusal": "I can't"}}),
    chunk({"index": 0, "delta": {"content": "hi", "reasoning_content": "think"}}),
    chunk({"index": 0, "delta": {"reasoning": "think"}}),
    chunk(
        {
            "index": 0,
            "delta": {
                "tool_calls": [
                    {"index": 0, "id": "t1", "function": {"name": "f", "arguments": "{}"}}
                ]
            },
        }
    ),
    {**text(), "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}},
    {**text(), "usage": None},
    {"choices": [text()["choices"][0], text("second")["choices"][0]]},
    {"choices": []},
]


def test_only_the_usual_chunk_takes_the_short_way() -> None:
    quoted = 'a "quoted" \\ line\nbreak ✓'
    taken = ["hi", quoted, "hi", "", None, None, None, None, "hi", "hi", None, None, "no index"]
    taken += [None] * 6 + ["hi", None, None]
    assert [text_only(c) for c in CHUNKS] == taken


def test_the_short_way_gives_what_the_general_path_gives_in_any_order() -> None:
    for first, second, third in itertools.permutations(CHUNKS, 3):
        short = StreamFromChat(model="m", message_id="msg_1", input_tokens=3)
        general = StreamFromChat(model="m", message_id="msg_1", input_tokens=3)
        got = [short.feed(c) for c in (first, second, third)] + [short.finish()]
        want = [general._feed(c) for c in (first, second, third)] + [general.finish()]
        assert got == want, (first, second, third)
