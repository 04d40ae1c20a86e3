"""Anthropic Messages <-> OpenAI Chat Completions: a Messages request as a chat request, a
chat.completion as a Messages reply, upstream errors as Messages errors, and (re-exported from
`messages_chat_stream`) a chunk stream as Messages events.

What a chat deployment cannot do faithfully raises Untranslatable naming the field (server
tools, containers, MCP servers, PDF documents, citations, search results, assistant prefill);
what only tunes Anthropic's own serving is dropped (cache_control, top_k, thinking, effort,
service_tier). Field names in `param` follow the gateway's `messages[0].content[1]` style.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from gateway.dialects.messages_chat_stream import (
    StreamFromChat,
    matched_stop,
    reasoning_of,
    stop_reason_of,
    usage_from_chat,
)

__all__ = [
    "StreamFromChat",
    "Untranslatable",
    "error_to_anthropic",
    "reply_from_chat",
    "request_to_chat",
]

# Top-level fields that change what the request does and have nothing like them in chat.
_UNTRANSLATABLE = {
    "container": "Containers (code execution) have no Chat Completions equivalent.",
    "mcp_servers": "MCP servers have no Chat Completions equivalent.",
    "inference_geo": "An inference region cannot be promised by a Chat Completions deployment.",
}
_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}


class Untranslatable(ValueError):
    """The request (or reply) uses a feature the other dialect cannot express faithfully."""

    def __init__(self, message: str, param: str) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


def request_to_chat(body: Mapping[str, Any], *, upstream_model: str) -> dict[str, Any]:
    """An Anthropic Messages request body as an OpenAI chat completions body."""
    for key, why in _UNTRANSLATABLE.items():
        if body.get(key):
            raise Untranslatable(why, key)
    out: dict[str, Any] = {
        "model": upstream_model,
        "messages": _system(body.get("system")) + _conversation(body.get("messages")),
    }
    if body.get("max_tokens") is not None:
        out["max_tokens"] = body["max_tokens"]
    if body.get("stop_sequences"):
        out["stop"] = list(body["stop_sequences"])
    for key in ("temperature", "top_p"):
        if body.get(key) is not None:
            out[key] = body[key]
    if body.get("tools"):
        out.update(_tooling(body["tools"], body.get("tool_choice")))
    output_format = _output_format(body)
    if output_format is not None:
        out["response_format"] = output_format
    if body.get("stream") is True:
        out["stream"] = True
        out["stream_options"] = {"include_usage": True}
    metadata = body.get("metadata")
    if isinstance(metadata, Mapping) and isinstance(metadata.get("user_id"), str):
        out["user"] = metadata["user_id"]
    return out


def _system(system: object) -> list[dict[str, Any]]:
    if system is None or system == "":
        return []
    if isinstance(system, str):
        return [{"role": "system", "content": system}]
    texts = [_text(b, f"system[{i}]") for i, b in enumerate(_blocks(system, "system"))]
    return [{"role": "system", "content": "\n".join(texts)}] if texts else []


def _conversation(messages: object) -> list[dict[str, Any]]:
    if not isinstance(messages, list):
        raise Untranslatable("'messages' must be an array.", "messages")
    out: list[dict[str, Any]] = []
    last = ""  # the field of the message that produced out[-1]
    for i, msg in enumerate(messages):
        p = f"messages[{i}]"
        if not isinstance(msg, Mapping):
            raise Untranslatable(f"'{p}' must be an object.", p)
        role, content = msg.get("role"), msg.get("content")
        if role == "user":
            turn = _user(content, p)
        elif role == "assistant":
            turn = _assistant(content, p)
        else:
            raise Untranslatable(f"'{p}.role' must be user or assistant.", f"{p}.role")
        if turn:
            out.extend(turn)
            last = p
    if out and out[-1]["role"] == "assistant":
        raise Untranslatable(
            "A final assistant message (prefill) cannot be continued by Chat Completions.", last
        )
    return out


def _blocks(content: object, p: str) -> list[Mapping[str, Any]]:
    if not isinstance(content, list) or not all(isinstance(b, Mapping) for b in content):
        raise Untranslatable(f"'{p}' must be a string or an array of content blocks.", p)
    return content


def _unsupported(block: Mapping[str, Any], p: str) -> Untranslatable:
    kind = block.get("type")
    return Untranslatable(f"'{kind}' blocks have no Chat Completions equivalent.", f"{p}.type")


def _text(block: Mapping[str, Any], p: str) -> str:
    if block.get("type") != "text":
        raise _unsupported(block, p)
    text = block.get("text")
    if not isinstance(text, str):
        raise Untranslatable(f"'{p}.text' must be a string.", f"{p}.text")
    return text


def _collapse(parts: list[dict[str, Any]]) -> str | list[dict[str, Any]]:
    """One text part as a plain string (what every chat server reads), else the parts."""
    if len(parts) == 1 and parts[0]["type"] == "text":
        text: str = parts[0]["text"]
        return text
    return parts


def _user(content: object, p: str) -> list[dict[str, Any]]:
    """Tool results become `tool` messages (first, as chat wants them right after the call);
    the rest one user message."""
    if isinstance(content, str):
        return [{"role": "user", "content": content}]
    out: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    for j, block in enumerate(_blocks(content, f"{p}.content")):
        bp = f"{p}.content[{j}]"
        if block.get("type") == "tool_result":
            out.append(_tool_message(block, bp))
        elif block.get("type") == "document":
            parts.extend(_document(block, bp))
        else:
            parts.append(_part(block, bp))
    if parts:
        out.append({"role": "user", "content": _collapse(parts)})
    return out


def _part(block: Mapping[str, Any], p: str) -> dict[str, Any]:
    """A text or image block as a chat content part."""
    if block.get("type") != "image":
        return {"type": "text", "text": _text(block, p)}
    source = block.get("source")
    source = source if isinstance(source, Mapping) else {}
    media, data, url = source.get("media_type"), source.get("data"), source.get("url")
    if source.get("type") == "base64" and isinstance(media, str) and isinstance(data, str):
        url = f"data:{media};base64,{data}"
    elif source.get("type") != "url" or not isinstance(url, str):
        raise Untranslatable("Only base64 and url image sources can be sent.", f"{p}.source")
    return {"type": "image_url", "image_url": {"url": url}}


def _document(block: Mapping[str, Any], p: str) -> list[dict[str, Any]]:
    """A plain-text or content document as its parts (title and context first); PDFs and
    citations have no chat equivalent."""
    citations = block.get("citations")
    if isinstance(citations, Mapping) and citations.get("enabled"):
        raise Untranslatable("Citations have no Chat Completions equivalent.", f"{p}.citations")
    source = block.get("source")
    kind = source.get("type") if isinstance(source, Mapping) else None
    parts = [
        {"type": "text", "text": block[key]}
        for key in ("title", "context")
        if isinstance(block.get(key), str)
    ]
    if kind == "text" and isinstance(source, Mapping) and isinstance(source.get("data"), str):
        return [*parts, {"type": "text", "text": source["data"]}]
    if kind == "content" and isinstance(source, Mapping):
        inner = source.get("content")
        if isinstance(inner, str):
            return [*parts, {"type": "text", "text": inner}]
        sp = f"{p}.source.content"
        return parts + [_part(b, f"{sp}[{k}]") for k, b in enumerate(_blocks(inner, sp))]
    raise Untranslatable("Only plain-text and content documents can be sent.", f"{p}.source")


def _tool_message(block: Mapping[str, Any], p: str) -> dict[str, Any]:
    call_id = block.get("tool_use_id")
    if not isinstance(call_id, str):
        raise Untranslatable(f"'{p}.tool_use_id' must be a string.", f"{p}.tool_use_id")
    content = block.get("content")
    if content is None or isinstance(content, str):
        text = content or ""
    else:
        cp = f"{p}.content"
        text = "\n".join(_text(b, f"{cp}[{k}]") for k, b in enumerate(_blocks(content, cp)))
    if block.get("is_error") is True:
        text = f"Error: {text}" if text else "Error"
    return {"role": "tool", "tool_call_id": call_id, "content": text}


def _assistant(content: object, p: str) -> list[dict[str, Any]]:
    """Text and tool calls; thinking dropped (its signature means nothing to another model)."""
    if isinstance(content, str):
        return [{"role": "assistant", "content": content}]
    parts: list[dict[str, Any]] = []
    calls: list[dict[str, Any]] = []
    for j, block in enumerate(_blocks(content, f"{p}.content")):
        bp = f"{p}.content[{j}]"
        kind = block.get("type")
        if kind in ("thinking", "redacted_thinking"):
            continue
        if kind == "tool_use":
            calls.append(_tool_call(block, bp))
        else:
            parts.append({"type": "text", "text": _text(block, bp)})
    if not parts and not calls:
        return []
    msg: dict[str, Any] = {"role": "assistant", "content": _collapse(parts) if parts else None}
    if calls:
        msg["tool_calls"] = calls
    return [msg]


def _tool_call(block: Mapping[str, Any], p: str) -> dict[str, Any]:
    call_id, name, args = block.get("id"), block.get("name"), block.get("input")
    if not isinstance(call_id, str) or not isinstance(name, str) or not isinstance(args, Mapping):
        raise Untranslatable(f"'{p}' needs a string id and name and an object input.", p)
    try:
        arguments = orjson.dumps(args).decode()
    except TypeError as exc:  # integers past 64 bits, non-string keys
        raise Untranslatable(f"'{p}.input' cannot be sent as JSON.", f"{p}.input") from exc
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def _tools(tools: object) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i, tool in enumerate(_blocks(tools, "tools")):
        p = f"tools[{i}]"
        kind = tool.get("type")
        if kind not in (None, "custom"):
            raise Untranslatable(f"Server tool '{kind}' has no Chat Completions equivalent.", p)
        out.append(function_tool(tool, p, "input_schema"))
    return out


def function_tool(tool: Mapping[str, Any], p: str, schema_key: str) -> dict[str, Any]:
    """A chat function tool from a Messages or Responses tool whose JSON schema is `schema_key`."""
    if not isinstance(tool.get("name"), str):
        raise Untranslatable(f"'{p}.name' must be a string.", f"{p}.name")
    fn: dict[str, Any] = {"name": tool["name"]}
    if isinstance(tool.get("description"), str):
        fn["description"] = tool["description"]
    if tool.get(schema_key) is not None:
        fn["parameters"] = tool[schema_key]
    if isinstance(tool.get("strict"), bool):
        fn["strict"] = tool["strict"]
    return {"type": "function", "function": fn}


def _tooling(tools: object, choice: object) -> dict[str, Any]:
    """tools, tool_choice and parallel_tool_calls (chat rejects the last two without tools)."""
    out: dict[str, Any] = {"tools": _tools(tools)}
    if isinstance(choice, Mapping):
        out["tool_choice"], parallel = _tool_choice(choice)
        if not parallel:
            out["parallel_tool_calls"] = False
    return out


def _tool_choice(choice: Mapping[str, Any]) -> tuple[str | dict[str, Any], bool]:
    """The chat tool_choice, and whether parallel tool calls stay allowed."""
    kind = choice.get("type")
    parallel = choice.get("disable_parallel_tool_use") is not True
    if kind in ("auto", "none"):
        return str(kind), parallel
    if kind == "any":
        return "required", parallel
    if kind == "tool" and isinstance(choice.get("name"), str):
        return {"type": "function", "function": {"name": choice["name"]}}, parallel
    raise Untranslatable("'tool_choice' must be auto, any, tool (named) or none.", "tool_choice")


def _output_format(body: Mapping[str, Any]) -> dict[str, Any] | None:
    """Structured output (`output_config.format`, or the beta `output_format`) as a strict
    json_schema response_format; effort, like thinking, is not guessed into reasoning_effort."""
    config = body.get("output_config")
    fmt = config.get("format") if isinstance(config, Mapping) else None
    param = "output_config.format"
    if fmt is None and body.get("output_format") is not None:
        fmt, param = body["output_format"], "output_format"
    if fmt is None:
        return None
    if not isinstance(fmt, Mapping) or fmt.get("type") != "json_schema":
        raise Untranslatable("Only json_schema output formats can be sent.", f"{param}.type")
    schema = {"name": "output", "schema": fmt.get("schema"), "strict": True}
    return {"type": "json_schema", "json_schema": schema}


def reply_from_chat(chat: Mapping[str, Any], *, model: str) -> dict[str, Any]:
    """A chat.completion as an Anthropic `message` named after the model the client asked."""
    choices = chat.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], Mapping):
        raise Untranslatable("The upstream reply has no choices.", "choices")
    choice = choices[0]
    message = choice.get("message")
    message = message if isinstance(message, Mapping) else {}
    content: list[dict[str, Any]] = []
    reasoning = reasoning_of(message)
    if reasoning:
        content.append({"type": "thinking", "thinking": reasoning, "signature": ""})
    for text in (_message_text(message.get("content")), message.get("refusal")):
        if isinstance(text, str) and text:
            content.append({"type": "text", "text": text})
    calls = message.get("tool_calls")
    calls = calls if isinstance(calls, list) else []
    p = "choices[0].message.tool_calls"
    content.extend(_tool_use(call, f"{p}[{k}]") for k, call in enumerate(calls))
    stop_reason, stop_sequence = stop_reason_of(
        choice.get("finish_reason"),
        matched_stop(choice),
        tool_use=bool(calls),
        refused=bool(message.get("refusal")),
    )
    return {
        "id": f"msg_{chat.get('id') or ''}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": stop_sequence,
        "usage": usage_from_chat(chat.get("usage")),
    }


def _message_text(content: object) -> str:
    if isinstance(content, list):  # a few servers answer with text parts
        return "".join(
            p["text"]
            for p in content
            if isinstance(p, Mapping) and p.get("type") == "text" and isinstance(p.get("text"), str)
        )
    return content if isinstance(content, str) else ""


def _tool_use(call: object, p: str) -> dict[str, Any]:
    fn = call.get("function") if isinstance(call, Mapping) else None
    if not isinstance(call, Mapping) or not isinstance(fn, Mapping):
        raise Untranslatable("The upstream tool call has no function.", f"{p}.function")
    raw = fn.get("arguments") or "{}"
    try:
        args = orjson.loads(raw) if isinstance(raw, str | bytes) else raw
    except orjson.JSONDecodeError:
        args = None
    if not isinstance(args, dict):
        raise Untranslatable(
            "The upstream tool call's arguments are not a JSON object.", f"{p}.function.arguments"
        )
    return {"type": "tool_use", "id": call.get("id") or "", "name": fn.get("name"), "input": args}


def error_to_anthropic(status: int, message: str) -> dict[str, Any]:
    """An upstream failure as a Messages error body; unlisted 4xx read as invalid requests,
    unlisted 5xx as api errors (as Anthropic documents)."""
    kind = _ERROR_TYPES.get(status) or ("api_error" if status >= 500 else "invalid_request_error")
    return {"type": "error", "error": {"type": kind, "message": message}}
