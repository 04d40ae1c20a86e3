"""Responses request -> chat request: every mapping asserted exactly (inputs checked against the
openai SDK's Responses input types, outputs against its chat message types), and every stateful
or built-in feature refused naming its field."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from openai.types.chat import ChatCompletionMessageParam
from openai.types.responses import ResponseInputParam
from pydantic import TypeAdapter

from gateway.dialects import messages_chat
from gateway.dialects.responses_chat import Untranslatable, reply_from_chat, request_to_chat

UP = "qwen3-coder-30b"
INPUT = TypeAdapter(ResponseInputParam)
MESSAGES = TypeAdapter(list[ChatCompletionMessageParam])
WEATHER_SCHEMA = {
    "type": "object",
    "properties": {"location": {"type": "string"}, "unit": {"type": "string"}},
    "required": ["location", "unit"],
    "additionalProperties": False,
}
WEATHER_TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "Get the current weather in a given location",
    "parameters": WEATHER_SCHEMA,
    "strict": True,
}
WEATHER_FN = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a given location",
        "parameters": WEATHER_SCHEMA,
        "strict": True,
    },
}
ASK = "What is the weather like in Paris today?"
CALL = {
    "type": "function_call",
    "id": "fc_12345xyz",
    "call_id": "call_12345xyz",
    "name": "get_weather",
    "arguments": '{"location":"Paris, France","unit":"celsius"}',
    "status": "completed",
}
CHAT_CALL = {
    "id": "call_12345xyz",
    "type": "function",
    "function": {
        "name": "get_weather",
        "arguments": '{"location":"Paris, France","unit":"celsius"}',
    },
}
CALL_2 = {
    **CALL,
    "id": "fc_67890abc",
    "call_id": "call_67890abc",
    "arguments": '{"location":"Bogota"}',
}
CHAT_CALL_2 = {
    "id": "call_67890abc",
    "type": "function",
    "function": {"name": "get_weather", "arguments": '{"location":"Bogota"}'},
}
OUTPUT = {"type": "function_call_output", "call_id": "call_12345xyz", "output": "15 degrees"}
IMAGE_URL = "https://upload.wikimedia.org/wikipedia/commons/thumb/d/dd/Gfp-wisconsin.jpg"


def body(**fields: Any) -> dict[str, Any]:
    out = {"model": "gpt-4.1", "input": ASK, **fields}
    if isinstance(out["input"], list):
        INPUT.validate_python(out["input"])  # the fixture is what the SDK would send
    return out


def chat(*messages: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"model": UP, "messages": list(messages) or [{"role": "user", "content": ASK}], **fields}


def msg(role: str, content: Any) -> dict[str, Any]:
    return {"role": role, "content": content}


CASES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("string input: one user message", body(), chat()),
    (
        "instructions first as a system message",
        body(instructions="Talk like a pirate."),
        chat(msg("system", "Talk like a pirate."), msg("user", ASK)),
    ),
    (
        "easy messages of every role; developer as system",
        body(
            input=[
                {"role": "developer", "content": "Be brief."},
                {"role": "system", "content": "You are a meteorologist."},
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello!"},
                {"role": "user", "content": ASK},
            ]
        ),
        chat(
            msg("system", "Be brief."),
            msg("system", "You are a meteorologist."),
            msg("user", "Hi"),
            msg("assistant", "Hello!"),
            msg("user", ASK),
        ),
    ),
    (
        "typed message with one input_text part collapses to a string",
        body(
            input=[
                {
                    "type": "message",
                    "role": "user",
                    "content": [{"type": "input_text", "text": ASK}],
                }
            ]
        ),
        chat(),
    ),
    (
        "text and image parts (url, data url; detail kept, `original` dropped)",
        body(
            input=[
                {
                    "role": "user",
                    "content": [
                        {"type": "input_text", "text": "what's in these images?"},
                        {"type": "input_image", "image_url": IMAGE_URL, "detail": "low"},
                        {
                            "type": "input_image",
                            "image_url": "data:image/png;base64,iVBORw0KGgo=",
                            "detail": "original",
                        },
                    ],
                }
            ]
        ),
        chat(
            msg(
                "user",
                [
                    {"type": "text", "text": "what's in these images?"},
                    {"type": "image_url", "image_url": {"url": IMAGE_URL, "detail": "low"}},
                    {
                        "type": "image_url",
                        "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="},
                    },
                ],
            )
        ),
    ),
    (
        "system parts joined by newlines; output_text accepted as text",
        body(
            input=[
                {
                    "type": "message",
                    "role": "developer",
                    "content": [
                        {"type": "input_text", "text": "Rule one."},
                        {"type": "input_text", "text": "Rule two."},
                    ],
                },
                {"role": "user", "content": ASK},
            ]
        ),
        chat(msg("system", "Rule one.\nRule two."), msg("user", ASK)),
    ),
    (
        "an output message replayed as an assistant message (refusal kept as text)",
        body(
            input=[
                {"role": "user", "content": "Hi"},
                {
                    "type": "message",
                    "id": "msg_abc",
                    "role": "assistant",
                    "status": "completed",
                    "content": [{"type": "output_text", "text": "Hello!", "annotations": []}],
                },
                {
                    "type": "message",
                    "id": "msg_def",
                    "role": "assistant",
                    "status": "completed",
                    "content": [
                        {"type": "output_text", "text": "Part one.", "annotations": []},
                        {"type": "refusal", "refusal": "I can't help with that."},
                    ],
                },
                {"role": "user", "content": ASK},
            ]
        ),
        chat(
            msg("user", "Hi"),
            msg("assistant", "Hello!"),
            msg(
                "assistant",
                [
                    {"type": "text", "text": "Part one."},
                    {"type": "text", "text": "I can't help with that."},
                ],
            ),
            msg("user", ASK),
        ),
    ),
    (
        "a function call and its output: assistant tool_calls, then a tool message",
        body(input=[{"role": "user", "content": ASK}, CALL, OUTPUT]),
        chat(
            msg("user", ASK),
            {"role": "assistant", "content": None, "tool_calls": [CHAT_CALL]},
            {"role": "tool", "tool_call_id": "call_12345xyz", "content": "15 degrees"},
        ),
    ),
    (
        "consecutive function calls merged into one assistant message",
        body(
            input=[
                {"role": "user", "content": ASK},
                CALL,
                CALL_2,
                OUTPUT,
                {
                    "type": "function_call_output",
                    "call_id": "call_67890abc",
                    "output": "20 degrees",
                },
            ]
        ),
        chat(
            msg("user", ASK),
            {"role": "assistant", "content": None, "tool_calls": [CHAT_CALL, CHAT_CALL_2]},
            {"role": "tool", "tool_call_id": "call_12345xyz", "content": "15 degrees"},
            {"role": "tool", "tool_call_id": "call_67890abc", "content": "20 degrees"},
        ),
    ),
    (
        "a call after the assistant's text joins that message; reasoning in between dropped",
        body(
            input=[
                {"role": "user", "content": ASK},
                {
                    "type": "reasoning",
                    "id": "rs_1",
                    "summary": [{"type": "summary_text", "text": "Check."}],
                },
                {"role": "assistant", "content": "Let me check."},
                {"type": "reasoning", "id": "rs_2", "summary": [], "encrypted_content": None},
                CALL,
                OUTPUT,
            ]
        ),
        chat(
            msg("user", ASK),
            {"role": "assistant", "content": "Let me check.", "tool_calls": [CHAT_CALL]},
            {"role": "tool", "tool_call_id": "call_12345xyz", "content": "15 degrees"},
        ),
    ),
    (
        "calls separated by their outputs stay separate turns",
        body(input=[CALL, OUTPUT, CALL_2]),
        chat(
            {"role": "assistant", "content": None, "tool_calls": [CHAT_CALL]},
            {"role": "tool", "tool_call_id": "call_12345xyz", "content": "15 degrees"},
            {"role": "assistant", "content": None, "tool_calls": [CHAT_CALL_2]},
        ),
    ),
    (
        "function output as text parts joined by newlines",
        body(
            input=[
                CALL,
                {
                    "type": "function_call_output",
                    "call_id": "call_12345xyz",
                    "output": [
                        {"type": "input_text", "text": "15 degrees"},
                        {"type": "input_text", "text": "sunny"},
                    ],
                },
            ]
        ),
        chat(
            {"role": "assistant", "content": None, "tool_calls": [CHAT_CALL]},
            {"role": "tool", "tool_call_id": "call_12345xyz", "content": "15 degrees\nsunny"},
        ),
    ),
    (
        "function tools, tool_choice auto, parallel_tool_calls",
        body(tools=[WEATHER_TOOL], tool_choice="auto", parallel_tool_calls=False),
        chat(tools=[WEATHER_FN], tool_choice="auto", parallel_tool_calls=False),
    ),
    (
        "tool without description, parameters null, strict null",
        body(tools=[{"type": "function", "name": "now", "parameters": None, "strict": None}]),
        chat(tools=[{"type": "function", "function": {"name": "now"}}]),
    ),
    (
        "tool_choice required",
        body(tools=[WEATHER_TOOL], tool_choice="required"),
        chat(tools=[WEATHER_FN], tool_choice="required"),
    ),
    (
        "tool_choice none",
        body(tools=[WEATHER_TOOL], tool_choice="none"),
        chat(tools=[WEATHER_FN], tool_choice="none"),
    ),
    (
        "tool_choice a named function",
        body(tools=[WEATHER_TOOL], tool_choice={"type": "function", "name": "get_weather"}),
        chat(
            tools=[WEATHER_FN],
            tool_choice={"type": "function", "function": {"name": "get_weather"}},
        ),
    ),
    (
        "tool_choice and parallel_tool_calls without tools dropped (chat rejects them)",
        body(tools=[], tool_choice="none", parallel_tool_calls=True),
        chat(),
    ),
    (
        "sampling and length: max_output_tokens as max_completion_tokens",
        body(max_output_tokens=1024, temperature=0.2, top_p=0.9),
        chat(max_completion_tokens=1024, temperature=0.2, top_p=0.9),
    ),
    (
        "text.format json_schema",
        body(
            text={
                "format": {
                    "type": "json_schema",
                    "name": "weather",
                    "description": "A forecast",
                    "schema": WEATHER_SCHEMA,
                    "strict": True,
                }
            }
        ),
        chat(
            response_format={
                "type": "json_schema",
                "json_schema": {
                    "name": "weather",
                    "description": "A forecast",
                    "schema": WEATHER_SCHEMA,
                    "strict": True,
                },
            }
        ),
    ),
    (
        "text.format json_schema without strict",
        body(text={"format": {"type": "json_schema", "name": "w", "schema": WEATHER_SCHEMA}}),
        chat(
            response_format={
                "type": "json_schema",
                "json_schema": {"name": "w", "schema": WEATHER_SCHEMA},
            }
        ),
    ),
    (
        "text.format json_object",
        body(text={"format": {"type": "json_object"}}),
        chat(response_format={"type": "json_object"}),
    ),
    (
        "text.format text and verbosity dropped",
        body(text={"format": {"type": "text"}, "verbosity": "low"}),
        chat(),
    ),
    (
        "reasoning.effort as reasoning_effort; summary dropped",
        body(reasoning={"effort": "high", "summary": "auto"}),
        chat(reasoning_effort="high"),
    ),
    ("reasoning without effort", body(reasoning={"summary": "detailed"}), chat()),
    (
        "stream with usage",
        body(stream=True),
        chat(stream=True, stream_options={"include_usage": True}),
    ),
    ("stream false", body(stream=False), chat()),
    ("user", body(user="user-1234"), chat(user="user-1234")),
    ("safety_identifier as user", body(safety_identifier="hash-5678"), chat(user="hash-5678")),
    (
        "serving knobs and bookkeeping dropped",
        body(
            store=True,
            metadata={"k": "v"},
            include=["reasoning.encrypted_content", "message.output_text.logprobs"],
            service_tier="flex",
            truncation="auto",
            prompt_cache_key="k",
            prompt_cache_retention="24h",
            top_logprobs=2,
            max_tool_calls=3,
            background=False,
            previous_response_id=None,
            conversation=None,
            stream_options={"include_obfuscation": False},
        ),
        chat(),
    ),
]


@pytest.mark.parametrize(
    ("responses", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_request_maps_exactly(responses: dict[str, Any], expected: dict[str, Any]) -> None:
    out = request_to_chat(responses, upstream_model=UP)
    assert out == expected
    MESSAGES.validate_python(out["messages"])  # what the SDK would send to chat


def test_untranslatable_is_the_messages_one() -> None:
    assert Untranslatable is messages_chat.Untranslatable


def test_input_not_mutated() -> None:
    responses = body(
        input=[{"role": "user", "content": ASK}, CALL, CALL_2, OUTPUT], tools=[WEATHER_TOOL]
    )
    before = orjson.dumps(responses)
    request_to_chat(responses, upstream_model=UP)
    assert orjson.dumps(responses) == before


def bad(**fields: Any) -> dict[str, Any]:
    """A request the SDK's types may not allow: unchecked."""
    return {"model": "gpt-4.1", "input": ASK, **fields}


