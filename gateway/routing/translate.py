"""Serving one dialect from a deployment of another: the request's body translated for the
upstream, its reply and stream events translated back (gateway.dialects does the pure mapping;
this module applies it to the request path's types). One entry per translation in TRANSLATIONS.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, Protocol

import orjson

from gateway.core.operation import Operation
from gateway.core.usage import Usage
from gateway.dialects import messages_chat, responses_chat
from gateway.dialects.messages_chat_stream import StreamFromChat as MessagesEvents
from gateway.dialects.responses_chat_stream import StreamFromChat as ResponsesEvents
from gateway.errors import UpstreamProtocolError
from gateway.routing.request import GatewayRequest
from gateway.upstream.base import Reply, StreamReply
from gateway.upstream.sse import EventSplitter, data_of

MALFORMED = ("upstream sent a malformed event", "upstream_malformed_chunk")


class Translation(Protocol):
    def body(self, req: GatewayRequest, upstream_model: str) -> Mapping[str, Any]: ...

    def reply(self, reply: Reply, req: GatewayRequest) -> Reply: ...

    def stream(self, stream: StreamReply, req: GatewayRequest) -> StreamReply: ...


class EventTranslator(Protocol):
    """A dialect's stream built from chat chunks (gateway.dialects' StreamFromChat classes)."""

    def start(self) -> list[bytes]: ...

    def feed(self, chunk: Mapping[str, Any]) -> list[bytes]: ...

    def finish(self) -> list[bytes]: ...

    def error(self, message: str) -> bytes: ...


class MessagesViaChat:
    """Anthropic Messages served by a chat-completions deployment."""

    def body(self, req: GatewayRequest, upstream_model: str) -> Mapping[str, Any]:
        return messages_chat.request_to_chat(req.body, upstream_model=upstream_model)

    def reply(self, reply: Reply, req: GatewayRequest) -> Reply:
        return _reply(reply, lambda chat: messages_chat.reply_from_chat(chat, model=req.model))

    def stream(self, stream: StreamReply, req: GatewayRequest) -> StreamReply:
        events = MessagesEvents(
            model=req.model,
            message_id=f"msg_{req.request_id}",
            input_tokens=req.demand.prompt_tokens,  # message_start's: the real one ends it
        )
        return TranslatedStream(stream, events)


class ResponsesViaChat:
    """The OpenAI Responses API served by a chat-completions deployment (stateless features)."""

    def body(self, req: GatewayRequest, upstream_model: str) -> Mapping[str, Any]:
        return responses_chat.request_to_chat(req.body, upstream_model=upstream_model)

    def reply(self, reply: Reply, req: GatewayRequest) -> Reply:
        return _reply(
            reply,
            lambda chat: responses_chat.reply_from_chat(
                chat,
                model=req.model,
                response_id=f"resp_{req.request_id}",
                created_at=int(time.time()),
            ),
        )

    def stream(self, stream: StreamReply, req: GatewayRequest) -> StreamReply:
        events = ResponsesEvents(
            model=req.model, response_id=f"resp_{req.request_id}", created_at=int(time.time())
        )
        return TranslatedStream(stream, events)


TRANSLATIONS: dict[Operation, Translation] = {
    Operation.MESSAGES: MessagesViaChat(),
    Operation.RESPONSES: ResponsesViaChat(),
}


def _reply(reply: Reply, translate: Callable[[Any], Mapping[str, Any]]) -> Reply:
    try:
        translated = translate(orjson.loads(reply.body))
    except (orjson.JSONDecodeError, ValueError, KeyError, TypeError) as exc:
        raise UpstreamProtocolError(f"upstream reply cannot be translated: {exc}") from None
    return Reply(orjson.dumps(translated), reply.usage, reply.headers)


class TranslatedStream:
    """A chat-chunk stream relayed in the client's dialect: the translator's opening events
    first, each chunk's text, reasoning and tool calls as its events, its closing events (with
    the vendor's real usage) at [DONE]; a break as the dialect's error event. Every chunk is
    parsed here, so a chunk that is not JSON (past the inner stream's check of its shape) ends
    the stream as a malformed one."""

    def __init__(self, inner: StreamReply, events: EventTranslator) -> None:
        self._inner = inner
        self._events = events
        self.ttft_ms = inner.ttft_ms
        self.headers = inner.headers
        self.usage: Usage | None = inner.usage
        self.completion_events = inner.completion_events
        self.truncated = inner.truncated
        self.failure = inner.failure
        self._malformed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        events = self._events
        yield b"".join(events.start())
        splitter = EventSplitter()
        try:
            async for chunk in self._inner:
                out: list[bytes] = []
                for event in splitter.feed(chunk):
                    out += self._translated(event)
                    if self._malformed:
                        break
                if out:
                    yield b"".join(out)
                if self._malformed:
                    break
        finally:
            self._sync()

    def _translated(self, event: bytes) -> list[bytes]:
        # (the usual event, one `data: {...}` line, read without splitting it into lines)
        one_line = event.startswith(b"data: ") and b"\n" not in event
        payload = event[6:].strip() if one_line else data_of(event)
        if payload is None:
            return []
        if payload == b"[DONE]":
            return self._events.finish()
        try:
            obj: Any = orjson.loads(payload)
        except orjson.JSONDecodeError:
            self._malformed = True  # nothing after a broken event can be trusted
            return [self._events.error(MALFORMED[0])]
        if not isinstance(obj, dict):
            return []
        error = obj.get("error")
        if isinstance(error, dict) and "choices" not in obj:
            return [self._events.error(str(error.get("message") or "upstream error"))]
        return self._events.feed(obj)

    def _sync(self) -> None:
        inner = self._inner
        self.usage, self.completion_events = inner.usage, inner.completion_events
        self.truncated, self.failure = inner.truncated, inner.failure
        if self._malformed:
            self.truncated, self.failure = True, MALFORMED

    def partial_text(self) -> str:
        return self._inner.partial_text()

    def error_event(self, message: str, code: str) -> bytes:
        return self._events.error(message)

    async def aclose(self) -> None:
        try:
            await self._inner.aclose()
        finally:
            self._sync()
