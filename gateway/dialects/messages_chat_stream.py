"""An OpenAI chat.completion.chunk stream as an Anthropic Messages SSE stream.

Anthropic's stream is message_start, ping, then per content block content_block_start,
content_block_delta..., content_block_stop (indices 0, 1, ... in the order of the final
`content`), then message_delta (stop_reason, cumulative usage) and message_stop. Chat streams
interleave nothing: reasoning, text and each tool call come as runs of fragments, so a block is
stopped when the next kind (or the next tool call) starts.

The readers of chat output in Messages terms (usage, stop reason, reasoning) live here too, for
`messages_chat.reply_from_chat` to share them without an import cycle.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeGuard

import orjson


def sse(event: Mapping[str, Any]) -> bytes:
    """One Messages SSE event: the `event:` name is the data's `type`."""
    return b"event: %s\ndata: %s\n\n" % (str(event["type"]).encode(), orjson.dumps(event))


# sse() of a content_block_delta, its index and delta filled in: the same bytes, per fragment
# without building and encoding the outer object.
_DELTA = (
    b'event: content_block_delta\ndata: {"type":"content_block_delta","index":%d,"delta":%s}\n\n'
)
_TEXT_DELTA = b'{"type":"text_delta","text":%s}'


def is_map(value: object) -> TypeGuard[Mapping[str, Any]]:
    """isinstance(value, Mapping), without the ABC check for the parsed JSON's dicts."""
    return type(value) is dict or isinstance(value, Mapping)


_TEXT_KEYS = frozenset({"content", "role"})


def text_only(chunk: Mapping[str, Any]) -> str | None:
    """The text of a chunk that carries nothing else (no usage, one choice of index 0 whose
    delta is its content and at most a role, no finish, no stop string): most of a stream."""
    choices = chunk.get("choices")
    if chunk.get("usage") is not None or type(choices) is not list or len(choices) != 1:
        return None
    choice = choices[0]
    if type(choice) is not dict or choice.get("index", 0) != 0 or choice.get("finish_reason"):
        return None
    delta = choice.get("delta")
    if type(delta) is not dict or not delta.keys() <= _TEXT_KEYS or matched_stop(choice):
        return None
    text = delta.get("content")
    return text if type(text) is str else None


def chunk_usage(chunk: Mapping[str, Any]) -> Mapping[str, Any] | None:
    usage = chunk.get("usage")
    return usage if usage is not None and is_map(usage) else None