def item(**fields: Any) -> dict[str, Any]:
    return {"model": "gpt-4.1", "input": [fields]}


def user_parts(*parts: dict[str, Any]) -> dict[str, Any]:
    return item(role="user", content=list(parts))


BAD: list[tuple[str, dict[str, Any], str]] = [
    ("previous_response_id", bad(previous_response_id="resp_123"), "previous_response_id"),
    ("conversation id", bad(conversation="conv_123"), "conversation"),
    ("conversation object", bad(conversation={"id": "conv_123"}), "conversation"),
    ("background", bad(background=True), "background"),
    ("prompt template", bad(prompt={"id": "pmpt_123", "version": "2"}), "prompt"),
    (
        "context_management",
        bad(context_management=[{"type": "compaction", "compact_threshold": 1000}]),
        "context_management",
    ),
    ("web_search", bad(tools=[{"type": "web_search"}]), "tools[0]"),
    ("web_search_preview", bad(tools=[WEATHER_TOOL, {"type": "web_search_preview"}]), "tools[1]"),
    (
        "file_search",
        bad(tools=[{"type": "file_search", "vector_store_ids": ["vs_1"]}]),
        "tools[0]",
    ),
    (
        "code_interpreter",
        bad(tools=[{"type": "code_interpreter", "container": {"type": "auto"}}]),
        "tools[0]",
    ),
    (
        "computer_use_preview",
        bad(
            tools=[
                {
                    "type": "computer_use_preview",
                    "display_width": 1024,
                    "display_height": 768,
                    "environment": "browser",
                }
            ]
        ),
        "tools[0]",
    ),
    ("image_generation", bad(tools=[{"type": "image_generation"}]), "tools[0]"),
    (
        "mcp",
        bad(tools=[{"type": "mcp", "server_label": "x", "server_url": "https://x"}]),
        "tools[0]",
    ),
    ("local_shell", bad(tools=[{"type": "local_shell"}]), "tools[0]"),
    ("custom tool", bad(tools=[{"type": "custom", "name": "grammar"}]), "tools[0]"),
    ("tool without name", bad(tools=[{"type": "function", "parameters": {}}]), "tools[0].name"),
    ("tools not an array", bad(tools={"type": "function"}), "tools"),
    (
        "tool_choice hosted",
        bad(tools=[WEATHER_TOOL], tool_choice={"type": "file_search"}),
        "tool_choice",
    ),
    (
        "tool_choice allowed_tools",
        bad(
            tools=[WEATHER_TOOL],
            tool_choice={
                "type": "allowed_tools",
                "mode": "auto",
                "tools": [{"type": "function", "name": "get_weather"}],
            },
        ),
        "tool_choice",
    ),
    (
        "tool_choice unnamed function",
        bad(tools=[WEATHER_TOOL], tool_choice={"type": "function"}),
        "tool_choice.name",
    ),
    ("tool_choice unknown string", bad(tools=[WEATHER_TOOL], tool_choice="any"), "tool_choice"),
    ("text.format unknown", bad(text={"format": {"type": "grammar"}}), "text.format"),
    (
        "instructions not a string",
        bad(instructions=[{"role": "system", "content": "x"}]),
        "instructions",
    ),
    ("input not a string or array", bad(input={"role": "user"}), "input"),
    ("input item not an object", bad(input=["hi"]), "input[0]"),
    ("item_reference", item(type="item_reference", id="msg_123"), "input[0]"),
    ("item reference without a type", item(id="msg_123"), "input[0]"),
    (
        "reasoning with encrypted_content",
        item(type="reasoning", id="rs_1", summary=[], encrypted_content="gAAAA..."),
        "input[0].encrypted_content",
    ),
    ("computer_call item", item(type="computer_call", id="cu_1", call_id="c"), "input[0].type"),
    (
        "web_search_call item",
        item(type="web_search_call", id="ws_1", status="completed"),
        "input[0].type",
    ),
    (
        "custom_tool_call item",
        item(type="custom_tool_call", call_id="c", name="n", input="x"),
        "input[0].type",
    ),
    (
        "mcp_call item",
        item(type="mcp_call", id="mcp_1", server_label="x", name="n"),
        "input[0].type",
    ),
    ("message with a bad role", item(role="tool", content="x"), "input[0].role"),
    (
        "input_image by file_id",
        user_parts({"type": "input_image", "file_id": "file-123", "detail": "auto"}),
        "input[0].content[0].file_id",
    ),
    (
        "input_image without url",
        user_parts({"type": "input_image", "detail": "auto"}),
        "input[0].content[0].image_url",
    ),
    (
        "input_file",
        user_parts({"type": "input_file", "file_id": "file-123"}),
        "input[0].content[0].type",
    ),
    (
        "input_audio",
        user_parts({"type": "input_audio", "input_audio": {}}),
        "input[0].content[0].type",
    ),
    ("text part without text", user_parts({"type": "input_text"}), "input[0].content[0].text"),
    ("content not parts", item(role="user", content={"type": "input_text"}), "input[0].content"),
    (
        "image in a system message",
        item(role="system", content=[{"type": "input_image", "image_url": IMAGE_URL}]),
        "input[0].content[0].type",
    ),
    (
        "refusal outside assistant",
        user_parts({"type": "refusal", "refusal": "no"}),
        "input[0].content[0].type",
    ),
    (
        "function_call without call_id",
        item(type="function_call", name="n", arguments="{}"),
        "input[0]",
    ),
    (
        "function_call_output without call_id",
        item(type="function_call_output", output="x"),
        "input[0].call_id",
    ),
    (
        "image in a function output",
        item(
            type="function_call_output",
            call_id="c",
            output=[{"type": "input_image", "image_url": IMAGE_URL}],
        ),
        "input[0].output[0].type",
    ),
    (
        "function output neither string nor parts",
        item(type="function_call_output", call_id="c", output=None),
        "input[0].output",
    ),
]


