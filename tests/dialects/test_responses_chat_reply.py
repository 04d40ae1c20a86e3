"""chat.completion -> Response: text, function calls, reasoning, refusals, length and
content_filter as incomplete, usage with cached and reasoning tokens; every reply validated
by the openai SDK's own Response model (strictly, as pydantic would)."""

from __future__ import annotations

from typing import Any

import pytest
from openai.types.chat import ChatCompletion
from openai.types.responses import Response
from pydantic import BaseModel

from gateway.dialects.responses_chat import Untranslatable, reply_from_chat

MODEL = "gpt-4.1"
RESP_ID = "resp_67ccd2bed1ec8190b14f964abc054267"
BASE = "67ccd2bed1ec8190b14f964abc054267"
CREATED = 1741476542
USAGE = {
    "prompt_tokens": 472,
    "completion_tokens": 89,
    "total_tokens": 561,
    "prompt_tokens_details": {"cached_tokens": 384, "audio_tokens": 0},
    "completion_tokens_details": {"reasoning_tokens": 64, "audio_tokens": 0},
}
RESPONSES_USAGE = {
    "input_tokens": 472,
    "input_tokens_details": {"cached_tokens": 384, "cache_write_tokens": 0},
    "output_tokens": 89,
    "output_tokens_details": {"reasoning_tokens": 64},
    "total_tokens": 561,
}
CALL = {
    "id": "call_DdmO9pD3xa9XTPNJ32zg2hcA",
    "type": "function",
    "function": {"name": "get_weather", "arguments": '{"location":"Paris, France"}'},
}


def completion(
    message: dict[str, Any], finish: str = "stop", usage: dict[str, Any] | None = USAGE
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG",
        "object": "chat.completion",
        "created": 1741570283,
        "model": "gpt-4o-2024-08-06",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": None, "refusal": None, **message},
                "logprobs": None,
                "finish_reason": finish,
            }
        ],
        "system_fingerprint": "fp_fc9f1d7035",
    }
    if usage is not None:
        out["usage"] = usage
    if "reasoning_content" not in message and "reasoning" not in message:
        ChatCompletion.model_validate(out)  # the fixture is a real completion
    return out


def no_extras(value: Any, where: str = "") -> None:
    """Every field is one the SDK's models declare (pydantic keeps unknown ones as extras)."""
    if isinstance(value, BaseModel):
        assert not value.model_extra, f"{where}: unknown fields {value.model_extra}"
        for name in type(value).model_fields:
            no_extras(getattr(value, name), f"{where}.{name}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            no_extras(v, f"{where}[{i}]")


def reply(chat: dict[str, Any]) -> dict[str, Any]:
    out = reply_from_chat(chat, model=MODEL, response_id=RESP_ID, created_at=CREATED)
    no_extras(Response.model_validate(out, strict=True))
    return out


def test_text_reply_exact() -> None:
    out = reply(completion({"content": "The weather in Paris is sunny."}))
    assert out == {
        "id": RESP_ID,
        "object": "response",
        "created_at": CREATED,
        "status": "completed",
        "background": False,
        "error": None,
        "incomplete_details": None,
        "instructions": None,
        "metadata": {},
        "model": MODEL,
        "output": [
            {
                "type": "message",
                "id": f"msg_{BASE}_0",
                "status": "completed",
                "role": "assistant",
                "content": [
                    {
                        "type": "output_text",
                        "text": "The weather in Paris is sunny.",
                        "annotations": [],
                    }
                ],
            }
        ],
        "parallel_tool_calls": True,
        "previous_response_id": None,
        "temperature": None,
        "tool_choice": "auto",
        "tools": [],
        "top_p": None,
        "truncation": "disabled",
        "usage": RESPONSES_USAGE,
    }
    assert Response.model_validate(out).output_text == "The weather in Paris is sunny."


def test_function_calls() -> None:
    second = {
        "id": "call_2",
        "type": "function",
        "function": {"name": "get_time", "arguments": '{"tz":"CET"}'},
    }
    out = reply(
        completion({"content": "Let me check.", "tool_calls": [CALL, second]}, "tool_calls")
    )
    assert out["status"] == "completed"
    assert out["output"][1:] == [
        {
            "type": "function_call",
            "id": f"fc_{BASE}_1",
            "call_id": "call_DdmO9pD3xa9XTPNJ32zg2hcA",
            "name": "get_weather",
            "arguments": '{"location":"Paris, France"}',
            "status": "completed",
        },
        {
            "type": "function_call",
            "id": f"fc_{BASE}_2",
            "call_id": "call_2",
            "name": "get_time",
            "arguments": '{"tz":"CET"}',
            "status": "completed",
        },
    ]
    assert out["output"][0]["content"][0]["text"] == "Let me check."


def test_function_call_only_no_message_item() -> None:
    out = reply(completion({"tool_calls": [CALL]}, "tool_calls"))
    assert [item["type"] for item in out["output"]] == ["function_call"]
    assert out["output"][0]["id"] == f"fc_{BASE}_0"


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [("", "{}"), (None, "{}"), ({"a": 1}, '{"a":1}')],
    ids=["empty", "missing", "object"],
)
def test_function_call_arguments_normalised(arguments: Any, expected: str) -> None:
    call = {"id": "c", "type": "function", "function": {"name": "f", "arguments": arguments}}
    chat = completion({}, "tool_calls")
    chat["choices"][0]["message"]["tool_calls"] = [call]
    assert reply(chat)["output"][0]["arguments"] == expected


