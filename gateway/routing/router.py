"""The router: resolve a request to its route, rank the candidates, walk them (loop.py), relay
streams (relay.py), and record every outcome. The parts it wires live in their own modules."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Coroutine, Mapping
from dataclasses import replace
from decimal import Decimal
from typing import Any

from gateway.config.runtime import Config, Deployment, Route
from gateway.core.estimators import Stats, to_stats
from gateway.core.latency_fit import past_target
from gateway.core.operation import Operation
from gateway.core.usage import Usage
from gateway.errors import GatewayError, UpstreamError
from gateway.ledger.pricing import cost_usd
from gateway.ledger.record import Ledger, SpendRecord
from gateway.routing.accounting import (
    cancelled_record,
    estimated_usage,
    failure_record,
    success_record,
)
from gateway.routing.attempt import Attempts
from gateway.routing.failures import tenant_refusal
from gateway.routing.health import RejectedCredentials, probe_open_circuits
from gateway.routing.loop import walk
from gateway.routing.output_estimate import OutputEstimate, output_cap
from gateway.routing.policy import resolve
from gateway.routing.relay import Relay
from gateway.routing.request import GatewayRequest, Served
from gateway.routing.run import Run, Timing
from gateway.routing.scoring import Draws, Excluded, Ranking, next_credit, rank
from gateway.routing.tokens import TokenCounter
from gateway.state.quota import Denied, Grant
from gateway.state.store import Store
from gateway.state.tenant_limits import TenantDenied, TenantGrant
from gateway.telemetry.observer import Observer
from gateway.telemetry.tracing import RequestTrace
from gateway.upstream.base import Call, Upstream

log = logging.getLogger("gateway.router")
HEALTH_PROBE_S = 0.5  # how often circuits ending their cool-down are probed (free endpoint)


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
        timing: Timing | None = None,
        observer: Observer | None = None,  # metrics, access log, traces
    ) -> None:
        self.config = config
        self.observer = observer = observer or Observer()
        self._upstreams = upstreams
        self._store = store
        self._ledger = ledger
        self._outputs = OutputEstimate(default_output_tokens)
        self._explore_rate = explore_rate
        self._probe_credit: dict[str, float] = {}  # route -> credit (scoring.next_credit)
        self._tokens = tokens
        self._pending: set[asyncio.Task[None]] = set()
        timing = timing or Timing()
        self._rng = timing.rng
        self._clock = clock = timing.clock
        self._sleep = timing.sleep
        self.credentials = RejectedCredentials()  # providers that refused our key
        self._attempts = Attempts(
            store,
            self.credentials,
            clock=clock,
            background=self._background,
            metrics=observer.metrics,
        )
        self._tenants = store.tenant_limits()
        self._relay = Relay(
            self._attempts,
            store,
            self._outputs,
            submit=self._submit_served,
            reserve_tokens=self.reserve_tokens,
            upstreams=lambda: self._upstreams,
            settle_tenant=self.settle_tenant,
        )

    def rank(self, req: GatewayRequest, route: Route) -> Ranking:
        snapshot = self._store.snapshot()
        now = self._clock()
        stats: dict[str, Stats] = {}
        waited_at = time.perf_counter()
        for dep in route.targets:
            est = snapshot.get(dep.id)
            if est is None:
                continue
            st = to_stats(est, now)
            # Streams still waiting past the target: evidence before they end.
            waits = self._attempts.waits.overdue_ms(dep.id, route.slo.ttft_ms, waited_at)
            if waits:
                st = replace(st, ttft_fit=past_target(st.ttft_fit, waits, route.slo.ttft_ms))
            stats[dep.id] = st
        demand = req.demand
        if not demand.output_tokens and req.operation.generates:
            demand = replace(demand, output_tokens=self._outputs.expected(route.name))
        r = self._rng.random
        ranking = rank(
            route.targets,
            stats,
            demand,
            strategy=route.strategy,
            slo=route.slo,
            draws=Draws(r(), r(), r(), self._probe_credit.get(route.name, 0.0)),
            explore_rate=self._explore_rate,
            weights=route.weights,
            prefer_owned=route.prefer_owned_capacity,
        )
        if route.excluded:  # ruled out by the policy or the request: shown by explain
            ruled_out = tuple(Excluded(d, why) for d, why in route.excluded)
            ranking = replace(ranking, excluded=ruled_out + ranking.excluded)
        return self.credentials.filter(ranking, self._clock())

    def swap(self, config: Config, upstreams: Mapping[str, Upstream]) -> None:
        """A reload: new requests use the new config; those in flight keep what they hold."""
        self.config, self._upstreams = config, upstreams
        self.credentials.clear()  # a reload may bring the fixed key

    def resolve(self, req: GatewayRequest) -> Route:
        return resolve(
            self.config,
            req.model,
            req.hints,
            team=req.team,
            policy=req.policy,
            operation=req.operation,
            untranslatable=req.untranslatable,
        )

    async def handle(self, req: GatewayRequest) -> Served:
        route: Route | None = None
        tenant: TenantGrant | None = None
        trace = self.observer.tracer.begin(
            request_id=req.request_id, operation=req.operation, model=req.model, stream=req.stream
        )
        try:
            route = self.resolve(req)
            ranking = self.rank(req, route)
            credit = self._probe_credit.get(route.name, 0.0)
            self._probe_credit[route.name] = next_credit(credit, ranking)
            trace.decision(  # (generators: nothing is built when nothing traces)
                route.name,
                route.strategy,
                ((s.deployment.id, s.total) for s in ranking.ranked),
                ((e.deployment.id, e.reason) for e in ranking.excluded),
            )
            tokens = await self.reserve_tokens(req, route)
            tenant, first = await self._reserve_tenant(req, route, ranking, tokens)
            run = Run(req, route, ranking, self._upstreams, tokens, tenant=tenant, trace=trace)
            run.first = first
            served = await walk(self._attempts, self._store, run, sleep=self._sleep)
        except GatewayError as exc:
            self.settle_tenant(tenant, Usage(), None)  # nothing was used
            self._submit(failure_record(req, route, exc), req, trace)
            raise
        except asyncio.CancelledError:  # the client left before an answer: its row says so
            self.settle_tenant(tenant, Usage(), None)
            self._submit(cancelled_record(req, route), req, trace)
            raise
        if served.reply is not None:
            usage = served.reply.usage or estimated_usage(req, len(served.reply.body))
            self._outputs.observe(route.name, usage.completion_tokens)
            record = success_record(served, usage)
            self._submit_served(record, served)
            self.settle_tenant(tenant, usage, record.cost_usd)
        return served

    async def _reserve_tenant(
        self, req: GatewayRequest, route: Route, ranking: Ranking, tokens: int
    ) -> tuple[TenantGrant | None, tuple[Deployment, Grant | Denied] | None]:
        """The caller's key and team limits, all levels at once, for the request's expected
        tokens and cost (the route's typical output, not max_tokens' worst case); with them,
        in the same round trip, the best candidate's reservation (walk's first)."""
        allowances = req.caller.allowances
        if not allowances:
            return None, None
        prompt = req.demand.prompt_tokens
        output = self._outputs.expected(route.name) if req.operation.generates else 0
        best = ranking.ranked[0].deployment if ranking.ranked else None
        usd = cost_usd(best, Usage(prompt, output)) if best is not None else None
        asked = self._tenants.reserve(allowances, prompt + output, usd or Decimal(0))
        first: tuple[Deployment, Grant | Denied] | None = None
        if best is None:
            result = await asked
        else:
            result, grant = await self._store.reserve_for(
                asked, self._attempts.stated.cap(best), tokens
            )
            first = (best, grant) if grant is not None else None
        if isinstance(result, TenantDenied):
            raise tenant_refusal(result)
        return result, first

    def settle_tenant(self, grant: TenantGrant | None, usage: Usage, cost: Decimal | None) -> None:
        """The reservation corrected to what the request used, off the client's path."""
        if grant is not None:
            self._background(self._tenants.settle(grant, usage.total_tokens, cost or Decimal(0)))

    def relay(self, served: Served) -> AsyncIterator[bytes]:
        """The client's stream: relayed, resumed if it breaks and the route allows, billed."""
        return self._relay.relay(served)

    async def count_tokens(self, req: GatewayRequest) -> tuple[int, str]:
        """A Messages body's input tokens, and who counted them: the first Anthropic target's
        own count (`upstream`), else our tokenizer (`tokenizer`), else chars/4 (`estimate`)."""
        route = resolve(
            self.config, req.model, req.hints, team=req.team, operation=Operation.MESSAGES
        )
        for dep in route.targets:
            counter = getattr(self._upstreams.get(dep.provider), "count_tokens", None)
            if counter is None or "messages" not in dep.operations:
                continue
            call = Call(req.operation, dep.upstream_model, req.body, False, False, req.request_id)
            try:
                return await counter(replace(call, headers=req.headers)), "upstream"
            except UpstreamError as exc:
                log.info("count_tokens on %s failed (%s): trying the next", dep.id, exc.message)
        counted = await self._tokens.count_off_loop(req.prompt) if self._tokens else None
        if counted is not None:
            return counted, "tokenizer"
        return req.demand.prompt_tokens, "estimate"

    async def reserve_tokens(self, req: GatewayRequest, route: Route) -> int:
        """What a reservation holds: the prompt (tokenized where a TPM limit makes precision
        matter, else estimated) plus the expected output, which no model can make longer than
        its context window (a `max_tokens` of 2^62 must not reserve a whole TPM window)."""
        prompt = req.demand.prompt_tokens
        if self._tokens is not None and any(lim.tpm for d in route.targets for lim in d.limits):
            prompt = await self._tokens.count_off_loop(req.prompt) or prompt
        output = req.demand.output_tokens or (
            self._outputs.expected(route.name) if req.operation.generates else 0
        )
        return prompt + min(output, output_cap(route))

    async def health_loop(self, interval_s: float = HEALTH_PROBE_S) -> None:
        """As circuits end their cool-down, probe them on a free endpoint (health.py)."""
        while True:
            await asyncio.sleep(interval_s)
            try:
                await probe_open_circuits(self.config, self._upstreams, self._store, self._clock())
            except Exception:  # the loop must outlive any one bad probe
                log.exception("health probe failed")

    async def drain(self) -> None:
        """Finish the bookkeeping still running (graceful shutdown, before the store closes)."""
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)

    def _background(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._pending.add(task)  # a reference, or the task could be collected mid-flight
        task.add_done_callback(self._pending.discard)

    def _submit(
        self,
        record: SpendRecord,
        req: GatewayRequest,
        trace: RequestTrace,
        overhead_s: float | None = None,
    ) -> None:
        """The request's row into the ledger, and into the metrics, access log and trace."""
        if self._ledger is not None:
            self._ledger.submit(record)
        self.observer.finished(
            record,
            operation=req.operation,
            key_prefix=req.caller.key_prefix,
            overhead_s=overhead_s,
            trace=trace,
        )

    def _submit_served(self, record: SpendRecord, served: Served) -> None:
        self._submit(record, served.request, served.trace, served.overhead_s)
