"""One request's walk down its ranking: its state, the pause before a retry, a cancelled race."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from gateway.config.runtime import Deployment, Route
from gateway.errors import UpstreamError, UpstreamStatusError
from gateway.routing.request import ChatRequest, Served
from gateway.routing.scoring import Ranking
from gateway.state.quota import Denied
from gateway.upstream.base import Upstream


class Failed(Exception):
    """An attempt failed in a way the next candidate may fix (already settled and noted)."""


@dataclass(slots=True)
class Run:
    """One client request's walk down its ranking."""

    req: ChatRequest
    route: Route
    ranking: Ranking
    upstreams: Mapping[str, Upstream]  # this request's, even if a reload swaps them meanwhile
    tokens: int
    failures: list[tuple[Deployment, UpstreamError]] = field(default_factory=list)
    denials: list[Denied] = field(default_factory=list)
    upstream_s: float = 0.0

    def elapsed(self) -> float:
        return time.perf_counter() - self.req.received


def backoff_s(attempt: int, last: UpstreamError) -> float:
    """Pause before trying the same deployment again: its Retry-After (up to 5 s), else 0.1 s
    doubling."""
    if isinstance(last, UpstreamStatusError) and last.retry_after_s:
        return min(last.retry_after_s, 5.0)
    return min(0.1 * 2.0 ** (attempt - 1), 2.0)


HEDGE_LOST = "hedge lost"  # the cancel message of the attempt that lost a hedge race


async def cancel(task: asyncio.Task[Served]) -> None:
    """Stop the losing attempt: its connection closes, so the vendor stops generating."""
    if task.done():
        if task.exception() is None and (stream := task.result().stream) is not None:
            await stream.aclose()
        return
    task.cancel(HEDGE_LOST)
    with contextlib.suppress(asyncio.CancelledError, Failed, UpstreamError):
        await task