def first_choices(chunk: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The chunk's choice of index 0 (n > 1 is not translated), if it has one."""
    choices = chunk.get("choices")
    return [
        c
        for c in (choices if isinstance(choices, list) else ())
        if is_map(c) and c.get("index", 0) == 0
    ]


class StreamFromChat:
    """Turns parsed chat.completion.chunk objects, in order, into Anthropic SSE events."""

    def __init__(self, *, model: str, message_id: str, input_tokens: int) -> None:
        self.model = model
        self.message_id = message_id
        self.input_tokens = input_tokens
        self._index = -1  # the index of the last block started
        self._open: str | None = None  # "text", "thinking" or "tool": the block still open
        self._tool: tuple[int, str | None] | None = None  # the open tool call: (index, id)
        self._tool_used = False
        self._refused = False
        self._finish: object = None
        self._matched: str | None = None
        self._usage: Mapping[str, Any] | None = None
        self._fragments = 0  # deltas sent: the output estimate when no usage comes

    def start(self) -> list[bytes]:
        message: dict[str, Any] = {
            "id": self.message_id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {
                "input_tokens": self.input_tokens,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
                "output_tokens": 1,
            },
        }
        return [sse({"type": "message_start", "message": message}), sse({"type": "ping"})]

    def feed(self, chunk: Mapping[str, Any]) -> list[bytes]:
        text = text_only(chunk)
        if text:  # the usual chunk, in fewer steps: what the general path does with it
            return self._write(
                "text", {"type": "text", "text": ""}, _TEXT_DELTA % orjson.dumps(text)
            )
        return self._feed(chunk)

    def _feed(self, chunk: Mapping[str, Any]) -> list[bytes]:
        out: list[bytes] = []
        self._usage = chunk_usage(chunk) or self._usage
        for choice in first_choices(chunk):
            delta = choice.get("delta")
            if is_map(delta):
                self._delta(delta, out)
            if choice.get("finish_reason"):
                self._finish = choice["finish_reason"]
            self._matched = matched_stop(choice) or self._matched
        return out

    def finish(self) -> list[bytes]:
        out = self._stop()
        reason, sequence = stop_reason_of(
            self._finish, self._matched, tool_use=self._tool_used, refused=self._refused
        )
        usage = (
            usage_from_chat(self._usage)
            if self._usage is not None
            else {"output_tokens": self._fragments}
        )
        delta = {"stop_reason": reason, "stop_sequence": sequence}
        out.append(sse({"type": "message_delta", "delta": delta, "usage": usage}))
        out.append(sse({"type": "message_stop"}))
        return out

    def error(self, message: str, error_type: str = "api_error") -> bytes:
        return sse({"type": "error", "error": {"type": error_type, "message": message}})

    # --- blocks ---------------------------------------------------------------------------

    def _delta(self, delta: Mapping[str, Any], out: list[bytes]) -> None:
        reasoning = reasoning_of(delta)
        if reasoning:
            block = {"type": "thinking", "thinking": "", "signature": ""}
            out += self._write("thinking", block, {"type": "thinking_delta", "thinking": reasoning})
        for key in ("content", "refusal"):
            text = delta.get(key)
            if isinstance(text, str) and text:
                self._refused = self._refused or key == "refusal"
                block = {"type": "text", "text": ""}
                out += self._write("text", block, _TEXT_DELTA % orjson.dumps(text))
        calls = delta.get("tool_calls")
        for call in calls if isinstance(calls, list) else ():
            if is_map(call):
                out += self._call(call)

    def _call(self, call: Mapping[str, Any]) -> list[bytes]:
        """One tool call fragment: a new tool_use block when the call's index (or id) is new,
        then its arguments as input_json_delta."""
        fn = call.get("function")
        fn = fn if is_map(fn) else {}
        index = call.get("index", 0)
        index = index if isinstance(index, int) else 0
        call_id = call.get("id") if isinstance(call.get("id"), str) else None
        out: list[bytes] = []
        if (
            self._open != "tool"
            or self._tool is None
            or self._tool[0] != index
            or (call_id is not None and call_id != self._tool[1])
        ):
            out += self._stop()
            block: dict[str, Any] = {
                "type": "tool_use",
                "id": call_id or f"{self.message_id}_tool_{index}",
                "name": fn.get("name") if isinstance(fn.get("name"), str) else "",
                "input": {},
            }
            out += self._begin("tool", block)
            self._tool = (index, call_id)
            self._tool_used = True
        arguments = fn.get("arguments")
        if isinstance(arguments, str) and arguments:
            out += self._write(
                "tool", None, {"type": "input_json_delta", "partial_json": arguments}
            )
        return out

    def _write(
        self, kind: str, block: Mapping[str, Any] | None, delta: Mapping[str, Any] | bytes
    ) -> list[bytes]:
        """A delta (or its JSON) for the open block of `kind`, starting `block` first when
        another is open."""
        out: list[bytes] = []
        if self._open != kind and block is not None:
            out += self._stop()
            out += self._begin(kind, block)
        self._fragments += 1
        encoded = delta if isinstance(delta, bytes) else orjson.dumps(delta)
        out.append(_DELTA % (self._index, encoded))
        return out

    def _begin(self, kind: str, block: Mapping[str, Any]) -> list[bytes]:
        self._index += 1
        self._open = kind
        return [sse({"type": "content_block_start", "index": self._index, "content_block": block})]

    def _stop(self) -> list[bytes]:
        if self._open is None:
            return []
        self._open = None
        self._tool = None
        return [sse({"type": "content_block_stop", "index": self._index})]


# --- chat output in Messages terms (the reply reads these too) ------------------------------

_STOP_REASONS = {
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}


def reasoning_of(message: Mapping[str, Any]) -> str:
    """The reasoning text some OpenAI-compatible servers return beside the content:
    `reasoning_content` (DeepSeek, vLLM, SGLang) or `reasoning` (OpenRouter, newer vLLM)."""
    for key in ("reasoning_content", "reasoning"):
        value = message.get(key)
        if isinstance(value, str) and value:
            return value
    return ""


def matched_stop(choice: Mapping[str, Any]) -> str | None:
    """The stop string that ended the choice, where the server says (vLLM's `stop_reason`,
    SGLang's `matched_stop`; an int there is a token id, not one of the client's strings)."""
    for key in ("stop_reason", "matched_stop"):
        value = choice.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def stop_reason_of(
    finish_reason: object, matched: str | None, *, tool_use: bool, refused: bool = False
) -> tuple[str, str | None]:
    """Anthropic's (stop_reason, stop_sequence) for a chat finish_reason. Tool calls make it
    tool_use even when a server says `stop` (the agent loop waits for tool_use)."""
    if refused:
        return "refusal", None
    reason = _STOP_REASONS.get(finish_reason) if isinstance(finish_reason, str) else None
    if reason is None and tool_use:
        reason = "tool_use"
    if reason is not None:
        return reason, None
    if matched is not None:
        return "stop_sequence", matched
    return "end_turn", None


def _count(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        return 0
    return int(value)


def usage_from_chat(usage: object) -> dict[str, Any]:
    """Anthropic usage from chat usage: Anthropic counts cache reads and writes apart from
    `input_tokens`, chat counts them inside `prompt_tokens`."""
    usage = usage if isinstance(usage, Mapping) else {}
    details = usage.get("prompt_tokens_details")
    details = details if isinstance(details, Mapping) else {}
    read, written = _count(details.get("cached_tokens")), _count(details.get("cache_write_tokens"))
    out: dict[str, Any] = {
        "input_tokens": max(_count(usage.get("prompt_tokens")) - read - written, 0),
        "cache_creation_input_tokens": written,
        "cache_read_input_tokens": read,
        "output_tokens": _count(usage.get("completion_tokens")),
    }
    completion = usage.get("completion_tokens_details")
    thinking = _count(completion.get("reasoning_tokens")) if isinstance(completion, Mapping) else 0
    if thinking:
        out["output_tokens_details"] = {"thinking_tokens": thinking}
    return out
