"""Parsing chat-completions requests in the simulator."""

from __future__ import annotations

import orjson
import pytest

from gateway.sim.wire import BadRequest, ChatRequest, parse_chat_request


def _parse(**body: object) -> ChatRequest:
    return parse_chat_request(orjson.dumps(body))


def test_prompt_tokens_are_characters_over_four() -> None:
    req = parse_chat_request(
        orjson.dumps(
            {
                "model": "m",
                "messages": [
                    {"role": "system", "content": "abcd"},
                    {"role": "user", "content": [{"type": "text", "text": "efghi"}]},
                    {"role": "assistant", "content": None},
                ],
            }
        )
    )
    assert req.prompt == "abcdefghi"
    assert req.prompt_tokens == 3


def test_tool_choice() -> None:
    tools = [{"type": "function", "function": {"name": "search"}}]
    msgs = [{"role": "user", "content": "x"}]
    named = {"type": "function", "function": {"name": "lookup"}}
    assert _parse(model="m", messages=msgs).tool_name is None
    assert _parse(model="m", messages=msgs, tools=tools).tool_name == "search"
    assert _parse(model="m", messages=msgs, tools=tools, tool_choice="auto").tool_name == "search"
    assert _parse(model="m", messages=msgs, tools=tools, tool_choice="none").tool_name is None
    assert _parse(model="m", messages=msgs, tools=tools, tool_choice=named).tool_name == "lookup"


def test_max_completion_tokens_wins_and_stream_options() -> None:
    msgs = [{"role": "user", "content": "x"}]
    req = _parse(
        model="m",
        messages=msgs,
        max_tokens=9,
        max_completion_tokens=5,
        stream=True,
        stream_options={"include_usage": True},
    )
    assert (req.max_tokens, req.stream, req.include_usage, req.n) == (5, True, True, 1)


@pytest.mark.parametrize(
    ("raw", "param"),
    [
        (b"{not json", None),
        (b"[1, 2]", None),
        (b'{"messages": [{"role": "user", "content": "x"}]}', "model"),
        (b'{"model": "m"}', "messages"),
        (b'{"model": "m", "messages": []}', "messages"),
        (b'{"model": "m", "messages": ["x"]}', "messages"),
        (b'{"model": "m", "messages": [{"content": "x"}], "n": 0}', "n"),
        (b'{"model": "m", "messages": [{"content": "x"}], "max_tokens": "5"}', "max_tokens"),
        (b'{"model": "m", "messages": [{"content": "x"}], "tools": [{}]}', "tools"),
    ],
)
def test_invalid_requests(raw: bytes, param: str | None) -> None:
    with pytest.raises(BadRequest) as info:
        parse_chat_request(raw)
    assert info.value.param == param