@pytest.mark.parametrize(("responses", "param"), [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_untranslatable_names_the_field(responses: dict[str, Any], param: str) -> None:
    with pytest.raises(Untranslatable) as info:
        request_to_chat(responses, upstream_model=UP)
    assert info.value.param == param
    assert info.value.message == str(info.value)
    assert isinstance(info.value, ValueError)


def test_a_reply_replayed_as_input_translates() -> None:
    """Stateless clients send the previous output back as input items: what reply_from_chat
    produced (reasoning without encrypted content, message, function calls) must translate."""
    upstream = {
        "choices": [
            {
                "message": {
                    "role": "assistant",
                    "reasoning_content": "Need the weather.",
                    "content": "Let me check.",
                    "tool_calls": [CHAT_CALL, CHAT_CALL_2],
                },
                "finish_reason": "tool_calls",
            }
        ]
    }
    reply = reply_from_chat(upstream, model="gpt-4.1", response_id="resp_1", created_at=1)
    outputs = [
        {"type": "function_call_output", "call_id": "call_12345xyz", "output": "15 degrees"},
        {"type": "function_call_output", "call_id": "call_67890abc", "output": "20 degrees"},
    ]
    replay = body(input=[{"role": "user", "content": ASK}, *reply["output"], *outputs])
    assert request_to_chat(replay, upstream_model=UP) == chat(
        msg("user", ASK),
        {"role": "assistant", "content": "Let me check.", "tool_calls": [CHAT_CALL, CHAT_CALL_2]},
        {"role": "tool", "tool_call_id": "call_12345xyz", "content": "15 degrees"},
        {"role": "tool", "tool_call_id": "call_67890abc", "content": "20 degrees"},
    )
