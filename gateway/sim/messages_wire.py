"""Anthropic Messages wire format for the simulator: the dialect (x-api-key, error shapes,
rate-limit headers), request parsing with cache breakpoints, reply bodies and stream events.

Shapes follow the official SDK's types (anthropic-sdk-python src/anthropic/types: Message,
Usage, RawMessageStreamEvent, MessageTokensCount, shared/error_response).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from gateway.sim import wire
from gateway.sim.dialect import Failure
from gateway.sim.wire import BadRequest

if TYPE_CHECKING:
    from collections.abc import Mapping

    from gateway.sim.limits import Refusal
    from gateway.sim.prompt_cache import CacheUse

VERSION_HEADER = "anthropic-version"
END_EVENT = b"event: message_stop"
BROKEN_EVENT = b"event: content_block_delta\ndata: {broken\n\n"
STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use"}
ERROR_TYPES = {
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
_RATE_HEADERS = {
    "x-ratelimit-limit-requests": "anthropic-ratelimit-requests-limit",
    "x-ratelimit-remaining-requests": "anthropic-ratelimit-requests-remaining",
    "x-ratelimit-limit-tokens": "anthropic-ratelimit-tokens-limit",
    "x-ratelimit-remaining-tokens": "anthropic-ratelimit-tokens-remaining",
}


def error_type(status: int) -> str:
    return ERROR_TYPES.get(status) or ("invalid_request_error" if status < 500 else "api_error")


class AnthropicDialect:
    """api.anthropic.com: `x-api-key`, a required `anthropic-version`, `{"type": "error"}`
    bodies, `anthropic-ratelimit-*` headers, 529 when overloaded."""

    outage = Failure(529, "Overloaded")

    def check(self, headers: Mapping[str, str], api_key: str | None) -> Failure | None:
        if api_key is not None:
            given = headers.get("x-api-key")
            if given is None:
                return Failure(401, "x-api-key header is required")
            if given != api_key:
                return Failure(401, "invalid x-api-key")
        if VERSION_HEADER not in headers:
            return Failure(400, "anthropic-version: header is required")
        return None

    def error_body(self, failure: Failure) -> bytes:
        kind = failure.type or error_type(failure.status)
        return orjson.dumps({"type": "error", "error": {"type": kind, "message": failure.message}})

    def not_found(self, model: str) -> Failure:
        return Failure(404, f"model: {model}")

    def rate_limited(self, refusal: Refusal) -> Failure:
        kind = "requests" if refusal.kind == "requests" else "input tokens"
        msg = (
            "This request would exceed the rate limit for your organization of "
            f"{refusal.limit} {kind} per minute."
        )
        return Failure(429, msg)

    def simulated(self, status: int) -> Failure:
        return Failure(status, "Overloaded" if status == 529 else f"Simulated error {status}.")

    def rate_headers(self, headers: dict[str, str]) -> dict[str, str]:
        return {_RATE_HEADERS.get(k, k): v for k, v in headers.items()}

    def models_body(self, models: list[str], owner: str) -> bytes:
        created = "2025-01-01T00:00:00Z"
        data = [
            {"type": "model", "id": m, "display_name": m, "created_at": created} for m in models
        ]
        body = {"data": data, "has_more": False, "first_id": models[0], "last_id": models[-1]}
        return orjson.dumps(body)


ANTHROPIC = AnthropicDialect()


@dataclass(frozen=True, slots=True)
class MessagesRequest:
    """The fields of a Messages (or count_tokens) request that the simulator acts on."""

    model: str
    prompt: str  # system and message texts: what the answer's words hash (as in chat)
    cacheable: str  # tools, system and messages in order: what is counted and cached
    breakpoints: list[int]  # offsets in `cacheable` where a `cache_control` prefix ends
    prompt_tokens: int  # every input token (fresh, cache write and cache read)
    max_tokens: int | None  # None only when counting tokens
    stream: bool
    tool_name: str | None  # the tool to use; None answers with text

    def budget(self, natural: int) -> int:
        out = natural if self.max_tokens is None else min(self.max_tokens, natural)
        return self.prompt_tokens + out


class _Prompt:
    """The request's content in Anthropic's cache order, with its breakpoints."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.size = 0
        self.breakpoints: list[int] = []
        self.words: list[str] = []

    def add(self, text: str, block: object, *, words: bool = True) -> None:
        self.parts.append(text)
        self.size += len(text)
        if words:
            self.words.append(text)
        if isinstance(block, dict) and block.get("cache_control") is not None:
            self.mark()

    def mark(self) -> None:
        if self.size and (not self.breakpoints or self.breakpoints[-1] != self.size):
            self.breakpoints.append(self.size)


def parse_messages_request(raw: bytes) -> MessagesRequest:
    """Validate a Messages body; raises BadRequest naming the offending field."""
    return _parse(raw, counting=False)


def parse_count_tokens_request(raw: bytes) -> MessagesRequest:
    """Validate a count_tokens body: a Messages body without `max_tokens`."""
    return _parse(raw, counting=True)


