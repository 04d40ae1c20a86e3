"""OpenAI chat-completions wire format for the simulator: request parsing and response bodies.

Plain dicts and orjson only: this runs on every simulated request and must stay cheap.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import orjson

DONE_EVENT = b"data: [DONE]\n\n"


class BadRequest(Exception):
    """The request body is not a valid chat-completions request (HTTP 400)."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """The fields of a chat-completions request that the simulator acts on."""

    model: str
    prompt: str
    prompt_tokens: int
    max_tokens: int | None
    n: int
    stream: bool
    include_usage: bool
    tool_name: str | None  # the function to call; None answers with text

    def budget(self, natural: int) -> int:
        """The tokens the rate window charges: the prompt and every choice's answer."""
        out = natural if self.max_tokens is None else min(self.max_tokens, natural)
        return self.prompt_tokens + out * self.n


@dataclass(frozen=True, slots=True)
class ToolCall:
    id: str
    name: str
    arguments: str


def parse_chat_request(raw: bytes) -> ChatRequest:
    """Validate a request body; raises BadRequest with the offending parameter."""
    body = load_object(raw)
    model = model_of(body)
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise BadRequest("'messages' must be a non-empty array", "messages")
    prompt = "".join(_message_text(m) for m in messages)
    stream_options = body.get("stream_options")
    return ChatRequest(
        model=model,
        prompt=prompt,
        prompt_tokens=estimate_tokens(prompt),
        max_tokens=max_tokens_of(body),
        n=positive_int(body, "n", default=1, maximum=128),
        stream=body.get("stream") is True,
        include_usage=isinstance(stream_options, dict)
        and stream_options.get("include_usage") is True,
        # A model that has just been given a tool's result answers with text, so agents end.
        tool_name=None if _after_tool_result(messages) else _tool_name(body),
    )


def load_object(raw: bytes) -> dict[str, Any]:
    """The JSON object of a request body (OpenAI's wording when it is not one)."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"We could not parse the JSON body of your request: {exc}") from exc
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object.")
    return body


def model_of(body: dict[str, Any]) -> str:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise BadRequest("you must provide a model parameter", "model")
    return model


def estimate_tokens(chars: str) -> int:
    """The simulator's token count of a text: characters / 4, at least 1."""
    return max(1, math.ceil(len(chars) / 4))


def _message_text(message: object) -> str:
    if not isinstance(message, dict):
        raise BadRequest("each message must be an object", "messages")
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)
        )
    return ""


def positive_int(body: dict[str, Any], key: str, *, default: int, maximum: int) -> int:
    value = body.get(key)
    if value is None:
        return default
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= maximum:
        raise BadRequest(f"'{key}' must be an integer between 1 and {maximum}", key)
    return value


def max_tokens_of(body: dict[str, Any]) -> int | None:
    for key in ("max_completion_tokens", "max_tokens"):
        if body.get(key) is not None:
            return positive_int(body, key, default=0, maximum=1 << 30)
    return None


def _after_tool_result(messages: list[Any]) -> bool:
    last = messages[-1]
    return isinstance(last, dict) and last.get("role") in ("tool", "function")


def _tool_name(body: dict[str, Any]) -> str | None:
    tools = body.get("tools")
    choice = body.get("tool_choice")
    if not isinstance(tools, list) or not tools or choice == "none":
        return None
    if isinstance(choice, dict) and isinstance(choice.get("function"), dict):
        name = choice["function"].get("name")
        if isinstance(name, str):
            return name
    first = tools[0]
    function = first.get("function") if isinstance(first, dict) else None
    name = function.get("name") if isinstance(function, dict) else None
    if not isinstance(name, str):
        raise BadRequest("tools[0].function.name is required", "tools")
    return name


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def error_body(
    message: str, *, type_: str, param: str | None = None, code: str | None = None
) -> bytes:
    """An OpenAI error object: all four keys are always present."""
    error = {"message": message, "type": type_, "param": param, "code": code}
    return orjson.dumps({"error": error})


def error_type(status: int) -> str:
    if status == 401:
        return "authentication_error"
    if status == 429:
        return "rate_limit_error"
    return "invalid_request_error" if status < 500 else "server_error"


def tool_call_dict(call: ToolCall) -> dict[str, Any]:
    function = {"name": call.name, "arguments": call.arguments}
    return {"id": call.id, "type": "function", "function": function}


def completion_body(
    *,
    cid: str,
    created: int,
    model: str,
    n: int,
    content: str | None,
    tool_call: ToolCall | None,
    finish_reason: str,
    usage: dict[str, int],
) -> bytes:
    """A complete `chat.completion` object with `n` identical choices."""
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if tool_call is not None:
        message["tool_calls"] = [tool_call_dict(tool_call)]
    choices = [
        {"index": i, "message": message, "logprobs": None, "finish_reason": finish_reason}
        for i in range(n)
    ]
    return orjson.dumps(
        {
            "id": cid,
            "object": "chat.completion",
            "created": created,
            "model": model,
            "choices": choices,
            "usage": usage,
        }
    )


class ChunkEncoder:
    """Builds the `data: {...}\\n\\n` events of one streamed answer."""

    __slots__ = ("_head", "_include_usage", "_n")

    def __init__(self, *, cid: str, created: int, model: str, n: int, include_usage: bool):
        self._head: dict[str, Any] = {"id": cid, "object": "chat.completion.chunk"}
        self._head.update(created=created, model=model)
        self._n = n
        self._include_usage = include_usage

    def event(self, delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        choices = [
            {"index": i, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
            for i in range(self._n)
        ]
        chunk: dict[str, Any] = {**self._head, "choices": choices}
        if self._include_usage:
            chunk["usage"] = None
        return b"data: " + orjson.dumps(chunk) + b"\n\n"

    def usage_event(self, usage: dict[str, int]) -> bytes:
        chunk = {**self._head, "choices": [], "usage": usage}
        return b"data: " + orjson.dumps(chunk) + b"\n\n"
