"""An OpenAI chat.completion.chunk stream as an OpenAI Responses SSE stream.

The Responses stream is response.created and response.in_progress, then per output item
response.output_item.added, its own events, and response.output_item.done (output_index 0, 1,
... in the order of the final `output`), then response.completed (or response.incomplete, as
the API ends a truncated response) carrying the whole Response. Every event has a
`sequence_number` counting from 0; there is no [DONE]. Chat streams interleave nothing:
reasoning, text and each tool call come as runs of fragments, so an item is done when the next
kind (or the next tool call) starts. Items by kind:

- reasoning (as summary text): reasoning_summary_part.added, reasoning_summary_text.delta...,
  reasoning_summary_text.done, reasoning_summary_part.done;
- message: per part (output_text, or refusal) content_part.added, output_text.delta... (or
  refusal.delta...), output_text.done (refusal.done), content_part.done;
- function_call: function_call_arguments.delta..., function_call_arguments.done.

The Response skeleton, item ids, usage and status readers live here too, for
`responses_chat.reply_from_chat` to share them without an import cycle.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.dialects.messages_chat_stream import (
    chunk_usage,
    first_choices,
    reasoning_of,
    sse,
    stop_reason_of,
    usage_from_chat,
)

_PART_FIELD = {"output_text": "text", "refusal": "refusal"}


class StreamFromChat:
    """Turns parsed chat.completion.chunk objects, in order, into Responses SSE events."""

    def __init__(self, *, model: str, response_id: str, created_at: int) -> None:
        self.model = model
        self.response_id = response_id
        self.created_at = created_at
        self._seq = 0
        self._output: list[dict[str, Any]] = []  # the items done, in output order
        self._item: dict[str, Any] | None = None  # the open item, as accumulated so far
        self._tool: tuple[int, str | None] | None = None  # the open call's chat (index, id)
        self._finish: object = None
        self._usage: Mapping[str, Any] | None = None

    def start(self) -> list[bytes]:
        snapshot = self._response("in_progress", None)
        return [
            self._event("response.created", response=snapshot),
            self._event("response.in_progress", response=snapshot),
        ]

    def feed(self, chunk: Mapping[str, Any]) -> list[bytes]:
        out: list[bytes] = []
        self._usage = chunk_usage(chunk) or self._usage
        for choice in first_choices(chunk):
            delta = choice.get("delta")
            if isinstance(delta, Mapping):
                self._delta(delta, out)
            if choice.get("finish_reason"):
                self._finish = choice["finish_reason"]
        return out

    def finish(self) -> list[bytes]:
        status, incomplete = status_of(self._finish)
        out = self._close(status)
        response = self._response(status, response_usage(self._usage), incomplete)
        out.append(self._event(f"response.{status}", response=response))
        return out

    def error(self, message: str, code: str = "server_error") -> bytes:
        return self._event("error", code=code, message=message, param=None)

    # --- items ----------------------------------------------------------------------------

    def _delta(self, delta: Mapping[str, Any], out: list[bytes]) -> None:
        reasoning = reasoning_of(delta)
        if reasoning:
            out += self._reasoning(reasoning)
        for kind, key in (("output_text", "content"), ("refusal", "refusal")):
            text = delta.get(key)
            if isinstance(text, str) and text:
                out += self._text(kind, text)
        calls = delta.get("tool_calls")
        for call in calls if isinstance(calls, list) else ():
            if isinstance(call, Mapping):
                out += self._call(call)

    def _reasoning(self, text: str) -> list[bytes]:
        out: list[bytes] = []
        if self._kind() != "reasoning":
            out += self._close("completed")
            out += self._open({"type": "reasoning", "id": self._id("rs"), "summary": []})
            part = {"type": "summary_text", "text": ""}
            out.append(self._item_event("response.reasoning_summary_part.added", part=part))
            self._open_item()["summary"].append(part)
        self._open_item()["summary"][0]["text"] += text
        out.append(self._item_event("response.reasoning_summary_text.delta", delta=text))
        return out

    def _text(self, kind: str, text: str) -> list[bytes]:
        """A text or refusal fragment: into the open message (started when another item is
        open), in a part of its kind (started when the last part is of the other kind)."""
        out: list[bytes] = []
        if self._kind() != "message":
            out += self._close("completed")
            message = {"type": "message", "id": self._id("msg"), "status": "in_progress"}
            out += self._open({**message, "role": "assistant", "content": []})
        content: list[dict[str, Any]] = self._open_item()["content"]
        if not content or content[-1]["type"] != kind:
            out += self._close_part()
            part: dict[str, Any] = {"type": kind, _PART_FIELD[kind]: ""}
            if kind == "output_text":
                part["annotations"] = []
            out.append(self._part_event("response.content_part.added", len(content), part=part))
            content.append(part)
        content[-1][_PART_FIELD[kind]] += text
        if kind == "output_text":
            event = self._part_event("response.output_text.delta", delta=text, logprobs=[])
        else:
            event = self._part_event("response.refusal.delta", delta=text)
        out.append(event)
        return out

    def _call(self, call: Mapping[str, Any]) -> list[bytes]:
        """One tool call fragment: a new function_call item when the call's index (or id) is
        new, then its arguments as function_call_arguments.delta."""
        fn = call.get("function")
        fn = fn if isinstance(fn, Mapping) else {}
        index = call.get("index", 0)
        index = index if isinstance(index, int) else 0
        call_id = call.get("id") if isinstance(call.get("id"), str) else None
        out: list[bytes] = []
        if (
            self._kind() != "function_call"
            or self._tool is None
            or self._tool[0] != index
            or (call_id is not None and call_id != self._tool[1])
        ):
            out += self._close("completed")
            out += self._open(
                {
                    "type": "function_call",
                    "id": self._id("fc"),
                    "call_id": call_id or f"call_{self._base()}_{index}",
                    "name": fn.get("name") if isinstance(fn.get("name"), str) else "",
                    "arguments": "",
                    "status": "in_progress",
                }
            )
            self._tool = (index, call_id)
        arguments = fn.get("arguments")
        if isinstance(arguments, str) and arguments:
            self._open_item()["arguments"] += arguments
            out.append(self._item_event("response.function_call_arguments.delta", delta=arguments))
        return out

    def _open(self, item: dict[str, Any]) -> list[bytes]:
        self._item = item
        return [self._item_event("response.output_item.added", item=item)]

    def _close(self, status: str) -> list[bytes]:
        """The open item's closing events; `status` is the item's (incomplete when the
        response was cut short while it was being written)."""
        item = self._item
        if item is None:
            return []
        out: list[bytes] = []
        if item["type"] == "reasoning":
            text = item["summary"][0]["text"]
            out.append(self._item_event("response.reasoning_summary_text.done", text=text))
            part = item["summary"][0]
            out.append(self._item_event("response.reasoning_summary_part.done", part=part))
        elif item["type"] == "message":
            out += self._close_part()
        else:
            name, arguments = item["name"], item["arguments"]
            done = "response.function_call_arguments.done"
            out.append(self._item_event(done, name=name, arguments=arguments))
        if item["type"] != "reasoning" or status != "completed":
            item["status"] = status
        out.append(self._item_event("response.output_item.done", item=item))
        self._output.append(item)
        self._item = None
        self._tool = None
        return out

    def _close_part(self) -> list[bytes]:
        content = self._open_item()["content"]
        if not content:
            return []
        part = content[-1]
        if part["type"] == "output_text":
            out = [self._part_event("response.output_text.done", text=part["text"], logprobs=[])]
        else:
            out = [self._part_event("response.refusal.done", refusal=part["refusal"])]
        out.append(self._part_event("response.content_part.done", part=part))
        return out

    # --- events ---------------------------------------------------------------------------

    def _event(self, kind: str, **fields: Any) -> bytes:
        event = {"type": kind, "sequence_number": self._seq, **fields}
        self._seq += 1
        return sse(event)

    def _item_event(self, kind: str, **fields: Any) -> bytes:
        """An event about the open item (`summary_index` 0 for the reasoning summary's)."""
        item = self._open_item()
        where: dict[str, Any] = {"output_index": len(self._output)}
        if not kind.startswith("response.output_item."):
            where["item_id"] = item["id"]
        if kind.startswith("response.reasoning_summary"):
            where["summary_index"] = 0
        return self._event(kind, **where, **fields)

    def _part_event(self, kind: str, content_index: int | None = None, **fields: Any) -> bytes:
        """An event about a part of the open message (by default its last)."""
        content = self._open_item()["content"]
        index = len(content) - 1 if content_index is None else content_index
        return self._item_event(kind, content_index=index, **fields)

    def _open_item(self) -> dict[str, Any]:
        if self._item is None:  # pragma: no cover - every caller opened one first
            raise RuntimeError("no output item is open")
        return self._item

    def _kind(self) -> str | None:
        return None if self._item is None else str(self._item["type"])

    def _id(self, prefix: str) -> str:
        return item_id(prefix, self.response_id, len(self._output))

    def _base(self) -> str:
        return self.response_id.removeprefix("resp_")

    def _response(
        self,
        status: str,
        usage: dict[str, Any] | None,
        incomplete: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        return response_object(
            response_id=self.response_id,
            created_at=self.created_at,
            model=self.model,
            status=status,
            output=self._output,
            usage=usage,
            incomplete=incomplete,
        )


# --- chat output in Responses terms (the reply reads these too) -----------------------------

# stop_reason_of's Anthropic reasons for chat's `length` and `content_filter`.
_INCOMPLETE = {"max_tokens": "max_output_tokens", "refusal": "content_filter"}


def item_id(prefix: str, response_id: str, output_index: int) -> str:
    """An output item's id, as the API's (`rs_`, `msg_`, `fc_`), unique in the response."""
    return f"{prefix}_{response_id.removeprefix('resp_')}_{output_index}"


def status_of(finish_reason: object) -> tuple[str, dict[str, Any] | None]:
    """The Response status and incomplete_details for a chat finish_reason: `length` is
    incomplete for max_output_tokens, `content_filter` for content_filter."""
    reason, _ = stop_reason_of(finish_reason, None, tool_use=False)
    why = _INCOMPLETE.get(reason)
    return ("incomplete", {"reason": why}) if why else ("completed", None)


def response_usage(usage: object) -> dict[str, Any] | None:
    """Responses usage from chat usage (None when the server sent none). Both count cached
    tokens inside the input tokens; the shared reader counts them apart, so add them back."""
    if not isinstance(usage, Mapping):
        return None
    read_as_messages = usage_from_chat(usage)
    read = read_as_messages["cache_read_input_tokens"]
    written = read_as_messages["cache_creation_input_tokens"]
    inputs = read_as_messages["input_tokens"] + read + written
    outputs = read_as_messages["output_tokens"]
    details = read_as_messages.get("output_tokens_details", {})
    return {
        "input_tokens": inputs,
        "input_tokens_details": {"cached_tokens": read, "cache_write_tokens": written},
        "output_tokens": outputs,
        "output_tokens_details": {"reasoning_tokens": details.get("thinking_tokens", 0)},
        "total_tokens": inputs + outputs,
    }


def response_object(
    *,
    response_id: str,
    created_at: int,
    model: str,
    status: str,
    output: list[dict[str, Any]],
    usage: dict[str, Any] | None,
    incomplete: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A Response. The request echo fields the SDK requires (parallel_tool_calls,
    tool_choice, tools) hold the API's defaults; those it allows null are null."""
    return {
        "id": response_id,
        "object": "response",
        "created_at": created_at,
        "status": status,
        "background": False,
        "error": None,
        "incomplete_details": incomplete,
        "instructions": None,
        "metadata": {},
        "model": model,
        "output": output,
        "parallel_tool_calls": True,
        "previous_response_id": None,
        "temperature": None,
        "tool_choice": "auto",
        "tools": [],
        "top_p": None,
        "truncation": "disabled",
        "usage": usage,
    }