def _parse(raw: bytes, *, counting: bool) -> MessagesRequest:
    body = wire.load_object(raw)
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise BadRequest("model: Field required", "model")
    max_tokens = None
    if not counting:
        if body.get("max_tokens") is None:
            raise BadRequest("max_tokens: Field required", "max_tokens")
        max_tokens = wire.positive_int(body, "max_tokens", default=0, maximum=1 << 30)
    prompt = _Prompt()
    tool_name = _tools(body, prompt)
    _system(body.get("system"), prompt)
    _messages(body.get("messages"), prompt)
    if body.get("cache_control") is not None:  # automatic caching: the whole prompt
        prompt.mark()
    cacheable = "".join(prompt.parts)
    return MessagesRequest(
        model=model,
        prompt="".join(prompt.words),
        cacheable=cacheable,
        breakpoints=prompt.breakpoints,
        prompt_tokens=wire.estimate_tokens(cacheable),
        max_tokens=max_tokens,
        stream=body.get("stream") is True and not counting,
        tool_name=None if _after_tool_result(body.get("messages")) else tool_name,
    )


def _after_tool_result(messages: object) -> bool:
    """The last user turn carries a tool_result: a model answers it with text."""
    if not isinstance(messages, list) or not messages or not isinstance(messages[-1], dict):
        return False
    content = messages[-1].get("content")
    return isinstance(content, list) and any(
        isinstance(b, dict) and b.get("type") == "tool_result" for b in content
    )


def _tools(body: dict[str, Any], prompt: _Prompt) -> str | None:
    """Add the tool definitions to the prompt; the tool to use (as chat decides), or None."""
    tools = body.get("tools")
    if tools is None:
        return None
    if not isinstance(tools, list):
        raise BadRequest("tools: Input should be a valid list", "tools")
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict) or not isinstance(tool.get("name"), str):
            raise BadRequest(f"tools.{i}.name: Field required", "tools")
        prompt.add(_json(tool), tool, words=False)
    choice = body.get("tool_choice")
    kind = choice.get("type") if isinstance(choice, dict) else None
    if not tools or kind == "none":
        return None
    if kind == "tool" and isinstance(choice, dict) and isinstance(choice.get("name"), str):
        name: str = choice["name"]
        return name
    first: str = tools[0]["name"]
    return first


def _system(system: object, prompt: _Prompt) -> None:
    if system is None:
        return
    if isinstance(system, str):
        prompt.add(system, None)
        return
    if not isinstance(system, list):
        raise BadRequest("system: Input should be a valid string or list", "system")
    for i, block in enumerate(system):
        if not isinstance(block, dict) or not isinstance(block.get("text"), str):
            raise BadRequest(f"system.{i}.text: Field required", "system")
        prompt.add(block["text"], block)


def _messages(messages: object, prompt: _Prompt) -> None:
    if messages is None:
        raise BadRequest("messages: Field required", "messages")
    if not isinstance(messages, list) or not messages:
        raise BadRequest("messages: at least one message is required", "messages")
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
            raise BadRequest(f"messages.{i}.role: Input should be 'user' or 'assistant'")
        content = message.get("content")
        if isinstance(content, str):
            prompt.add(content, None)
        elif isinstance(content, list):
            for block in content:
                if not isinstance(block, dict):
                    raise BadRequest(f"messages.{i}.content: Input should be a valid list")
                text, words = _block_text(block)
                prompt.add(text, block, words=words)
        else:
            raise BadRequest(f"messages.{i}.content: Field required", "messages")


def _block_text(block: dict[str, Any]) -> tuple[str, bool]:
    """A content block as counted text, and whether it is words the answer hashes."""
    kind = block.get("type")
    if kind == "text" and isinstance(block.get("text"), str):
        return block["text"], True
    if kind == "tool_result":
        content = block.get("content")
        if isinstance(content, str):
            return content, True
        if isinstance(content, list):
            texts = [b["text"] for b in content if isinstance(b, dict) and "text" in b]
            return "".join(t for t in texts if isinstance(t, str)), True
        return "", True
    return _json(block), False  # tool_use, images, documents: counted as their JSON


def _json(block: dict[str, Any]) -> str:
    return orjson.dumps({k: v for k, v in block.items() if k != "cache_control"}).decode()


def usage(cache: CacheUse, output_tokens: int) -> dict[str, int]:
    return {
        "input_tokens": cache.input_tokens,
        "cache_creation_input_tokens": cache.cache_creation_input_tokens,
        "cache_read_input_tokens": cache.cache_read_input_tokens,
        "output_tokens": output_tokens,
    }


def message(
    *,
    mid: str,
    model: str,
    content: list[dict[str, Any]],
    stop_reason: str | None,
    usage: dict[str, int],
) -> dict[str, Any]:
    """A `message` object (a whole reply, or the one in message_start)."""
    return {
        "id": mid,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": usage,
    }


def tool_use_block(call: wire.ToolCall, *, streamed: bool = False) -> dict[str, Any]:
    """The `tool_use` content block of a tool call (its input empty when it is streamed)."""
    tool_input = {} if streamed else orjson.loads(call.arguments)
    uid = "toolu_" + call.id.removeprefix("call_")
    return {"type": "tool_use", "id": uid, "name": call.name, "input": tool_input}


def event(kind: str, data: dict[str, Any]) -> bytes:
    """One server-sent event as Anthropic sends it: `event: <type>` then `data: {...}`."""
    return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


def text_delta(text: str) -> bytes:
    delta = {"type": "text_delta", "text": text}
    return event("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta})


def json_delta(partial: str) -> bytes:
    delta = {"type": "input_json_delta", "partial_json": partial}
    return event("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta})
