"""Server-sent events, relayed as bytes: split events and parse only what accounting needs."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import orjson

from gateway.core.usage import CLAMPED, MAX_TOKENS, Usage, token_count
from gateway.errors import error_object

DONE = b"data: [DONE]"


MAX_EVENT_BYTES = 4 * 1024 * 1024  # one event; a vendor sending more without a break is broken
_FIELDS = (b"data:", b"event:", b"id:", b"retry:", b":")  # what an SSE line may start with


@dataclass(slots=True)
class EventSplitter:
    """Feed raw chunks, get back complete events. `overflow` turns true when an unfinished
    event passes MAX_EVENT_BYTES (then nothing more is buffered)."""

    _buf: bytes = b""
    overflow: bool = False

    def take(self, chunk: bytes) -> bytes:
        """The complete events buffered so far with this chunk, as they came (CRLF as LF): up
        to and including the last blank line; the unfinished rest stays buffered. A chunk of
        whole events comes back as the same object, uncopied."""
        data = self._buf + chunk if self._buf else chunk
        if b"\r" in data:  # (a CR ending the data stays buffered: its LF may come next)
            data = data.replace(b"\r\n", b"\n")
        cut = data.rfind(b"\n\n") + 2
        if cut == 1:  # no blank line yet
            self._buf, data = data, b""
        elif cut < len(data):
            self._buf, data = data[cut:], data[:cut]
        else:
            self._buf = b""
        if len(self._buf) > MAX_EVENT_BYTES:
            self.overflow, self._buf = True, b""
        return data

    def feed(self, chunk: bytes) -> list[bytes]:
        """The complete events (each without its trailing blank line)."""
        return [p for p in self.take(chunk).split(b"\n\n") if p]


def sse_lines_only(event: bytes) -> bytes:
    """The event without lines that are no SSE field (a vendor's stray text never reaches the
    client verbatim); b"" if nothing is left. The event itself when every line is a field."""
    if b"\n" not in event:
        return event if event.startswith(_FIELDS) else b""
    lines = event.split(b"\n")
    kept = [line for line in lines if line.startswith(_FIELDS)]
    return event if len(kept) == len(lines) else b"\n".join(kept)


@dataclass(frozen=True, slots=True)
class PlainEvents:
    """What of a read a dialect relays as it came, parsing nothing: a run of events that are
    each one `data: {...}` line (after one `event:` line where the dialect names its events),
    none ending the stream and none where `usage` matches (wherever usage may be). Checked
    over the whole read in C (a regular expression, a search, a count): no per-event Python."""

    grammar: re.Pattern[bytes]
    usage: re.Pattern[bytes] | None
    content: bytes  # how a content event starts (what the dialect's is_content checks)

    @classmethod
    def of(
        cls, *, named: bool, ends: tuple[bytes, ...], usage: bytes | None, content: bytes
    ) -> PlainEvents:
        """`ends`: how the events that end a stream start; `usage`: a regular expression."""
        not_end = b"(?!" + b"|".join(re.escape(end) for end in ends) + b")"
        name = rb"event: [^\n]*\n" if named else b""
        grammar = re.compile(b"(?:" + not_end + name + rb"data: \{[^\n]*\}\n\n)*")
        return cls(grammar, re.compile(usage) if usage else None, content)

    def stops(self, data: bytes) -> list[int]:
        """Where the events that may carry usage start, in order; then len(data)."""
        out = []
        for hit in self.usage.finditer(data) if self.usage is not None else ():
            start = data.rfind(b"\n\n", 0, hit.start())
            out.append(start + 2 if start >= 0 else 0)
        out.append(len(data))
        return out

    def run(self, data: bytes, pos: int, limit: int) -> tuple[int, int]:
        """(end, content events) of the run of plain events from pos, stopping by limit."""
        match = self.grammar.match(data, pos, limit)
        end = match.end() if match is not None else pos
        if end == pos:
            return pos, 0
        # A plain event has no line break but its own: "\n" + content is where one starts.
        count = data.count(b"\n" + self.content, pos, end) + data.startswith(self.content, pos)
        return end, count


def usage_of(event: bytes) -> tuple[Usage | None, bool]:
    """(usage, is_usage_only_chunk) for one event; cheap for the common no-usage event."""
    if b'"usage"' not in event or b'"usage":null' in event or b'"usage": null' in event:
        return None, False
    payload = data_of(event)
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
    """Structurally sound: a data event carries one JSON object, `{...}` (a torn or garbled
    chunk must not reach the client as text). The JSON is parsed in full only where it is
    read: the usage, the end, the first event, a translated stream's events."""
    payload = data_of(event)
    return payload is None or (payload[:1] == b"{" and payload[-1:] == b"}")


def parses(event: bytes) -> bool:
    """A data event carries JSON (no data, a comment or keep-alive, passes too)."""
    payload = data_of(event)
    if payload is None:
        return True
    try:
        orjson.loads(payload)
    except orjson.JSONDecodeError:
        return False
    return True


def delta_text(event: bytes) -> str:
    """The content of a chunk's first choice ("" if none): parsed only for resumable routes."""
    payload = data_of(event)
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
    API input/output; cached and reasoning tokens sit in the matching `*_details`.

    Vendor figures are checked: a count past MAX_TOKENS is clamped (note CLAMPED); a main count
    that is no count at all (negative, a string) makes the whole usage unusable (None), so the
    caller falls back to its own estimate instead of billing $0.
    """
    if not isinstance(raw, dict):
        return None
    prefix = ("input", "output") if "input_tokens" in raw else ("prompt", "completion")
    values = [
        raw.get(f"{prefix[0]}_tokens", 0),
        raw.get(f"{prefix[1]}_tokens", 0),
        _get(raw.get(f"{prefix[0]}_tokens_details"), "cached_tokens"),
        _get(raw.get(f"{prefix[1]}_tokens_details"), "reasoning_tokens"),
    ]
    # null: not reported; a plain count in range (the usual case) skips the checks
    counts = [
        v if type(v) is int and 0 <= v < MAX_TOKENS else 0 if v is None else token_count(v)
        for v in values
    ]
    prompt, completion, cached, reasoning = counts
    if prompt is None or completion is None:
        return None
    clamped = MAX_TOKENS in counts
    # Output counted in the total but not in completion_tokens (Gemini's OpenAI endpoint leaves
    # its thoughts out) is reasoning, billed as output: never dropped.
    total = raw.get("total_tokens")
    if type(total) is int and prompt + completion < total < MAX_TOKENS:
        hidden = total - prompt - completion
        completion += hidden
        reasoning = max(reasoning or 0, hidden)
    return Usage(
        prompt_tokens=prompt,
        completion_tokens=completion,
        cached_tokens=cached or 0,
        reasoning_tokens=reasoning or 0,
        note=CLAMPED if clamped else None,
    )


def _get(details: object, key: str) -> object:
    return details.get(key, 0) if isinstance(details, dict) else 0


def event_object(event: bytes) -> dict[str, Any] | None:
    """The JSON object an event's `data:` carries (None: no data, not JSON, not an object)."""
    try:
        obj = orjson.loads(data_of(event) or b"null")
    except orjson.JSONDecodeError:
        return None
    return obj if isinstance(obj, dict) else None


def data_of(event: bytes) -> bytes | None:
    for line in event.split(b"\n"):
        if line.startswith(b"data:"):
            return line[5:].strip()
    return None


def error_event(message: str, code: str) -> bytes:
    """An OpenAI-style error event: a broken stream must never end like a clean one."""
    return b"data: " + orjson.dumps(error_object(message, "upstream_error", code)) + b"\n\n"
