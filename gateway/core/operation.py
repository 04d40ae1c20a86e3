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


_ENDPOINTS = {
    Operation.CHAT: "/v1/chat/completions",
    Operation.MESSAGES: "/v1/messages",
    Operation.RESPONSES: "/v1/responses",
    Operation.EMBEDDINGS: "/v1/embeddings",
    Operation.COMPLETIONS: "/v1/completions",
    Operation.COUNT_TOKENS: "/v1/messages/count_tokens",
}
