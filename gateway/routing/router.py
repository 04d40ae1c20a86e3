"""The attempt loop: resolve, score, try the ranked candidates in turn, record every outcome."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import anyio

from gateway.config.runtime import Config, Deployment, Route
from gateway.errors import (
    GatewayError,
    NoDeploymentAvailable,
    RateLimited,
    UpstreamError,
    UpstreamStatusError,
    UpstreamTimeout,
)
from gateway.ledger.record import Ledger
from gateway.routing.accounting import failure_record, success_record
from gateway.routing.output_estimate import OutputEstimate
from gateway.routing.policy import Hints, resolve
from gateway.routing.scoring import QUOTA_EXHAUSTED, Demand, Draws, Excluded, Ranking, rank
from gateway.routing.tokens import TokenCounter
from gateway.state.estimators import Outcome, OutcomeKind, Stats, to_stats
from gateway.state.quota import Denied, Grant, header_headroom
from gateway.state.store import Store
from gateway.upstream.base import Call, Reply, StreamReply, Upstream, Usage

log = logging.getLogger("gateway.router")
CREDENTIAL_RETRY_S = 300.0  # a provider that refused our key is retried after this


@dataclass(frozen=True, slots=True)
class ChatRequest:
    model: str
    body: Mapping[str, Any]  # the client's body minus gateway-only fields
    stream: bool
    client_wants_usage: bool
    demand: Demand  # output_tokens 0: the request set no max_tokens
    request_id: str
    received: float = field(default_factory=time.perf_counter)  # when the gateway got it
    hints: Hints = field(default_factory=Hints)
    endpoint: str = "/v1/chat/completions"
    team: str | None = None
    policy: str | None = None  # the x-gateway-policy header


@dataclass(slots=True)
class Served:
    request: ChatRequest
    route: Route
    deployment: Deployment
    grant: Grant
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
        ledger: Ledger | None = None,
        default_output_tokens: int = 256,
        explore_rate: float = 0.02,
        tokens: TokenCounter | None = None,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self._upstreams = upstreams
        self._store = store
        self._ledger = ledger
        self._outputs = OutputEstimate(default_output_tokens)
        self._explore_rate = explore_rate
        self._tokens = tokens
        self._rng = rng or random.Random()
        self._clock = clock
        # provider -> (HTTP status, when): our key was refused; shown in /admin/providers
        self.credential_failures: dict[str, tuple[int, float]] = {}

    def rank(self, req: ChatRequest, route: Route) -> Ranking:
        snapshot = self._store.snapshot()
        now = self._clock()
        stats: dict[str, Stats] = {}
        for dep in route.targets:
            est = snapshot.get(dep.id)
            if est is not None:
                stats[dep.id] = to_stats(est, now)
        demand = req.demand
        if not demand.output_tokens:
            demand = replace(demand, output_tokens=self._outputs.expected(route.name))
        r = self._rng.random
        ranking = rank(
            route.targets,
            stats,
            demand,
            strategy=route.strategy,
            slo=route.slo,
            draws=Draws(tie=r(), explore=r(), pick=r()),
            explore_rate=self._explore_rate,
            weights=route.weights,
        )
        if route.excluded:  # ruled out by the policy or the request: shown by explain
            ruled_out = tuple(Excluded(d, why) for d, why in route.excluded)
            ranking = replace(ranking, excluded=ruled_out + ranking.excluded)
        if self.credential_failures:
            ranking = self._without_rejected_credentials(ranking)
        return ranking

    def _reject_credentials(self, provider: str, status: int) -> None:
        if provider not in self.credential_failures:
            log.error(
                "provider %s rejected our API key (HTTP %d): taken out of routing for %.0f s; "
                "check its api_key_env",
                provider,
                status,
                CREDENTIAL_RETRY_S,
            )
        self.credential_failures[provider] = (status, self._clock())

    def _without_rejected_credentials(self, ranking: Ranking) -> Ranking:
        now = self._clock()
        for provider, (_, since) in list(self.credential_failures.items()):
            if now - since > CREDENTIAL_RETRY_S:
                del self.credential_failures[provider]  # try the key again
        kept = [s for s in ranking.ranked if s.deployment.provider not in self.credential_failures]
        if len(kept) == len(ranking.ranked):
            return ranking
        dropped = tuple(
            Excluded(
                s.deployment,
                f"credential rejected (HTTP {self.credential_failures[s.deployment.provider][0]})",
            )
            for s in ranking.ranked
            if s.deployment.provider in self.credential_failures
        )
        return replace(ranking, ranked=tuple(kept), excluded=ranking.excluded + dropped)

    def swap(self, config: Config, upstreams: Mapping[str, Upstream]) -> None:
        """A reload: new requests use the new config; those in flight keep what they hold."""
        self.config, self._upstreams = config, upstreams
        self.credential_failures.clear()  # a reload may bring the fixed key

    def resolve(self, req: ChatRequest) -> Route:
        return resolve(self.config, req.model, req.hints, team=req.team, policy=req.policy)

    async def handle(self, req: ChatRequest) -> Served:
        route: Route | None = None
        try:
            route = self.resolve(req)
            served = await self._attempts(req, route)
        except GatewayError as exc:
            self._submit(failure_record(req, route, exc))
            raise
        if served.reply is not None:
            usage = served.reply.usage or Usage()
            self._outputs.observe(route.name, usage.completion_tokens)
            self._submit(success_record(served, usage))
        return served

    async def _attempts(self, req: ChatRequest, route: Route) -> Served:
        ranking = self.rank(req, route)
        # Full by the last snapshot: asked again at the end, since only reserve() knows for sure
        # (and knows when a slot frees up, for Retry-After).
        full = [e.deployment for e in ranking.excluded if e.reason == QUOTA_EXHAUSTED]
        if not ranking.ranked and not full:
            reasons = "; ".join(f"{e.deployment.id}: {e.reason}" for e in ranking.excluded)
            why = f" ({reasons})" if reasons else ""
            raise NoDeploymentAvailable(f"No deployment can serve '{req.model}'{why}.")
        demand = req.demand
        prompt = demand.prompt_tokens
        if self._tokens is not None and any(lim.tpm for d in route.targets for lim in d.limits):
            prompt = self._tokens.count(req.body.get("messages") or ()) or prompt
        tokens = prompt + (demand.output_tokens or self._outputs.expected(route.name))
        upstreams = self._upstreams  # this request's, even if a reload swaps them meanwhile
        failures: list[tuple[Deployment, UpstreamError]] = []
        denials: list[Denied] = []
        upstream_s = 0.0
        for dep in [s.deployment for s in ranking.ranked] + full:
            if len(failures) >= route.max_attempts:
                break
            if (
                failures
                and route.deadline_s
                and time.perf_counter() - req.received > route.deadline_s
            ):
                log.info("route %s: deadline passed after %d attempts", route.name, len(failures))
                break
            grant = await self._store.reserve(dep, tokens)
            if isinstance(grant, Denied):
                denials.append(grant)  # full by our own counters: not an attempt
                continue
            call = Call(
                dep.upstream_model, req.body, req.stream, req.client_wants_usage, req.request_id
            )
            started = time.perf_counter()
            served = Served(
                req, route, dep, grant, len(failures) + 1, 0.0, ranking, started=started
            )
            try:
                if req.stream:
                    served.stream = await upstreams[dep.provider].open_stream(call)
                else:
                    served.reply = await upstreams[dep.provider].complete(call)
            except UpstreamError as exc:
                upstream_s += time.perf_counter() - started
                await self._settle(served, _kind_of(exc), usage=None)
                if isinstance(exc, UpstreamStatusError) and exc.upstream_status in (401, 403):
                    self._reject_credentials(dep.provider, exc.upstream_status)
                if not exc.is_retryable:
                    exc.attempts = len(failures) + 1
                    raise
                log.info(
                    "attempt on %s failed (%s), trying the next candidate", dep.id, exc.message
                )
                failures.append((dep, exc))
                continue
            served.upstream_s = upstream_s + time.perf_counter() - started
            if served.reply is not None:
                await self._settle(
                    served, "ok", usage=served.reply.usage, headers=served.reply.headers
                )
            return served
        raise _exhausted(req.model, failures, denials)

    async def relay(self, served: Served) -> AsyncIterator[bytes]:
        """Relay a stream to the client; record its outcome however it ends (cancel included)."""
        stream = served.stream
        assert stream is not None
        kind: OutcomeKind = "error"
        finished = False
        try:
            async for chunk in stream:
                yield chunk
            finished = True
            kind = "error" if stream.truncated else "ok"
        finally:
            # Shielded: a client that left must not stop us from closing upstream and billing.
            with anyio.CancelScope(shield=True):
                await stream.aclose()
                usage = stream.usage or Usage(
                    prompt_tokens=served.request.demand.prompt_tokens,  # our count: none came
                    completion_tokens=stream.completion_events,
                )
                await self._settle(
                    served, kind, usage=usage, ttft_ms=stream.ttft_ms, headers=stream.headers
                )
                if finished:
                    self._outputs.observe(served.route.name, usage.completion_tokens)
                error = None if finished else "client_cancelled"
                if stream.truncated:
                    error = "stream_truncated"
                self._submit(
                    success_record(served, usage, ttft_ms=stream.ttft_ms, error_type=error)
                )

    def _submit(self, record: Any) -> None:
        if self._ledger is not None:
            self._ledger.submit(record)

    async def _settle(
        self,
        served: Served,
        kind: OutcomeKind,
        *,
        usage: Usage | None,
        ttft_ms: float | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        latency_ms = (time.perf_counter() - served.started) * 1000
        outcome = Outcome(
            served.deployment.id,
            kind,
            self._clock(),
            latency_ms,
            ttft_ms,
            usage.completion_tokens if usage else None,
            header_headroom(headers) if headers else None,
        )
        used = usage.prompt_tokens + usage.completion_tokens if usage else 0
        await self._store.settle(served.grant, outcome, used)


def _kind_of(exc: UpstreamError) -> OutcomeKind:
    if isinstance(exc, UpstreamTimeout):
        return "timeout"
    if isinstance(exc, UpstreamStatusError):
        if exc.upstream_status == 429:
            return "rate_limited"
        if not exc.is_retryable:
            return "rejected"
    return "error"


def _exhausted(
    model: str, failures: list[tuple[Deployment, UpstreamError]], denials: list[Denied]
) -> GatewayError:
    if not failures:
        detail = "; ".join(f"{d.deployment_id}: {d.limit} limit reached" for d in denials)
        wait = min(d.retry_after_s for d in denials)
        return RateLimited(
            f"Every deployment for '{model}' is at its limit ({detail}).", retry_after_s=wait
        )
    detail = "; ".join(f"{dep.id}: {exc.message}" for dep, exc in failures)
    message = f"All {len(failures)} attempts for '{model}' failed ({detail})."
    errors = [exc for _, exc in failures]
    if all(isinstance(e, UpstreamStatusError) and e.upstream_status == 429 for e in errors):
        waits = [
            e.retry_after_s
            for e in errors
            if isinstance(e, UpstreamStatusError) and e.retry_after_s
        ]
        exhausted: GatewayError = RateLimited(message, retry_after_s=min(waits, default=1.0))
    elif isinstance(errors[-1], UpstreamTimeout):
        exhausted = UpstreamTimeout(message)
    else:
        exhausted = UpstreamError(message)
    exhausted.attempts = len(failures)
    return exhausted
