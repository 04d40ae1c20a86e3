"""chat.completion -> Messages reply (content blocks, stop reasons, usage) and upstream errors ->
Messages error bodies. Chat payloads follow the OpenAI reference (and are checked against the
openai SDK's models); the expected messages follow Anthropic's `Message`."""

from __future__ import annotations

from typing import Any

import pytest
from openai.types.chat import ChatCompletion

from gateway.dialects.messages_chat import Untranslatable, error_to_anthropic, reply_from_chat

MODEL = "claude-sonnet-4-5"
USAGE = {
    "prompt_tokens": 19,
    "completion_tokens": 10,
    "total_tokens": 29,
    "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
    "completion_tokens_details": {
        "reasoning_tokens": 0,
        "audio_tokens": 0,
        "accepted_prediction_tokens": 0,
        "rejected_prediction_tokens": 0,
    },
}
ANTHROPIC_USAGE = {
    "input_tokens": 19,
    "cache_creation_input_tokens": 0,
    "cache_read_input_tokens": 0,
    "output_tokens": 10,
}


def completion(
    message: dict[str, Any], finish_reason: str = "stop", **choice: Any
) -> dict[str, Any]:
    return {
        "id": "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT",
        "object": "chat.completion",
        "created": 1741569952,
        "model": "gpt-4.1-2025-04-14",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "refusal": None, "annotations": [], **message},
                "logprobs": None,
                "finish_reason": finish_reason,
                **choice,
            }
        ],
        "usage": USAGE,
        "service_tier": "default",
    }


def message(content: list[dict[str, Any]], stop_reason: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": "msg_chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT",
        "type": "message",
        "role": "assistant",
        "model": MODEL,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": ANTHROPIC_USAGE,
        **fields,
    }


WEATHER_CALL = {
    "id": "call_abc123",
    "type": "function",
    "function": {"name": "get_current_weather", "arguments": '{\n"location": "Boston, MA"\n}'},
}
WEATHER_USE = {
    "type": "tool_use",
    "id": "call_abc123",
    "name": "get_current_weather",
    "input": {"location": "Boston, MA"},
}

REPLIES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    (
        "text",
        completion({"content": "Hello! How can I assist you today?"}),
        message([{"type": "text", "text": "Hello! How can I assist you today?"}], "end_turn"),
    ),
    (
        "tool call only (content null)",
        completion({"content": None, "tool_calls": [WEATHER_CALL]}, "tool_calls"),
        message([WEATHER_USE], "tool_use"),
    ),
    (
        "text then two tool calls, one without arguments",
        completion(
            {
                "content": "Let me check.",
                "tool_calls": [
                    WEATHER_CALL,
                    {
                        "id": "call_def456",
                        "type": "function",
                        "function": {"name": "get_time", "arguments": ""},
                    },
                ],
            },
            "tool_calls",
        ),
        message(
            [
                {"type": "text", "text": "Let me check."},
                WEATHER_USE,
                {"type": "tool_use", "id": "call_def456", "name": "get_time", "input": {}},
            ],
            "tool_use",
        ),
    ),
    (
        "tool calls with finish_reason stop (some servers) still tool_use",
        completion({"content": None, "tool_calls": [WEATHER_CALL]}, "stop"),
        message([WEATHER_USE], "tool_use"),
    ),
    (
        "reasoning_content -> thinking block first",
        completion(
            {"content": "9.11 < 9.9", "reasoning_content": "Compare the decimals: .11 vs .90."}
        ),
        message(
            [
                {
                    "type": "thinking",
                    "thinking": "Compare the decimals: .11 vs .90.",
                    "signature": "",
                },
                {"type": "text", "text": "9.11 < 9.9"},
            ],
            "end_turn",
        ),
    ),
    (
        "reasoning (OpenRouter, newer vLLM) -> thinking, before tool_use too",
        completion(
            {"content": None, "reasoning": "I need the weather.", "tool_calls": [WEATHER_CALL]},
            "tool_calls",
        ),
        message(
            [{"type": "thinking", "thinking": "I need the weather.", "signature": ""}, WEATHER_USE],
            "tool_use",
        ),
    ),
    (
        "empty content: no blocks",
        completion({"content": ""}),
        message([], "end_turn"),
    ),
    (
        "length -> max_tokens",
        completion({"content": "The answer is"}, "length"),
        message([{"type": "text", "text": "The answer is"}], "max_tokens"),
    ),
    (
        "length with a half-made tool call stays max_tokens",
        completion({"content": None, "tool_calls": [WEATHER_CALL]}, "length"),
        message([WEATHER_USE], "max_tokens"),
    ),
    (
        "function_call (deprecated) -> tool_use",
        completion({"content": None, "tool_calls": [WEATHER_CALL]}, "function_call"),
        message([WEATHER_USE], "tool_use"),
    ),
    (
        "content_filter -> refusal",
        completion({"content": ""}, "content_filter"),
        message([], "refusal"),
    ),
    (
        "refusal message -> text, refusal",
        completion({"content": None, "refusal": "I'm sorry, I can't help with that."}),
        message([{"type": "text", "text": "I'm sorry, I can't help with that."}], "refusal"),
    ),
    (
        "vLLM stop_reason string -> stop_sequence",
        completion({"content": "Step 1"}, stop_reason="###"),
        message([{"type": "text", "text": "Step 1"}], "stop_sequence", stop_sequence="###"),
    ),
    (
        "vLLM stop_reason token id (EOS) -> end_turn",
        completion({"content": "Done."}, stop_reason=151645),
        message([{"type": "text", "text": "Done."}], "end_turn"),
    ),
    (
        "SGLang matched_stop string -> stop_sequence",
        completion({"content": "a"}, matched_stop="\n\nHuman:"),
        message([{"type": "text", "text": "a"}], "stop_sequence", stop_sequence="\n\nHuman:"),
    ),
]


