"""Sliding 60-second request and token windows that make a simulated vendor answer 429."""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

WINDOW_S = 60.0


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a request was refused and when a retry could succeed."""

    kind: str  # "requests" or "tokens", as in OpenAI's rate-limit error type
    limit: int
    retry_after_s: int


class RateWindow:
    """Requests admitted in the last minute, with their token estimates."""

    __slots__ = ("_events", "_tokens")

    def __init__(self) -> None:
        self._events: deque[tuple[float, int]] = deque()
        self._tokens = 0

    def _prune(self, now: float) -> None:
        horizon = now - WINDOW_S
        events = self._events
        while events and events[0][0] <= horizon:
            self._tokens -= events.popleft()[1]

    def admit(self, now: float, tokens: int, *, rpm: int | None, tpm: int | None) -> Refusal | None:
        """Record the request if both limits allow it, else say which limit refused it."""
        self._prune(now)
        events = self._events
        if rpm is not None and len(events) >= rpm:
            wait = events[len(events) - rpm][0] + WINDOW_S - now
            return Refusal("requests", rpm, max(1, math.ceil(wait)))
        if tpm is not None and self._tokens + tokens > tpm:
            return Refusal("tokens", tpm, self._token_wait(now, tokens, tpm))
        events.append((now, tokens))
        self._tokens += tokens
        return None

    def _token_wait(self, now: float, tokens: int, tpm: int) -> int:
        if tokens > tpm:
            return math.ceil(WINDOW_S)  # never fits; tell the client to back off a full window
        excess = self._tokens + tokens - tpm
        for at, used in self._events:
            excess -= used
            if excess <= 0:
                return max(1, math.ceil(at + WINDOW_S - now))
        return 1

    def headers(self, now: float, *, rpm: int | None, tpm: int | None) -> dict[str, str]:
        """The `x-ratelimit-*` headers OpenAI sends, for the limits that are set."""
        self._prune(now)
        out: dict[str, str] = {}
        if rpm is not None:
            out["x-ratelimit-limit-requests"] = str(rpm)
            out["x-ratelimit-remaining-requests"] = str(max(0, rpm - len(self._events)))
        if tpm is not None:
            out["x-ratelimit-limit-tokens"] = str(tpm)
            out["x-ratelimit-remaining-tokens"] = str(max(0, tpm - self._tokens))
        return out

    def clear(self) -> None:
        self._events.clear()
        self._tokens = 0
