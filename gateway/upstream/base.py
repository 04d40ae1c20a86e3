"""The Upstream protocol and the plain data that crosses it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from gateway.core.operation import Operation
from gateway.core.prompt import Prompt, prompt_of
from gateway.core.usage import Usage


@dataclass(frozen=True, slots=True)
class Call:
    """One attempt at one deployment."""

    operation: Operation  # picks the upstream path and how usage is read from the reply
    upstream_model: str
    body: Mapping[str, Any]  # the client's body; the adapter sets model and stream options
    stream: bool
    client_wants_usage: bool
    request_id: str
    connect_timeout_s: float | None = None  # the route's, overriding the provider's
    read_timeout_s: float | None = None
    resume: bool = False  # collect the text and defer a break's error event (route resume)
    prompt: Prompt | None = None  # the request's, read once (pools use it for prefix affinity)
    # The client's headers for a vendor of its own dialect (anthropic-version, anthropic-beta):
    # passed through unchanged, never when translating.
    headers: Mapping[str, str] = field(default_factory=dict)

    def prompt_read(self) -> Prompt:
        return self.prompt if self.prompt is not None else prompt_of(self.operation, self.body)


@dataclass(frozen=True, slots=True)
class Reply:
    """A complete (non-streamed) answer, relayed as the upstream's bytes."""

    body: bytes
    usage: Usage | None
    headers: Mapping[str, str] = field(default_factory=dict)  # rate-limit hints


class StreamReply(Protocol):
    """An opened stream whose first event has arrived (so failover is no longer possible)."""

    ttft_ms: float
    headers: Mapping[str, str]  # rate-limit hints
    usage: Usage | None  # known once the stream is exhausted
    completion_events: int  # content events relayed (a token count when usage is missing)
    truncated: bool  # the upstream ended without [DONE]
    # With Call.resume, a break is not relayed as an error event but left here (message, code)
    # for the router, which may continue the answer elsewhere.
    failure: tuple[str, str] | None

    def __aiter__(self) -> AsyncIterator[bytes]: ...

    def partial_text(self) -> str:
        """The answer's text relayed so far (collected only with Call.resume)."""
        ...

    def error_event(self, message: str, code: str) -> bytes:
        """An error event in the client's dialect: a broken stream never ends like a clean one."""
        ...

    async def aclose(self) -> None: ...


class Upstream(Protocol):
    async def complete(self, call: Call) -> Reply: ...

    async def open_stream(self, call: Call) -> StreamReply: ...

    async def probe(self) -> bool:
        """Reachable and accepting our key, asked of a free endpoint (never a billed completion)."""
        ...

    async def aclose(self) -> None: ...
