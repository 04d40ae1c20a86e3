"""Messages request -> chat request: every mapping asserted exactly (payloads shaped after the
Anthropic reference), every feature without a faithful chat equivalent naming its field, and a
property: random text/tool conversations translate and keep all their text, in order."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.dialects.messages_chat import Untranslatable, request_to_chat

UP = "qwen3-coder-30b"
WEATHER_SCHEMA = {
    "type": "object",
    "properties": {
        "location": {
            "type": "string",
            "description": "The city and state, e.g. San Francisco, CA",
        }
    },
    "required": ["location"],
}
WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Get the current weather in a given location",
    "input_schema": WEATHER_SCHEMA,
}
WEATHER_FN = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a given location",
        "parameters": WEATHER_SCHEMA,
    },
}
TOOLU = "toolu_01A09q90qw90lq917835lq9"
ASK = {"role": "user", "content": "What is the weather like in San Francisco?"}
CHAT_ASK = {"role": "user", "content": "What is the weather like in San Francisco?"}
JPEG = "/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAgGBgcGBQgHBwcJCQgKDBQNDAsLDBkSEw8U"
ANT_URL = "https://upload.wikimedia.org/wikipedia/commons/a/a7/Camponotus_flavomarginatus_ant.jpg"


def body(**fields: Any) -> dict[str, Any]:
    return {"model": "claude-sonnet-4-5", "max_tokens": 1024, "messages": [ASK], **fields}


def chat(**fields: Any) -> dict[str, Any]:
    return {"model": UP, "messages": [CHAT_ASK], "max_tokens": 1024, **fields}


CASES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    (
        "minimal",
        {"model": "claude-sonnet-4-5", "max_tokens": 1024, "messages": [ASK]},
        chat(),
    ),
    (
        "system string first",
        body(system="You are a meteorologist."),
        {
            "model": UP,
            "messages": [{"role": "system", "content": "You are a meteorologist."}, CHAT_ASK],
            "max_tokens": 1024,
        },
    ),
    (
        "system text blocks (Claude Code style, cache_control dropped) joined",
        body(
            system=[
                {"type": "text", "text": "You are Claude Code, Anthropic's official CLI."},
                {
                    "type": "text",
                    "text": "Use the tools available to you.",
                    "cache_control": {"type": "ephemeral"},
                },
            ]
        ),
        {
            "model": UP,
            "messages": [
                {
                    "role": "system",
                    "content": "You are Claude Code, Anthropic's official CLI.\n"
                    "Use the tools available to you.",
                },
                CHAT_ASK,
            ],
            "max_tokens": 1024,
        },
    ),
    (
        "empty system dropped",
        body(system=[]),
        chat(),
    ),
    (
        "user blocks: texts and images (base64 -> data URL, url -> url)",
        body(
            messages=[
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "image",
                            "source": {"type": "base64", "media_type": "image/jpeg", "data": JPEG},
                        },
                        {"type": "image", "source": {"type": "url", "url": ANT_URL}},
                        {"type": "text", "text": "Compare these images."},
                        {
                            "type": "text",
                            "text": "Be brief.",
                            "cache_control": {"type": "ephemeral", "ttl": "1h"},
                        },
                    ],
                }
            ]
        ),
        chat(
            messages=[
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "image_url",
                            "image_url": {"url": f"data:image/jpeg;base64,{JPEG}"},
                        },
                        {"type": "image_url", "image_url": {"url": ANT_URL}},
                        {"type": "text", "text": "Compare these images."},
                        {"type": "text", "text": "Be brief."},
                    ],
                }
            ]
        ),
    ),
    (
        "one text block -> plain string content",
        body(messages=[{"role": "user", "content": [{"type": "text", "text": "Hello, Claude"}]}]),
        chat(messages=[{"role": "user", "content": "Hello, Claude"}]),
    ),
    (
        "tool_use -> tool_calls, tool_result -> tool messages, text after them a user message",
        body(
            tools=[WEATHER_TOOL],
            messages=[
                ASK,
                {
                    "role": "assistant",
                    "content": [
                        {"type": "text", "text": "I'll check the weather in San Francisco."},
                        {
                            "type": "tool_use",
                            "id": TOOLU,
                            "name": "get_weather",
                            "input": {"location": "San Francisco, CA"},
                        },
                        {
                            "type": "tool_use",
                            "id": "toolu_02",
                            "name": "get_weather",
                            "input": {"location": "Paris, France"},
                        },
                    ],
                },
                {
                    "role": "user",
                    "content": [
                        {"type": "tool_result", "tool_use_id": TOOLU, "content": "15 degrees"},
                        {
                            "type": "tool_result",
                            "tool_use_id": "toolu_02",
                            "content": [
                                {"type": "text", "text": "18 degrees"},
                                {"type": "text", "text": "sunny"},
                            ],
                            "cache_control": {"type": "ephemeral"},
                        },
                        {"type": "text", "text": "Which is warmer?"},
                    ],
                },
            ],
        ),
        chat(
            tools=[WEATHER_FN],
            messages=[
                CHAT_ASK,
                {
                    "role": "assistant",
                    "content": "I'll check the weather in San Francisco.",
                    "tool_calls": [
                        {
                            "id": TOOLU,
                            "type": "function",
                            "function": {
                                "name": "get_weather",
                                "arguments": '{"location":"San Francisco, CA"}',
                            },
                        },
                        {
                            "id": "toolu_02",
                            "type": "function",
                            "function": {
                                "name": "get_weather",
                                "arguments": '{"location":"Paris, France"}',
                            },
                        },
                    ],
                },
                {"role": "tool", "tool_call_id": TOOLU, "content": "15 degrees"},
                {"role": "tool", "tool_call_id": "toolu_02", "content": "18 degrees\nsunny"},
                {"role": "user", "content": "Which is warmer?"},
            ],
        ),
    ),
    (
        "tool_use alone: content null; is_error noted; empty result",
        body(
            tools=[WEATHER_TOOL],
            messages=[
                ASK,
                {
                    "role": "assistant",
                    "content": [
                        {"type": "tool_use", "id": TOOLU, "name": "get_weather", "input": {}},
                        {"type": "tool_use", "id": "toolu_02", "name": "get_weather", "input": {}},
                    ],
                },
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "tool_result",
                            "tool_use_id": TOOLU,
                            "content": "ConnectionError: the weather service API is not available",
                            "is_error": True,
                        },
                        {"type": "tool_result", "tool_use_id": "toolu_02"},
                    ],
                },
            ],
        ),
        chat(
            tools=[WEATHER_FN],
            messages=[
                CHAT_ASK,
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": TOOLU,
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": "{}"},
                        },
                        {
                            "id": "toolu_02",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": "{}"},
                        },
                    ],
                },
                {
                    "role": "tool",
                    "tool_call_id": TOOLU,
                    "content": "Error: ConnectionError: the weather service API is not available",
                },
                {"role": "tool", "tool_call_id": "toolu_02", "content": ""},
            ],
        ),
    ),
    (
        "thinking and redacted_thinking in assistant history dropped",
        body(
            thinking={"type": "enabled", "budget_tokens": 10000},
            messages=[
                ASK,
                {
                    "role": "assistant",
                    "content": [
                        {
                            "type": "thinking",
                            "thinking": "Let me analyze this step by step...",
                            "signature": "WaUjzkypQ2mUEVM36O2TxuC06KN8xyfbJwyem2dw3URve/op91XWHOEB",
                        },
                        {
                            "type": "redacted_thinking",
                            "data": "EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIwxtE3rAFBa8",
                        },
                        {"type": "text", "text": "It is 15 degrees."},
                    ],
                },
                {
                    "role": "assistant",
                    "content": [{"type": "thinking", "thinking": "hm", "signature": "x"}],
                },
                {"role": "user", "content": "Thanks!"},
            ],
        ),
        chat(
            messages=[
                CHAT_ASK,
                {"role": "assistant", "content": "It is 15 degrees."},
                {"role": "user", "content": "Thanks!"},
            ]
        ),
    ),
    (
        "assistant string and several text blocks (parts)",
        body(
            messages=[
                ASK,
                {"role": "assistant", "content": "Sunny."},
                {"role": "user", "content": "More?"},
                {
                    "role": "assistant",
                    "content": [
                        {"type": "text", "text": "Warm."},
                        {"type": "text", "text": "Dry."},
                    ],
                },
                {"role": "user", "content": "Thanks"},
            ]
        ),
        chat(
            messages=[
                CHAT_ASK,
                {"role": "assistant", "content": "Sunny."},
                {"role": "user", "content": "More?"},
                {
                    "role": "assistant",
                    "content": [
                        {"type": "text", "text": "Warm."},
                        {"type": "text", "text": "Dry."},
                    ],
                },
                {"role": "user", "content": "Thanks"},
            ]
        ),
    ),
    (
        "sampling and stop: stop_sequences -> stop, top_k dropped, temperature/top_p passed",
        body(stop_sequences=["\n\nHuman:", "END"], temperature=0.2, top_p=0.9, top_k=40),
        chat(stop=["\n\nHuman:", "END"], temperature=0.2, top_p=0.9),
    ),
    (
        "empty stop_sequences and null sampling fields left out",
        body(stop_sequences=[], temperature=None),
        chat(),
    ),
    (
        "metadata.user_id -> user; thinking, service_tier, cache_control dropped",
        body(
            metadata={"user_id": "13803d75-b4b5-4c3e-b2a2-6f21399b021b"},
            thinking={"type": "enabled", "budget_tokens": 2048},
            service_tier="auto",
            cache_control={"type": "ephemeral"},
        ),
        chat(user="13803d75-b4b5-4c3e-b2a2-6f21399b021b"),
    ),
    (
        "stream -> stream + include_usage",
        body(stream=True),
        chat(stream=True, stream_options={"include_usage": True}),
    ),
    (
        "stream false left out",
        body(stream=False),
        chat(),
    ),
    (
        "tools: description optional, strict kept, type custom, cache_control dropped",
        body(
            tools=[
                {**WEATHER_TOOL, "cache_control": {"type": "ephemeral"}},
                {
                    "type": "custom",
                    "name": "get_time",
                    "input_schema": {"type": "object", "properties": {}},
                    "strict": True,
                },
            ]
        ),
        chat(
            tools=[
                WEATHER_FN,
                {
                    "type": "function",
                    "function": {
                        "name": "get_time",
                        "parameters": {"type": "object", "properties": {}},
                        "strict": True,
                    },
                },
            ]
        ),
    ),
    (
        "tool_choice auto",
        body(tools=[WEATHER_TOOL], tool_choice={"type": "auto"}),
        chat(tools=[WEATHER_FN], tool_choice="auto"),
    ),
    (
        "tool_choice any -> required",
        body(tools=[WEATHER_TOOL], tool_choice={"type": "any"}),
        chat(tools=[WEATHER_FN], tool_choice="required"),
    ),
    (
        "tool_choice tool -> named function",
        body(tools=[WEATHER_TOOL], tool_choice={"type": "tool", "name": "get_weather"}),
        chat(
            tools=[WEATHER_FN],
            tool_choice={"type": "function", "function": {"name": "get_weather"}},
        ),
    ),
    (
        "tool_choice none",
        body(tools=[WEATHER_TOOL], tool_choice={"type": "none"}),
        chat(tools=[WEATHER_FN], tool_choice="none"),
    ),
    (
        "disable_parallel_tool_use -> parallel_tool_calls false",
        body(tools=[WEATHER_TOOL], tool_choice={"type": "auto", "disable_parallel_tool_use": True}),
        chat(tools=[WEATHER_FN], tool_choice="auto", parallel_tool_calls=False),
    ),
    (
        "disable_parallel_tool_use false: nothing",
        body(tools=[WEATHER_TOOL], tool_choice={"type": "any", "disable_parallel_tool_use": False}),
        chat(tools=[WEATHER_FN], tool_choice="required"),
    ),
    (
        "tool_choice without tools left out (chat rejects it)",
        body(tool_choice={"type": "auto"}),
        chat(),
    ),
    (
        "plain-text and content documents -> text parts (title, context first)",
        body(
            messages=[
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "document",
                            "source": {
                                "type": "text",
                                "media_type": "text/plain",
                                "data": "The grass is green.",
                            },
                            "title": "My Document",
                            "context": "This is a trustworthy document.",
                        },
                        {
                            "type": "document",
                            "source": {
                                "type": "content",
                                "content": [
                                    {"type": "text", "text": "First chunk"},
                                    {"type": "text", "text": "Second chunk"},
                                ],
                            },
                            "citations": {"enabled": False},
                        },
                        {"type": "document", "source": {"type": "content", "content": "Third"}},
                        {"type": "text", "text": "What color is the grass?"},
                    ],
                }
            ]
        ),
        chat(
            messages=[
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "My Document"},
                        {"type": "text", "text": "This is a trustworthy document."},
                        {"type": "text", "text": "The grass is green."},
                        {"type": "text", "text": "First chunk"},
                        {"type": "text", "text": "Second chunk"},
                        {"type": "text", "text": "Third"},
                        {"type": "text", "text": "What color is the grass?"},
                    ],
                }
            ]
        ),
    ),
    (
        "output_config.format -> strict json_schema response_format; effort dropped",
        body(
            output_config={
                "effort": "high",
                "format": {"type": "json_schema", "schema": WEATHER_SCHEMA},
            }
        ),
        chat(
            response_format={
                "type": "json_schema",
                "json_schema": {"name": "output", "schema": WEATHER_SCHEMA, "strict": True},
            }
        ),
    ),
    (
        "beta output_format too",
        body(output_format={"type": "json_schema", "schema": WEATHER_SCHEMA}),
        chat(
            response_format={
                "type": "json_schema",
                "json_schema": {"name": "output", "schema": WEATHER_SCHEMA, "strict": True},
            }
        ),
    ),
    (
        "empty container / mcp_servers are not uses",
        body(container=None, mcp_servers=[]),
        chat(),
    ),
]


@pytest.mark.parametrize(
    ("anthropic", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_request_maps_exactly(anthropic: dict[str, Any], expected: dict[str, Any]) -> None:
    assert request_to_chat(anthropic, upstream_model=UP) == expected


def test_max_completion_tokens_never_used() -> None:
    out = request_to_chat(body(max_tokens=64000), upstream_model=UP)
    assert out["max_tokens"] == 64000
    assert "max_completion_tokens" not in out


def test_input_not_mutated() -> None:
    anthropic = body(system=[{"type": "text", "text": "s", "cache_control": {"type": "ephemeral"}}])
    before = orjson.dumps(anthropic)
    request_to_chat(anthropic, upstream_model=UP)
    assert orjson.dumps(anthropic) == before


def user(*blocks: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"role": "user", "content": list(blocks)}]


PDF_B64 = {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0xLjcKCjEgMCBvYmo="}
BAD: list[tuple[str, dict[str, Any], str]] = [
    ("container", body(container="container_011CRzmgFzYWz8jKRZ7SJqUE"), "container"),
    (
        "mcp_servers",
        body(
            mcp_servers=[
                {
                    "type": "url",
                    "url": "https://example-server.modelcontextprotocol.io/sse",
                    "name": "ex",
                }
            ]
        ),
        "mcp_servers",
    ),
    ("inference_geo", body(inference_geo="us"), "inference_geo"),
    (
        "web search server tool",
        body(
            tools=[
                WEATHER_TOOL,
                {"type": "web_search_20250305", "name": "web_search", "max_uses": 5},
            ]
        ),
        "tools[1]",
    ),
    ("bash tool", body(tools=[{"type": "bash_20250124", "name": "bash"}]), "tools[0]"),
    (
        "text editor tool",
        body(tools=[{"type": "text_editor_20250728", "name": "str_replace_based_edit_tool"}]),
        "tools[0]",
    ),
    (
        "code execution tool",
        body(tools=[{"type": "code_execution_20250825", "name": "code_execution"}]),
        "tools[0]",
    ),
    (
        "PDF document (base64)",
        body(messages=user({"type": "document", "source": PDF_B64})),
        "messages[0].content[0].source",
    ),
    (
        "PDF document (url)",
        body(
            messages=user(
                {
                    "type": "document",
                    "source": {
                        "type": "url",
                        "url": "https://assets.anthropic.com/m/1cd9d098ac3e6467/original/doc.pdf",
                    },
                },
                {"type": "text", "text": "Summarize"},
            )
        ),
        "messages[0].content[0].source",
    ),
    (
        "citations enabled",
        body(
            messages=user(
                {"type": "text", "text": "Cite this:"},
                {
                    "type": "document",
                    "source": {
                        "type": "text",
                        "media_type": "text/plain",
                        "data": "Grass is green.",
                    },
                    "citations": {"enabled": True},
                },
            )
        ),
        "messages[0].content[1].citations",
    ),
    (
        "search_result block",
        body(
            messages=user(
                {
                    "type": "search_result",
                    "source": "https://example.com/article",
                    "title": "Article",
                    "content": [{"type": "text", "text": "Result"}],
                    "citations": {"enabled": True},
                }
            )
        ),
        "messages[0].content[0].type",
    ),
    (
        "server_tool_use in assistant history",
        body(
            messages=[
                ASK,
                {
                    "role": "assistant",
                    "content": [
                        {
                            "type": "server_tool_use",
                            "id": "srvtoolu_01",
                            "name": "web_search",
                            "input": {"query": "weather"},
                        }
                    ],
                },
                ASK,
            ]
        ),
        "messages[1].content[0].type",
    ),
    (
        "image inside a tool_result",
        body(
            messages=[
                ASK,
                {
                    "role": "assistant",
                    "content": [
                        {"type": "tool_use", "id": TOOLU, "name": "screenshot", "input": {}}
                    ],
                },
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "tool_result",
                            "tool_use_id": TOOLU,
                            "content": [
                                {"type": "text", "text": "Here it is"},
                                {
                                    "type": "image",
                                    "source": {
                                        "type": "base64",
                                        "media_type": "image/png",
                                        "data": "iVBO",
                                    },
                                },
                            ],
                        }
                    ],
                },
            ]
        ),
        "messages[2].content[0].content[1].type",
    ),
    (
        "image from the Files API",
        body(messages=user({"type": "image", "source": {"type": "file", "file_id": "file_011"}})),
        "messages[0].content[0].source",
    ),
    (
        "assistant prefill",
        body(messages=[ASK, {"role": "assistant", "content": "The best answer is ("}]),
        "messages[1]",
    ),
    (
        "mid-conversation system block",
        body(
            messages=user(
                {"type": "mid_conv_system", "content": [{"type": "text", "text": "Be terse."}]}
            )
        ),
        "messages[0].content[0].type",
    ),
    (
        "system role in messages",
        body(messages=[{"role": "system", "content": "x"}]),
        "messages[0].role",
    ),
    (
        "tool_use in a user turn",
        body(messages=user({"type": "tool_use", "id": "t", "name": "n", "input": {}})),
        "messages[0].content[0].type",
    ),
    (
        "unknown tool_choice",
        body(tools=[WEATHER_TOOL], tool_choice={"type": "sometimes"}),
        "tool_choice",
    ),
    ("system with an image", body(system=[{"type": "image", "source": {}}]), "system[0].type"),
    (
        "non-JSON-schema output format",
        body(output_config={"format": {"type": "regex", "pattern": "a+"}}),
        "output_config.format.type",
    ),
    ("messages not an array", body(messages="hi"), "messages"),
    (
        "tool input past JSON's 64-bit integers",
        body(
            messages=[
                ASK,
                {
                    "role": "assistant",
                    "content": [
                        {"type": "tool_use", "id": "t", "name": "n", "input": {"n": 2**64}}
                    ],
                },
                ASK,
            ]
        ),
        "messages[1].content[0].input",
    ),
]


@pytest.mark.parametrize(("anthropic", "param"), [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_untranslatable_names_the_field(anthropic: dict[str, Any], param: str) -> None:
    with pytest.raises(Untranslatable) as info:
        request_to_chat(anthropic, upstream_model=UP)
    assert info.value.param == param
    assert info.value.message == str(info.value)
    assert isinstance(info.value, ValueError)


# --- property: random text/tool conversations keep all their text ---------------------------

TEXT = st.text(max_size=40)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)


@st.composite
def conversations(draw: st.DrawFn) -> dict[str, Any]:
    """A valid Messages conversation: user turns of text (string or blocks) answering every
    tool call of the assistant turn before with tool results; assistant turns of text,
    thinking and tool calls; ending with a user turn."""
    messages: list[dict[str, Any]] = []
    pending: list[str] = []  # tool ids the next user turn must answer
    n_calls = 0
    for _ in range(draw(st.integers(1, 4))):
        results = [
            {
                "type": "tool_result",
                "tool_use_id": call_id,
                "content": draw(
                    TEXT | st.lists(TEXT.map(lambda t: {"type": "text", "text": t}), max_size=3)
                ),
                "is_error": draw(st.booleans()),
            }
            for call_id in pending
        ]
        texts = draw(st.lists(TEXT.map(lambda t: {"type": "text", "text": t}), max_size=3))
        if not results and draw(st.booleans()):
            messages.append({"role": "user", "content": draw(TEXT)})
        else:
            messages.append({"role": "user", "content": results + texts})
        blocks: list[dict[str, Any]] = []
        pending = []
        for kind in draw(
            st.lists(st.sampled_from(["text", "tool", "thinking"]), min_size=1, max_size=4)
        ):
            if kind == "text":
                blocks.append({"type": "text", "text": draw(TEXT)})
            elif kind == "thinking":
                blocks.append({"type": "thinking", "thinking": draw(TEXT), "signature": "sig"})
            else:
                n_calls += 1
                call_id = f"toolu_{n_calls:04d}"
                pending.append(call_id)
                args = draw(st.dictionaries(st.text(max_size=8), JSON_VALUES, max_size=4))
                blocks.append(
                    {
                        "type": "tool_use",
                        "id": call_id,
                        "name": draw(st.from_regex(r"[a-z_]{1,12}", fullmatch=True)),
                        "input": args,
                    }
                )
        messages.append({"role": "assistant", "content": blocks})
    messages.append(
        {
            "role": "user",
            "content": [
                *(
                    {"type": "tool_result", "tool_use_id": c, "content": draw(TEXT)}
                    for c in pending
                ),
                {"type": "text", "text": draw(TEXT)},
            ],
        }
    )
    system = draw(
        st.none() | TEXT | st.lists(TEXT.map(lambda t: {"type": "text", "text": t}), max_size=2)
    )
    out: dict[str, Any] = {"model": "claude-sonnet-4-5", "max_tokens": 256, "messages": messages}
    if system is not None:
        out["system"] = system
    return out


def anthropic_texts(anthropic: dict[str, Any]) -> list[str]:
    """Every text the model would read, in order (thinking excluded: it is dropped)."""
    system = anthropic.get("system")
    texts = [system] if isinstance(system, str) else [b["text"] for b in system or []]
    for msg in anthropic["messages"]:
        if isinstance(msg["content"], str):
            texts.append(msg["content"])
            continue
        for block in msg["content"]:
            if block["type"] == "text":
                texts.append(block["text"])
            elif block["type"] == "tool_result":
                content = block["content"]
                texts.extend(
                    [content] if isinstance(content, str) else [b["text"] for b in content]
                )
    return texts


def chat_texts(messages: list[dict[str, Any]]) -> str:
    out: list[str] = []
    for msg in messages:
        content = msg["content"]
        if isinstance(content, str):
            out.append(content)
        elif isinstance(content, list):
            out.extend(part["text"] for part in content)
    return "\x00".join(out)


@settings(max_examples=300, deadline=None)
@given(conversations())
def test_random_conversations_keep_all_text(anthropic: dict[str, Any]) -> None:
    out = request_to_chat(anthropic, upstream_model=UP)
    assert out["model"] == UP
    flat = chat_texts(out["messages"])
    at = 0
    for text in anthropic_texts(anthropic):  # each text found, in order
        found = flat.find(text, at)
        assert found >= 0, text
        at = found + len(text)
    calls = {
        c["id"]: c["function"]
        for m in out["messages"]
        if m["role"] == "assistant"
        for c in m.get("tool_calls", [])
    }
    uses = {
        b["id"]: b
        for m in anthropic["messages"]
        if m["role"] == "assistant"
        for b in m["content"]
        if b["type"] == "tool_use"
    }
    assert calls.keys() == uses.keys()
    for call_id, fn in calls.items():
        assert fn["name"] == uses[call_id]["name"]
        assert orjson.loads(fn["arguments"]) == uses[call_id]["input"]
    seen: set[str] = set()
    for i, msg in enumerate(out["messages"]):  # every tool message answers an earlier call,
        if msg["role"] == "assistant":  # right after it (or after its sibling results)
            seen = {c["id"] for c in msg.get("tool_calls", [])}
        elif msg["role"] == "tool":
            assert msg["tool_call_id"] in seen
            assert out["messages"][i - 1]["role"] in ("assistant", "tool")
