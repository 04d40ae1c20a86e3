"""The attempt loop: resolve, score, try the ranked candidates in turn, record every outcome."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from dataclasses import replace
from typing import Any

import anyio

from gateway.config.runtime import Config, Deployment, Route
from gateway.core.estimators import Outcome, OutcomeKind, Stats, to_stats
from gateway.core.usage import Usage
from gateway.errors import (
    GatewayError,
    NoDeploymentAvailable,
    UpstreamError,
    UpstreamStatusError,
    UpstreamTimeout,
)
from gateway.ledger.pricing import cost_usd
from gateway.ledger.record import Ledger, SpendRecord
from gateway.routing.accounting import failure_record, success_record
from gateway.routing.failures import exhausted, kind_of
from gateway.routing.health import RejectedCredentials, probe_open_circuits
from gateway.routing.output_estimate import OutputEstimate
from gateway.routing.policy import resolve
from gateway.routing.request import ChatRequest, Served
from gateway.routing.run import HEDGE_LOST, Failed, Run, backoff_s, cancel
from gateway.routing.scoring import QUOTA_EXHAUSTED, Draws, Excluded, Ranking, rank
from gateway.routing.tokens import TokenCounter
from gateway.state.quota import Denied, Grant, header_headroom
from gateway.state.store import Store
from gateway.upstream.base import Call, StreamReply, Upstream
from gateway.upstream.sse import error_event

log = logging.getLogger("gateway.router")
CONTINUE_PROMPT = (
    "Your previous message was cut off. Continue it exactly from where it stopped, "
    "without repeating anything and without any preamble."
)
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
        self._pending: set[asyncio.Task[None]] = set()
        self._rng = rng or random.Random()
        self._clock = clock
        self.credentials = RejectedCredentials()  # providers that refused our key

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
        run = Run(req, route, ranking, self._upstreams, self._reserve_tokens(req, route))
        queue = deque([s.deployment for s in ranking.ranked] + full)
        if len(queue) == 1:
            queue *= route.max_attempts  # the only candidate: the same one again, after a pause
        while queue and len(run.failures) < route.max_attempts:
            if run.failures and route.deadline_s and run.elapsed() > route.deadline_s:
                log.info(
                    "route %s: deadline passed after %d attempts", route.name, len(run.failures)
                )
                break
            dep = queue.popleft()
            if run.failures and run.failures[-1][0] is dep:
                await asyncio.sleep(backoff_s(len(run.failures), run.failures[-1][1]))
            grant = await self._store.reserve(dep, run.tokens)
            if isinstance(grant, Denied):
                run.denials.append(grant)  # full by our own counters: not an attempt
                continue
            hedge_s = self._hedge_after(route, ranking) if not run.failures and queue else None
            try:
                if hedge_s is not None:
                    served = await self._hedged(run, dep, grant, queue, hedge_s)
                else:
                    served = await self._attempt(run, dep, grant)
            except Failed:
                continue
            served.upstream_s += run.upstream_s
            return served
        raise exhausted(req.model, run.failures, run.denials)

    def _reserve_tokens(self, req: ChatRequest, route: Route) -> int:
        demand = req.demand
        prompt = demand.prompt_tokens
        if self._tokens is not None and any(lim.tpm for d in route.targets for lim in d.limits):
            prompt = self._tokens.count(req.body.get("messages") or ()) or prompt
        return prompt + (demand.output_tokens or self._outputs.expected(route.name))

    async def _attempt(self, run: Run, dep: Deployment, grant: Grant) -> Served:
        """One try at one deployment; a failure is settled, noted in `run` and raised as Failed."""
        req, route = run.req, run.route
        call = Call(
            dep.upstream_model,
            req.body,
            req.stream,
            req.client_wants_usage,
            req.request_id,
            connect_timeout_s=route.connect_timeout_s,
            read_timeout_s=route.read_timeout_s,
            resume=route.resume and req.stream and not req.continuation,  # = _resumable
        )
        started = time.perf_counter()
        served = Served(
            req, route, dep, grant, len(run.failures) + 1, 0.0, run.ranking, started=started
        )
        upstream = run.upstreams[dep.provider]
        limit = _tighter(route.first_token_timeout_s, route.total_timeout_s)
        try:
            try:
                async with asyncio.timeout(limit):
                    if req.stream:
                        served.stream = await upstream.open_stream(call)
                    else:
                        served.reply = await upstream.complete(call)
            except TimeoutError:
                waited = (limit or 0.0) * 1000
                raise UpstreamTimeout(f"no first token within {waited:.0f} ms") from None
        except UpstreamError as exc:
            run.upstream_s += time.perf_counter() - started
            await self._settle(served, kind_of(exc), usage=None)
            if isinstance(exc, UpstreamStatusError) and exc.upstream_status in (401, 403):
                self.credentials.reject(dep.provider, exc.upstream_status, self._clock())
            if not exc.is_retryable:
                exc.attempts = len(run.failures) + 1
                raise
            log.info("attempt on %s failed (%s), trying the next candidate", dep.id, exc.message)
            run.failures.append((dep, exc))
            raise Failed from exc
        except asyncio.CancelledError as exc:
            # A lost hedge race says "slower than the time it had" (so a slow vendor stops being
            # raced forever); a client that left says nothing. Either way its slot is freed.
            lost = bool(exc.args) and exc.args[0] == HEDGE_LOST
            await self._settle(served, "slow" if lost else "rejected", usage=None)
            raise
        served.upstream_s = time.perf_counter() - started
        if served.reply is not None:
            # Settled after the reply is on its way: the client does not wait for our bookkeeping.
            reply = served.reply
            self._background(self._settle(served, "ok", usage=reply.usage, headers=reply.headers))
        return served

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

    def _hedge_after(self, route: Route, ranking: Ranking) -> float | None:
        if route.hedge_after_ms is None or len(ranking.ranked) < 2:
            return None
        if route.hedge_after_ms == "auto":
            predicted = ranking.ranked[0].ttft_ms
            return predicted / 1000 if predicted > 0 else None
        return float(route.hedge_after_ms) / 1000

    async def _hedged(
        self, run: Run, dep: Deployment, grant: Grant, queue: deque[Deployment], after_s: float
    ) -> Served:
        """Send to `dep`; if it has not answered (first event for a stream) by `after_s`, race the
        next candidate too, keep whichever answers first and cancel the other."""
        first = asyncio.create_task(self._attempt(run, dep, grant))
        done, _ = await asyncio.wait({first}, timeout=after_s)
        if done:
            return first.result()
        runner_up = queue[0]
        second_grant = await self._store.reserve(runner_up, run.tokens)
        if isinstance(second_grant, Denied):
            return await first
        queue.popleft()
        log.info("hedging %s with %s after %.0f ms", dep.id, runner_up.id, after_s * 1000)
        second = asyncio.create_task(self._attempt(run, runner_up, second_grant))
        pending = {first, second}
        while pending:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if task.exception() is None:
                    winner = task.result()
                    loser = first if task is second else second
                    winner.hedged_with = (runner_up if task is first else dep).id
                    await cancel(loser)
                    return winner
                if not isinstance(task.exception(), Failed):
                    await cancel(first if task is second else second)
                    raise task.exception()  # type: ignore[misc]
        raise Failed  # both failed: each is already in run.failures

    async def relay(self, served: Served) -> AsyncIterator[bytes]:
        """Relay a stream to the client; record its outcome however it ends (cancel included)."""
        stream = served.stream
        assert stream is not None
        kind: OutcomeKind = "rejected"  # the client left: that says nothing about the vendor
        finished = False
        total = served.route.total_timeout_s
        try:
            async for chunk in stream:
                yield chunk
                if total and time.perf_counter() - served.started > total:
                    stream.truncated = True
                    yield error_event(f"stream exceeded {total * 1000:.0f} ms", "stream_timeout")
                    break
            if stream.failure is not None and _resumable(served):  # its break was left to us
                async for chunk in self._resume(served, stream):
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
                    error = "partial"  # the stream broke after its first byte
                if not served.resumed:  # else the continuation's row carries this half
                    record = success_record(served, usage, ttft_ms=stream.ttft_ms, error_type=error)
                    self._submit(record)

    async def _resume(self, served: Served, broken: StreamReply) -> AsyncIterator[bytes]:
        """Continue a broken stream on the next candidate, prompted with the text already sent;
        the client sees one stream. If none can, the break is reported as an error event."""
        req = served.request
        messages = list(req.body.get("messages") or ())
        messages += [
            {"role": "assistant", "content": broken.partial_text()},
            {"role": "user", "content": CONTINUE_PROMPT},
        ]
        follow = replace(req, body={**req.body, "messages": messages}, continuation=True)
        run = Run(
            follow,
            served.route,
            served.ranking,
            self._upstreams,
            self._reserve_tokens(follow, served.route),
        )
        for scored in served.ranking.ranked:
            dep = scored.deployment
            if dep.id == served.deployment.id:
                continue
            grant = await self._store.reserve(dep, run.tokens)
            if isinstance(grant, Denied):
                continue
            try:
                second = await self._attempt(run, dep, grant)
            except Failed:
                continue
            first_usage = Usage(served.request.demand.prompt_tokens, broken.completion_events)
            second.carried = (served.deployment.id, cost_usd(served.deployment, first_usage))
            served.resumed = True
            log.info("stream from %s broke: resumed on %s", served.deployment.id, dep.id)
            async for chunk in self.relay(second):
                yield chunk
            return
        assert broken.failure is not None
        yield error_event(*broken.failure)

    def _submit(self, record: SpendRecord) -> None:
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


def _tighter(a: float | None, b: float | None) -> float | None:
    return min(a, b) if a is not None and b is not None else (a if a is not None else b)


def _resumable(served: Served) -> bool:
    """Whether this attempt's stream defers a break to the router (Call.resume was set)."""
    return served.route.resume and served.request.stream and not served.request.continuation
