"""The operations the gateway serves: each one's public path and what the router may do with it."""

from __future__ import annotations

from enum import StrEnum


class Operation(StrEnum):
    CHAT = "chat"
    MESSAGES = "messages"
    RESPONSES = "responses"
    EMBEDDINGS = "embeddings"
    COMPLETIONS = "completions"
    COUNT_TOKENS = "count_tokens"

    @property
    def endpoint(self) -> str:
        """The OpenAI-style path a client calls (spend_log.endpoint)."""
        return _ENDPOINTS[self]

    @property
    def resumable(self) -> bool:
        """A broken stream can be continued elsewhere (the text so far goes back as a prompt)."""
        return self is Operation.CHAT

    @property
    def generates(self) -> bool:
        """It produces output tokens (and so reserves and estimates them)."""
        return self not in (Operation.EMBEDDINGS, Operation.COUNT_TOKENS)


# An operation a deployment does not serve natively, served through another, translated by
# gateway.dialects: one line per translation.
VIA: dict[Operation, Operation] = {
    Operation.MESSAGES: Operation.CHAT,
    Operation.RESPONSES: Operation.CHAT,
}


def served_as(op: Operation, native: frozenset[str]) -> Operation | None:
    """The operation to call on a deployment that serves `native` for a request of `op`: `op`
    itself, the one it is translated to, or None when the deployment cannot serve it."""
    if op in native:
        return op
    via = VIA.get(op)
    return via if via is not None and via in native else None


_ENDPOINTS = {
    Operation.CHAT: "/v1/chat/completions",
    Operation.MESSAGES: "/v1/messages",
    Operation.RESPONSES: "/v1/responses",
    Operation.EMBEDDINGS: "/v1/embeddings",
    Operation.COMPLETIONS: "/v1/completions",
    Operation.COUNT_TOKENS: "/v1/messages/count_tokens",
}
