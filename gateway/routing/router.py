"""The attempt loop: resolve, score, try the ranked candidates in turn, record every outcome."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gateway.config.runtime import Config, Deployment
from gateway.errors import (
    GatewayError,
    NoDeploymentAvailable,
    RateLimited,
    UpstreamError,
    UpstreamStatusError,
    UpstreamTimeout,
)
from gateway.routing.policy import Hints, resolve
from gateway.routing.scoring import Demand, Draws, Ranking, rank
from gateway.state.estimators import Outcome, OutcomeKind, Stats, to_stats
from gateway.state.store import Store
from gateway.upstream.base import Call, Reply, StreamReply, Upstream

log = logging.getLogger("gateway.router")


@dataclass(frozen=True, slots=True)
class ChatRequest:
    model: str
    body: Mapping[str, Any]  # the client's body minus gateway-only fields
    stream: bool
    client_wants_usage: bool
    demand: Demand
    request_id: str
    hints: Hints = field(default_factory=Hints)


@dataclass(slots=True)
class Served:
    deployment: Deployment
    attempts: int
    upstream_s: float  # time spent waiting on upstreams, over all attempts
    ranking: Ranking
    reply: Reply | None = None
    stream: StreamReply | None = None
    started: float = 0.0  # when the winning attempt started (perf_counter)


class Router:
    def __init__(
        self,
        config: Config,
        upstreams: Mapping[str, Upstream],
        store: Store,
        *,
        explore_rate: float = 0.02,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self._upstreams = upstreams
        self._store = store
        self._explore_rate = explore_rate
        self._rng = rng or random.Random()
        self._clock = clock

    def rank(self, req: ChatRequest) -> tuple[Ranking, int]:
        route = resolve(self.config, req.model, req.hints)
        if not route.targets:
            raise NoDeploymentAvailable(f"No deployment is available for '{req.model}'.")
        snapshot = self._store.snapshot()
        now = self._clock()
        stats: dict[str, Stats] = {}
        for dep in route.targets:
            est = snapshot.get(dep.id)
            if est is not None:
                stats[dep.id] = to_stats(est, now)
        r = self._rng.random
        draws = Draws(tie=r(), explore=r(), pick=r())
        ranking = rank(
            route.targets,
            stats,
            req.demand,
            strategy=route.strategy,
            slo=route.slo,
            draws=draws,
            explore_rate=self._explore_rate,
        )
        return ranking, route.max_attempts

    async def handle(self, req: ChatRequest) -> Served:
        ranking, max_attempts = self.rank(req)
        if not ranking.ranked:
            reasons = "; ".join(f"{e.deployment.id}: {e.reason}" for e in ranking.excluded)
            raise NoDeploymentAvailable(f"No deployment can serve '{req.model}' ({reasons}).")
        failures: list[tuple[Deployment, UpstreamError]] = []
        upstream_s = 0.0
        for scored in ranking.ranked[:max_attempts]:
            dep = scored.deployment
            call = Call(
                dep.upstream_model, req.body, req.stream, req.client_wants_usage, req.request_id
            )
            await self._store.begin(dep.id)
            started = time.perf_counter()
            try:
                if req.stream:
                    stream = await self._upstreams[dep.provider].open_stream(call)
                    upstream_s += time.perf_counter() - started
                    return Served(
                        dep, len(failures) + 1, upstream_s, ranking, stream=stream, started=started
                    )
                reply = await self._upstreams[dep.provider].complete(call)
            except UpstreamError as exc:
                upstream_s += time.perf_counter() - started
                await self._record(dep, _kind_of(exc), started)
                if not exc.is_retryable:
                    raise
                log.info(
                    "attempt on %s failed (%s), trying the next candidate", dep.id, exc.message
                )
                failures.append((dep, exc))
                continue
            upstream_s += time.perf_counter() - started
            tokens = reply.usage.completion_tokens if reply.usage else None
            await self._record(dep, "ok", started, tokens=tokens)
            return Served(dep, len(failures) + 1, upstream_s, ranking, reply=reply, started=started)
        raise _exhausted(req.model, failures)

    async def relay(self, served: Served) -> AsyncIterator[bytes]:
        """Relay a stream to the client; record its outcome however it ends (cancel included)."""
        stream = served.stream
        assert stream is not None
        kind: OutcomeKind = "error"
        try:
            async for chunk in stream:
                yield chunk
            kind = "error" if stream.truncated else "ok"
        finally:
            await stream.aclose()
            usage = stream.usage
            tokens = usage.completion_tokens if usage else stream.completion_events
            await self._record(
                served.deployment, kind, served.started, ttft_ms=stream.ttft_ms, tokens=tokens
            )

    async def _record(
        self,
        dep: Deployment,
        kind: OutcomeKind,
        started: float,
        *,
        ttft_ms: float | None = None,
        tokens: int | None = None,
    ) -> None:
        latency_ms = (time.perf_counter() - started) * 1000
        outcome = Outcome(dep.id, kind, self._clock(), latency_ms, ttft_ms, tokens)
        await self._store.record(outcome)


def _kind_of(exc: UpstreamError) -> OutcomeKind:
    if isinstance(exc, UpstreamTimeout):
        return "timeout"
    if isinstance(exc, UpstreamStatusError):
        if exc.upstream_status == 429:
            return "rate_limited"
        if not exc.is_retryable:
            return "rejected"
    return "error"


def _exhausted(model: str, failures: list[tuple[Deployment, UpstreamError]]) -> GatewayError:
    detail = "; ".join(f"{dep.id}: {exc.message}" for dep, exc in failures)
    message = f"All {len(failures)} attempts for '{model}' failed ({detail})."
    errors = [exc for _, exc in failures]
    if all(isinstance(e, UpstreamStatusError) and e.upstream_status == 429 for e in errors):
        waits = [
            e.retry_after_s
            for e in errors
            if isinstance(e, UpstreamStatusError) and e.retry_after_s
        ]
        return RateLimited(message, retry_after_s=min(waits, default=1.0))
    if isinstance(errors[-1], UpstreamTimeout):
        return UpstreamTimeout(message)
    return UpstreamError(message)
