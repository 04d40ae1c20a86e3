"""One request's walk down its ranking: its state, and the pause before a retry."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from gateway.config.runtime import Deployment, Route
from gateway.errors import UpstreamError, UpstreamStatusError
from gateway.routing.request import GatewayRequest
from gateway.routing.scoring import Ranking
from gateway.state.quota import Denied, Grant
from gateway.state.tenant_limits import TenantGrant
from gateway.telemetry.tracing import NO_TRACE, RequestTrace
from gateway.upstream.base import Upstream


@dataclass(frozen=True, slots=True)
class Timing:
    """The router's randomness, clock and pauses (tests inject their own to be deterministic)."""

    rng: random.Random = field(default_factory=random.Random)
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep  # the pause before a retry


@dataclass(slots=True)
class Run:
    """One client request's walk down its ranking: the loop appends what each attempt returned."""

    req: GatewayRequest
    route: Route
    ranking: Ranking
    upstreams: Mapping[str, Upstream]  # this request's, even if a reload swaps them meanwhile
    tokens: int  # what each reservation holds: prompt + expected output
    failures: list[tuple[Deployment, UpstreamError]] = field(default_factory=list)
    denials: list[Denied] = field(default_factory=list)  # full by our counters: not attempts
    upstream_s: float = 0.0  # time spent on failed attempts
    tenant: TenantGrant | None = None  # the caller's key and team reservation, settled at the end
    trace: RequestTrace = NO_TRACE
    # The first candidate's reservation, made with the caller's (one round trip), for walk.
    first: tuple[Deployment, Grant | Denied] | None = None

    def reserved(self, dep: Deployment) -> Grant | Denied | None:
        """The reservation made for `dep` with the caller's, if any (taken once)."""
        first, self.first = self.first, None
        return first[1] if first is not None and first[0] is dep else None

    def elapsed(self) -> float:
        return time.perf_counter() - self.req.received


def backoff_s(attempt: int, last: UpstreamError) -> float:
    """Pause before trying the same deployment again: its Retry-After (up to 5 s), else 0.1 s
    doubling."""
    if isinstance(last, UpstreamStatusError) and last.retry_after_s:
        return min(last.retry_after_s, 5.0)
    return min(0.1 * 2.0 ** (attempt - 1), 2.0)