def test_function_call_without_id_gets_one() -> None:
    chat = completion({}, "tool_calls")
    chat["choices"][0]["message"]["tool_calls"] = [{"function": {"name": "f", "arguments": "{}"}}]
    assert reply(chat)["output"][0]["call_id"] == f"call_fc_{BASE}_0"


@pytest.mark.parametrize("key", ["reasoning_content", "reasoning"])
def test_reasoning_as_summary(key: str) -> None:
    out = reply(completion({key: "The user wants weather.", "content": "Sunny."}))
    assert out["output"] == [
        {
            "type": "reasoning",
            "id": f"rs_{BASE}_0",
            "summary": [{"type": "summary_text", "text": "The user wants weather."}],
        },
        {
            "type": "message",
            "id": f"msg_{BASE}_1",
            "status": "completed",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "Sunny.", "annotations": []}],
        },
    ]


def test_refusal_part() -> None:
    out = reply(completion({"refusal": "I'm sorry, I can't help with that."}))
    assert out["output"][0]["content"] == [
        {"type": "refusal", "refusal": "I'm sorry, I can't help with that."}
    ]
    assert out["status"] == "completed"


def test_length_is_incomplete() -> None:
    out = reply(completion({"content": "The weather in Par"}, "length"))
    assert out["status"] == "incomplete"
    assert out["incomplete_details"] == {"reason": "max_output_tokens"}
    assert out["output"][0]["status"] == "incomplete"


def test_length_during_a_call_marks_the_call() -> None:
    chat = completion({"content": "Checking.", "tool_calls": [CALL]}, "length")
    out = reply(chat)
    assert [item["status"] for item in out["output"]] == ["completed", "incomplete"]


def test_length_during_reasoning_marks_the_reasoning() -> None:
    out = reply(completion({"reasoning_content": "Hmm"}, "length"))
    assert out["output"][0]["status"] == "incomplete"


def test_content_filter_is_incomplete() -> None:
    out = reply(completion({"content": "Partial"}, "content_filter"))
    assert out["status"] == "incomplete"
    assert out["incomplete_details"] == {"reason": "content_filter"}


def test_empty_reply() -> None:
    out = reply(completion({"content": ""}))
    assert out["output"] == []
    assert out["status"] == "completed"


def test_text_parts_joined() -> None:
    chat = completion({})
    chat["choices"][0]["message"]["content"] = [
        {"type": "text", "text": "Hello, "},
        {"type": "text", "text": "world"},
    ]
    assert Response.model_validate(reply(chat)).output_text == "Hello, world"


def test_usage_cache_writes_and_no_details() -> None:
    usage = {
        "prompt_tokens": 100,
        "completion_tokens": 7,
        "total_tokens": 107,
        "prompt_tokens_details": {"cached_tokens": 20, "cache_write_tokens": 30},
    }
    assert reply(completion({"content": "x"}, usage=usage))["usage"] == {
        "input_tokens": 100,
        "input_tokens_details": {"cached_tokens": 20, "cache_write_tokens": 30},
        "output_tokens": 7,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 107,
    }
    plain = {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}
    assert reply(completion({"content": "x"}, usage=plain))["usage"]["input_tokens"] == 5


def test_no_usage_is_null() -> None:
    assert reply(completion({"content": "x"}, usage=None))["usage"] is None


@pytest.mark.parametrize(
    ("chat", "param"),
    [
        ({"choices": []}, "choices"),
        ({}, "choices"),
        ({"choices": ["x"]}, "choices"),
        (
            {"choices": [{"message": {"tool_calls": [{"id": "c"}]}}]},
            "choices[0].message.tool_calls[0].function",
        ),
        (
            {"choices": [{"message": {"tool_calls": [{"id": "c", "function": {}}]}}]},
            "choices[0].message.tool_calls[0].function.name",
        ),
    ],
    ids=["no choices", "missing choices", "choice not an object", "no function", "no name"],
)
def test_bad_upstream_reply(chat: dict[str, Any], param: str) -> None:
    with pytest.raises(Untranslatable) as info:
        reply_from_chat(chat, model=MODEL, response_id=RESP_ID, created_at=CREATED)
    assert info.value.param == param
