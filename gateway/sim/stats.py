"""Counters of what a simulated vendor received and answered, read by tests and benchmarks."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

MAX_TIMESTAMPS = 100_000


@dataclass
class VendorStats:
    """Mutable counters; `timestamps` holds request arrival times (time.monotonic), bounded."""

    requests: int = 0
    by_status: dict[int, int] = field(default_factory=dict)
    # Per endpoint path (e.g. "/v1/embeddings"): requests received, and answers by status.
    requests_by_endpoint: dict[str, int] = field(default_factory=dict)
    by_endpoint: dict[str, dict[int, int]] = field(default_factory=dict)
    streamed: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    resets: int = 0  # connections closed on purpose without a response (outage mode "reset")
    disconnects: int = 0  # clients that left before the answer was complete
    faults: int = 0  # requests that got the vendor's injected `fault` (see VendorSpec)
    # Anthropic dialect: prompt tokens written to and read from the prompt cache (also counted
    # in `prompt_tokens`, which holds every input token).
    cache_write_tokens: int = 0
    cache_read_tokens: int = 0
    # Engine mode only (see pool.py): prefix-cache tokens looked up and found, as vLLM counts
    # them, and the longest queue of requests waiting for a batch slot.
    prefix_cache_queries: int = 0
    prefix_cache_hits: int = 0
    max_queue_depth: int = 0
    timestamps: deque[float] = field(default_factory=lambda: deque(maxlen=MAX_TIMESTAMPS))

    def arrived(self, now: float, endpoint: str) -> None:
        self.requests += 1
        self.requests_by_endpoint[endpoint] = self.requests_by_endpoint.get(endpoint, 0) + 1
        self.timestamps.append(now)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def answered(self, status: int, endpoint: str) -> None:
        self.by_status[status] = self.by_status.get(status, 0) + 1
        statuses = self.by_endpoint.setdefault(endpoint, {})
        statuses[status] = statuses.get(status, 0) + 1

    def reset(self) -> None:
        """Zero every counter except `in_flight`, which live requests will still decrement."""
        self.requests = self.streamed = self.resets = self.disconnects = self.faults = 0
        self.prompt_tokens = self.completion_tokens = 0
        self.cache_write_tokens = self.cache_read_tokens = 0
        self.prefix_cache_queries = self.prefix_cache_hits = self.max_queue_depth = 0
        self.max_in_flight = self.in_flight
        self.by_status.clear()
        self.requests_by_endpoint.clear()
        self.by_endpoint.clear()
        self.timestamps.clear()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready view (status codes as string keys; timestamps left out)."""
        return {
            "requests": self.requests,
            "by_status": _statuses(self.by_status),
            "requests_by_endpoint": dict(sorted(self.requests_by_endpoint.items())),
            "by_endpoint": {path: _statuses(s) for path, s in sorted(self.by_endpoint.items())},
            "streamed": self.streamed,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "in_flight": self.in_flight,
            "max_in_flight": self.max_in_flight,
            "resets": self.resets,
            "disconnects": self.disconnects,
            "faults": self.faults,
            "cache_write_tokens": self.cache_write_tokens,
            "cache_read_tokens": self.cache_read_tokens,
            "prefix_cache_queries": self.prefix_cache_queries,
            "prefix_cache_hits": self.prefix_cache_hits,
            "max_queue_depth": self.max_queue_depth,
        }


def _statuses(counts: dict[int, int]) -> dict[str, int]:
    return {str(k): v for k, v in sorted(counts.items())}