@pytest.mark.parametrize(
    ("chat", "expected"), [r[1:] for r in REPLIES], ids=[r[0] for r in REPLIES]
)
def test_reply_maps_exactly(chat: dict[str, Any], expected: dict[str, Any]) -> None:
    ChatCompletion.model_validate(chat)  # the payload is a real chat.completion
    reply = reply_from_chat(chat, model=MODEL)
    assert reply == expected
    assert list(reply) == [
        "id",
        "type",
        "role",
        "model",
        "content",
        "stop_reason",
        "stop_sequence",
        "usage",
    ]


USAGES: list[tuple[str, Any, dict[str, Any]]] = [
    (
        "cache reads counted apart from input",
        {
            "prompt_tokens": 2006,
            "completion_tokens": 300,
            "total_tokens": 2306,
            "prompt_tokens_details": {"cached_tokens": 1920, "audio_tokens": 0},
        },
        {
            "input_tokens": 86,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 1920,
            "output_tokens": 300,
        },
    ),
    (
        "cache writes too (prompt_tokens_details.cache_write_tokens)",
        {
            "prompt_tokens": 5000,
            "completion_tokens": 12,
            "total_tokens": 5012,
            "prompt_tokens_details": {"cached_tokens": 1000, "cache_write_tokens": 3500},
        },
        {
            "input_tokens": 500,
            "cache_creation_input_tokens": 3500,
            "cache_read_input_tokens": 1000,
            "output_tokens": 12,
        },
    ),
    (
        "no details (many servers)",
        {"prompt_tokens": 42, "completion_tokens": 7, "total_tokens": 49},
        {
            "input_tokens": 42,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "output_tokens": 7,
        },
    ),
    (
        "null details",
        {
            "prompt_tokens": 42,
            "completion_tokens": 7,
            "total_tokens": 49,
            "prompt_tokens_details": None,
            "completion_tokens_details": None,
        },
        {
            "input_tokens": 42,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "output_tokens": 7,
        },
    ),
    (
        "reasoning tokens -> output_tokens_details.thinking_tokens",
        {
            "prompt_tokens": 75,
            "completion_tokens": 1186,
            "total_tokens": 1261,
            "completion_tokens_details": {"reasoning_tokens": 1024},
        },
        {
            "input_tokens": 75,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "output_tokens": 1186,
            "output_tokens_details": {"thinking_tokens": 1024},
        },
    ),
    (
        "absent usage: zeros",
        None,
        {
            "input_tokens": 0,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "output_tokens": 0,
        },
    ),
    (
        "nonsense counts read as zero",
        {"prompt_tokens": "many", "completion_tokens": -3, "total_tokens": True},
        {
            "input_tokens": 0,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "output_tokens": 0,
        },
    ),
]


@pytest.mark.parametrize(("usage", "expected"), [u[1:] for u in USAGES], ids=[u[0] for u in USAGES])
def test_usage(usage: Any, expected: dict[str, Any]) -> None:
    chat = completion({"content": "ok"})
    chat["usage"] = usage
    assert reply_from_chat(chat, model=MODEL)["usage"] == expected


def test_model_is_the_clients_and_id_prefixed() -> None:
    reply = reply_from_chat(completion({"content": "hi"}), model="claude-opus-4-1")
    assert reply["model"] == "claude-opus-4-1"
    assert reply["id"] == "msg_chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT"


BAD_REPLIES: list[tuple[str, dict[str, Any], str]] = [
    ("no choices", {**completion({"content": "x"}), "choices": []}, "choices"),
    (
        "arguments not JSON",
        completion(
            {
                "content": None,
                "tool_calls": [
                    {**WEATHER_CALL, "function": {"name": "f", "arguments": '{"location": "Bos'}}
                ],
            },
            "tool_calls",
        ),
        "choices[0].message.tool_calls[0].function.arguments",
    ),
    (
        "arguments a JSON array",
        completion(
            {
                "content": None,
                "tool_calls": [
                    WEATHER_CALL,
                    {**WEATHER_CALL, "function": {"name": "f", "arguments": "[1]"}},
                ],
            },
            "tool_calls",
        ),
        "choices[0].message.tool_calls[1].function.arguments",
    ),
    (
        "custom tool call (no function)",
        completion(
            {
                "content": None,
                "tool_calls": [
                    {"id": "c", "type": "custom", "custom": {"name": "f", "input": "x"}}
                ],
            },
            "tool_calls",
        ),
        "choices[0].message.tool_calls[0].function",
    ),
]


@pytest.mark.parametrize(
    ("chat", "param"), [b[1:] for b in BAD_REPLIES], ids=[b[0] for b in BAD_REPLIES]
)
def test_bad_reply_names_the_field(chat: dict[str, Any], param: str) -> None:
    with pytest.raises(Untranslatable) as info:
        reply_from_chat(chat, model=MODEL)
    assert info.value.param == param


ERRORS = [
    (400, "invalid_request_error"),
    (401, "authentication_error"),
    (402, "billing_error"),
    (403, "permission_error"),
    (404, "not_found_error"),
    (409, "invalid_request_error"),
    (413, "request_too_large"),
    (422, "invalid_request_error"),
    (429, "rate_limit_error"),
    (500, "api_error"),
    (502, "api_error"),
    (503, "api_error"),
    (504, "timeout_error"),
    (529, "overloaded_error"),
]


@pytest.mark.parametrize(("status", "kind"), ERRORS)
def test_error_shape(status: int, kind: str) -> None:
    assert error_to_anthropic(status, "Upstream said no.") == {
        "type": "error",
        "error": {"type": kind, "message": "Upstream said no."},
    }
