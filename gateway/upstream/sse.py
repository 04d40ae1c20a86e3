"""Server-sent events, relayed as bytes: split events and parse only what accounting needs."""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from gateway.core.usage import Usage
from gateway.errors import error_object

DONE = b"data: [DONE]"


@dataclass(slots=True)
class EventSplitter:
    """Feed raw chunks, get back complete events (each without its trailing blank line)."""

    _buf: bytes = b""

    def feed(self, chunk: bytes) -> list[bytes]:
        if b"\r" in chunk:
            chunk = chunk.replace(b"\r\n", b"\n")
        data = self._buf + chunk if self._buf else chunk
        parts = data.split(b"\n\n")
        self._buf = parts.pop()
        return [p for p in parts if p]

    def rest(self) -> bytes:
        return self._buf.strip()


def usage_of(event: bytes) -> tuple[Usage | None, bool]:
    """(usage, is_usage_only_chunk) for one event; cheap for the common no-usage event."""
    if b'"usage"' not in event or b'"usage":null' in event or b'"usage": null' in event:
        return None, False
    payload = _data_of(event)
    if payload is None:
        return None, False
    try:
        obj = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None, False
    if not isinstance(obj, dict):
        return None, False
    return parse_usage(obj.get("usage")), obj.get("choices") == []


def well_formed(event: bytes) -> bool:
    """A data event must carry JSON: a torn or garbled chunk must not reach the client as text."""
    payload = _data_of(event)
    if payload is None:
        return True  # a comment or keep-alive
    try:
        orjson.loads(payload)
    except orjson.JSONDecodeError:
        return False
    return True


def delta_text(event: bytes) -> str:
    """The content of a chunk's first choice ("" if none): parsed only for resumable routes."""
    payload = _data_of(event)
    try:
        obj = orjson.loads(payload) if payload else None
    except orjson.JSONDecodeError:
        return ""
    choices = obj.get("choices") if isinstance(obj, dict) else None
    if not choices or not isinstance(choices[0], dict):
        return ""
    delta = choices[0].get("delta")
    content = delta.get("content") if isinstance(delta, dict) else None
    return content if isinstance(content, str) else ""


def parse_usage(raw: object) -> Usage | None:
    """OpenAI's usage object: chat and completions name tokens prompt/completion, the Responses
    API input/output; cached and reasoning tokens sit in the matching `*_details`."""
    if not isinstance(raw, dict):
        return None
    prefix = ("input", "output") if "input_tokens" in raw else ("prompt", "completion")
    prompt_details = raw.get(f"{prefix[0]}_tokens_details")
    completion_details = raw.get(f"{prefix[1]}_tokens_details")
    return Usage(
        prompt_tokens=_int(raw.get(f"{prefix[0]}_tokens")),
        completion_tokens=_int(raw.get(f"{prefix[1]}_tokens")),
        cached_tokens=_int(_get(prompt_details, "cached_tokens")),
        reasoning_tokens=_int(_get(completion_details, "reasoning_tokens")),
    )


def _get(details: object, key: str) -> object:
    return details.get(key) if isinstance(details, dict) else 0


def _int(value: object) -> int:
    return value if isinstance(value, int) and value >= 0 else 0


def _data_of(event: bytes) -> bytes | None:
    for line in event.split(b"\n"):
        if line.startswith(b"data:"):
            return line[5:].strip()
    return None


def error_event(message: str, code: str) -> bytes:
    """An OpenAI-style error event: a broken stream must never end like a clean one."""
    return b"data: " + orjson.dumps(error_object(message, "upstream_error", code)) + b"\n\n"
