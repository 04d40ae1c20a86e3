"""Expected output length per route when a request sets no max_tokens: a recent percentile."""

from __future__ import annotations

from collections import deque

from gateway.config.runtime import Route

WINDOW = 128  # recent completions remembered per route
REFRESH = 16  # recompute the percentile every this many samples (amortised, off the hot path)
MIN_SAMPLES = 8


class OutputEstimate:
    def __init__(self, default: int, quantile: float = 0.9) -> None:
        self._default = default
        self._quantile = quantile
        self._samples: dict[str, deque[int]] = {}
        self._cached: dict[str, int] = {}
        self._pending: dict[str, int] = {}

    def expected(self, route: str) -> int:
        return self._cached.get(route, self._default)

    def observe(self, route: str, completion_tokens: int) -> None:
        samples = self._samples.get(route)
        if samples is None:
            samples = self._samples[route] = deque(maxlen=WINDOW)
        samples.append(completion_tokens)
        pending = self._pending.get(route, 0) + 1
        if len(samples) >= MIN_SAMPLES and (pending >= REFRESH or route not in self._cached):
            ordered = sorted(samples)
            index = min(int(self._quantile * len(ordered)), len(ordered) - 1)
            self._cached[route] = max(ordered[index], 1)
            pending = 0
        self._pending[route] = pending


DEFAULT_CONTEXT_WINDOW = 200_000  # a deployment that declares none


def output_cap(route: Route) -> int:
    """The most output any target of the route can produce: its largest context window."""
    return max((d.context_window or DEFAULT_CONTEXT_WINDOW for d in route.targets), default=0)
