"""OpenAI Responses <-> OpenAI Chat Completions: a Responses request as a chat request, a
chat.completion as a Response, and (re-exported from `responses_chat_stream`) a chunk stream as
Responses events, so `POST /v1/responses` can be served by chat-only deployments.

What needs the API's server state or its built-in tools raises Untranslatable naming the field
(previous_response_id, conversation, prompt templates, background responses, server-side
context management, item references, encrypted reasoning, built-in tools, file ids, file
inputs); what only tunes OpenAI's own serving is dropped (store, include, metadata,
service_tier, truncation, prompt_cache_*, top_logprobs, max_tool_calls, text.verbosity,
reasoning.summary). Developer messages become system messages (what every chat template
knows); reasoning items without encrypted content are dropped, like Messages thinking blocks.
Field names in `param` follow the gateway's `input[0].content[1]` style.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import orjson

from gateway.dialects.messages_chat import Untranslatable, _collapse, _message_text, function_tool
from gateway.dialects.messages_chat_stream import reasoning_of
from gateway.dialects.responses_chat_stream import (
    StreamFromChat,
    item_id,
    response_object,
    response_usage,
    status_of,
)

__all__ = ["StreamFromChat", "Untranslatable", "reply_from_chat", "request_to_chat"]

# Top-level fields that need state kept by the API (or its background workers).
_STATEFUL = {
    "previous_response_id": "A previous response is stored by the Responses API only.",
    "conversation": "Conversations are stored by the Responses API only.",
    "prompt": "Prompt templates are stored by the Responses API only.",
    "background": "Background responses need the Responses API's own queue.",
    "context_management": "Server-side context compaction has no Chat Completions equivalent.",
}
_TEXT_PARTS = ("input_text", "output_text")
_IMAGE_DETAILS = ("auto", "low", "high")
_CHOICES = ("auto", "none", "required")


# --- request ------------------------------------------------------------------------------


def request_to_chat(body: Mapping[str, Any], *, upstream_model: str) -> dict[str, Any]:
    """A Responses request body as an OpenAI chat completions body."""
    for key, why in _STATEFUL.items():
        if body.get(key):
            raise Untranslatable(why, key)
    out: dict[str, Any] = {
        "model": upstream_model,
        "messages": _instructions(body.get("instructions")) + _input(body.get("input")),
    }
    if body.get("max_output_tokens") is not None:
        out["max_completion_tokens"] = body["max_output_tokens"]
    for key in ("temperature", "top_p"):
        if body.get(key) is not None:
            out[key] = body[key]
    if body.get("tools"):
        out.update(_tooling(body))
    response_format = _response_format(body.get("text"))
    if response_format is not None:
        out["response_format"] = response_format
    reasoning = body.get("reasoning")
    if isinstance(reasoning, Mapping) and isinstance(reasoning.get("effort"), str):
        out["reasoning_effort"] = reasoning["effort"]
    if body.get("stream") is True:
        out["stream"] = True
        out["stream_options"] = {"include_usage": True}
    for key in ("user", "safety_identifier"):
        if isinstance(body.get(key), str):
            out["user"] = body[key]
            break
    return out


def _instructions(instructions: object) -> list[dict[str, Any]]:
    if instructions is None or instructions == "":
        return []
    if not isinstance(instructions, str):
        raise Untranslatable("'instructions' must be a string.", "instructions")
    return [{"role": "system", "content": instructions}]


def _input(value: object) -> list[dict[str, Any]]:
    """A string as one user message; items in order (each handler appends to `out`)."""
    if isinstance(value, str):
        return [{"role": "user", "content": value}]
    if not isinstance(value, list):
        raise Untranslatable("'input' must be a string or an array of items.", "input")
    out: list[dict[str, Any]] = []
    for i, item in enumerate(value):
        p = f"input[{i}]"
        if not isinstance(item, Mapping):
            raise Untranslatable(f"'{p}' must be an object.", p)
        kind = item.get("type") or ("message" if "role" in item else "item_reference")
        handler = _ITEMS.get(kind)
        if handler is None:
            why = f"'{kind}' items have no Chat Completions equivalent."
            raise Untranslatable(why, f"{p}.type")
        handler(item, p, out)
    return out


def _message(item: Mapping[str, Any], p: str, out: list[dict[str, Any]]) -> None:
    role, content = item.get("role"), item.get("content")
    if role == "user":
        out.append({"role": "user", "content": _user_content(content, f"{p}.content")})
    elif role == "assistant":
        out.append({"role": "assistant", "content": _assistant_content(content, f"{p}.content")})
    elif role in ("system", "developer"):
        out.append({"role": "system", "content": _system_content(content, f"{p}.content")})
    else:
        raise Untranslatable(
            f"'{p}.role' must be user, assistant, system or developer.", f"{p}.role"
        )


def _parts(content: object, p: str) -> list[Mapping[str, Any]]:
    if not isinstance(content, list) or not all(isinstance(c, Mapping) for c in content):
        raise Untranslatable(f"'{p}' must be a string or an array of content parts.", p)
    return content


def _text(part: Mapping[str, Any], p: str, *, refusal: bool = False) -> str:
    """The text of an input_text or output_text part (or, in assistant messages, a refusal)."""
    kind = part.get("type")
    if kind in _TEXT_PARTS:
        key = "text"
    elif refusal and kind == "refusal":
        key = "refusal"
    else:
        raise Untranslatable(f"'{kind}' parts have no Chat Completions equivalent.", f"{p}.type")
    text = part.get(key)
    if not isinstance(text, str):
        raise Untranslatable(f"'{p}.{key}' must be a string.", f"{p}.{key}")
    return text


def _user_content(content: object, p: str) -> str | list[dict[str, Any]]:
    if isinstance(content, str):
        return content
    parts: list[dict[str, Any]] = []
    for j, part in enumerate(_parts(content, p)):
        pp = f"{p}[{j}]"
        if part.get("type") == "input_image":
            parts.append(_image(part, pp))
        else:
            parts.append({"type": "text", "text": _text(part, pp)})
    return _collapse(parts)


def _image(part: Mapping[str, Any], p: str) -> dict[str, Any]:
    if part.get("file_id"):
        raise Untranslatable("Uploaded files are stored by the OpenAI API only.", f"{p}.file_id")
    url = part.get("image_url")
    if not isinstance(url, str) or not url:
        raise Untranslatable(f"'{p}.image_url' must be a URL or a data URL.", f"{p}.image_url")
    image: dict[str, Any] = {"url": url}
    if part.get("detail") in _IMAGE_DETAILS:
        image["detail"] = part["detail"]
    return {"type": "image_url", "image_url": image}


def _assistant_content(content: object, p: str) -> str | list[dict[str, Any]]:
    if isinstance(content, str):
        return content
    texts = [_text(c, f"{p}[{j}]", refusal=True) for j, c in enumerate(_parts(content, p))]
    return _collapse([{"type": "text", "text": text} for text in texts])


def _system_content(content: object, p: str) -> str:
    if isinstance(content, str):
        return content
    return "\n".join(_text(c, f"{p}[{j}]") for j, c in enumerate(_parts(content, p)))


def _call_item(item: Mapping[str, Any], p: str, out: list[dict[str, Any]]) -> None:
    """A function_call as a tool call of the assistant message just before (its text, or the
    calls before it), else of a new one."""
    call_id, name, arguments = item.get("call_id"), item.get("name"), item.get("arguments")
    if not all(isinstance(v, str) for v in (call_id, name, arguments)):
        raise Untranslatable(f"'{p}' needs a string call_id, name and arguments.", p)
    call = {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}
    if out and out[-1]["role"] == "assistant":
        out[-1].setdefault("tool_calls", []).append(call)
    else:
        out.append({"role": "assistant", "content": None, "tool_calls": [call]})


def _call_output(item: Mapping[str, Any], p: str, out: list[dict[str, Any]]) -> None:
    call_id, output = item.get("call_id"), item.get("output")
    if not isinstance(call_id, str):
        raise Untranslatable(f"'{p}.call_id' must be a string.", f"{p}.call_id")
    if isinstance(output, str):
        text = output
    else:
        op = f"{p}.output"
        text = "\n".join(_text(c, f"{op}[{k}]") for k, c in enumerate(_parts(output, op)))
    out.append({"role": "tool", "tool_call_id": call_id, "content": text})


def _reasoning(item: Mapping[str, Any], p: str, out: list[dict[str, Any]]) -> None:
    """Dropped (another model's reasoning means nothing to this one), unless encrypted: that
    is the API's own state, for the API's models."""
    if item.get("encrypted_content"):
        raise Untranslatable(
            "Encrypted reasoning can only be read by the Responses API.", f"{p}.encrypted_content"
        )


def _reference(item: Mapping[str, Any], p: str, out: list[dict[str, Any]]) -> None:
    raise Untranslatable("Item references point at items stored by the Responses API.", p)


_ITEMS: dict[str, Callable[[Mapping[str, Any], str, list[dict[str, Any]]], None]] = {
    "message": _message,
    "function_call": _call_item,
    "function_call_output": _call_output,
    "reasoning": _reasoning,
    "item_reference": _reference,
}


def _tools(tools: object) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i, tool in enumerate(_parts(tools, "tools")):
        p = f"tools[{i}]"
        kind = tool.get("type")
        if kind != "function":
            raise Untranslatable(f"Built-in tool '{kind}' has no Chat Completions equivalent.", p)
        out.append(function_tool(tool, p, "parameters"))
    return out


def _tooling(body: Mapping[str, Any]) -> dict[str, Any]:
    """tools, tool_choice and parallel_tool_calls (chat rejects the last two without tools)."""
    out: dict[str, Any] = {"tools": _tools(body["tools"])}
    choice = body.get("tool_choice")
    if choice in _CHOICES:
        out["tool_choice"] = choice
    elif isinstance(choice, Mapping) and choice.get("type") == "function":
        if not isinstance(choice.get("name"), str):
            raise Untranslatable("'tool_choice.name' must be a string.", "tool_choice.name")
        out["tool_choice"] = {"type": "function", "function": {"name": choice["name"]}}
    elif choice is not None:
        raise Untranslatable(
            "'tool_choice' must be auto, none, required or a named function.", "tool_choice"
        )
    if isinstance(body.get("parallel_tool_calls"), bool):
        out["parallel_tool_calls"] = body["parallel_tool_calls"]
    return out


def _response_format(text: object) -> dict[str, Any] | None:
    fmt = text.get("format") if isinstance(text, Mapping) else None
    kind = fmt.get("type") if isinstance(fmt, Mapping) else fmt
    if kind is None or kind == "text":
        return None
    if kind == "json_object":
        return {"type": "json_object"}
    if kind == "json_schema" and isinstance(fmt, Mapping):
        keys = ("name", "description", "schema", "strict")
        schema = {key: fmt[key] for key in keys if fmt.get(key) is not None}
        return {"type": "json_schema", "json_schema": schema}
    raise Untranslatable("'text.format' must be text, json_schema or json_object.", "text.format")


# --- reply --------------------------------------------------------------------------------


def reply_from_chat(
    chat: Mapping[str, Any], *, model: str, response_id: str, created_at: int
) -> dict[str, Any]:
    """A chat.completion as a Response named after the model the client asked: a reasoning
    item (the reasoning as summary text), a message item, then a function_call item per call.
    A cut-short reply is `incomplete`, and so is its last item."""
    choices = chat.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], Mapping):
        raise Untranslatable("The upstream reply has no choices.", "choices")
    choice = choices[0]
    message = choice.get("message")
    message = message if isinstance(message, Mapping) else {}
    output: list[dict[str, Any]] = []
    reasoning = reasoning_of(message)
    if reasoning:
        summary = [{"type": "summary_text", "text": reasoning}]
        rs_id = item_id("rs", response_id, 0)
        output.append({"type": "reasoning", "id": rs_id, "summary": summary})
    parts: list[dict[str, Any]] = []
    text = _message_text(message.get("content"))
    if text:
        parts.append({"type": "output_text", "text": text, "annotations": []})
    if isinstance(message.get("refusal"), str) and message["refusal"]:
        parts.append({"type": "refusal", "refusal": message["refusal"]})
    if parts:
        msg_id = item_id("msg", response_id, len(output))
        item = {"type": "message", "id": msg_id, "status": "completed", "role": "assistant"}
        output.append({**item, "content": parts})
    calls = message.get("tool_calls")
    for k, call in enumerate(calls if isinstance(calls, list) else ()):
        p = f"choices[0].message.tool_calls[{k}]"
        output.append(_function_call(call, p, item_id("fc", response_id, len(output))))
    status, incomplete = status_of(choice.get("finish_reason"))
    if status == "incomplete" and output:
        output[-1]["status"] = "incomplete"
    return response_object(
        response_id=response_id,
        created_at=created_at,
        model=model,
        status=status,
        output=output,
        usage=response_usage(chat.get("usage")),
        incomplete=incomplete,
    )


def _function_call(call: object, p: str, fc_id: str) -> dict[str, Any]:
    fn = call.get("function") if isinstance(call, Mapping) else None
    if not isinstance(call, Mapping) or not isinstance(fn, Mapping):
        raise Untranslatable("The upstream tool call has no function.", f"{p}.function")
    if not isinstance(fn.get("name"), str):
        raise Untranslatable("The upstream tool call has no name.", f"{p}.function.name")
    arguments = fn.get("arguments") or "{}"
    if not isinstance(arguments, str):  # a few servers send the arguments as an object
        arguments = orjson.dumps(arguments).decode()
    call_id = call.get("id") if isinstance(call.get("id"), str) else f"call_{fc_id}"
    return {
        "type": "function_call",
        "id": fc_id,
        "call_id": call_id,
        "name": fn["name"],
        "arguments": arguments,
        "status": "completed",
    }
