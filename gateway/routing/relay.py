"""Relay an answered stream to the client, continue it elsewhere if it breaks (route `resume`),
and bill it however it ends: finished, broken, cut by the route's total timeout, or abandoned."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import replace
from decimal import Decimal

import anyio

from gateway.config.runtime import Route
from gateway.core.estimators import OutcomeKind
from gateway.core.prompt import prompt_of
from gateway.core.usage import ESTIMATED, Usage
from gateway.ledger.pricing import cost_usd
from gateway.ledger.record import SpendRecord
from gateway.routing.accounting import success_record
from gateway.routing.attempt import Answer, Attempts
from gateway.routing.loop import served as served_from
from gateway.routing.output_estimate import OutputEstimate
from gateway.routing.request import GatewayRequest, Served
from gateway.routing.run import Run
from gateway.state.quota import Denied
from gateway.state.store import Store
from gateway.state.tenant_limits import TenantGrant
from gateway.upstream.base import StreamReply, Upstream

log = logging.getLogger("gateway.router")
CONTINUE_PROMPT = (
    "Your previous message was cut off. Continue it exactly from where it stopped, "
    "without repeating anything and without any preamble."
)


class Relay:
    def __init__(
        self,
        attempts: Attempts,
        store: Store,
        outputs: OutputEstimate,
        *,
        submit: Callable[[SpendRecord, Served], None],
        reserve_tokens: Callable[[GatewayRequest, Route], Awaitable[int]],
        upstreams: Callable[[], Mapping[str, Upstream]],
        settle_tenant: Callable[[TenantGrant | None, Usage, Decimal | None], None],
    ) -> None:
        self._attempts = attempts
        self._store = store
        self._outputs = outputs
        self._submit = submit
        self._reserve_tokens = reserve_tokens
        self._upstreams = upstreams
        self._settle_tenant = settle_tenant

    async def relay(self, served: Served) -> AsyncIterator[bytes]:
        """Relay the stream; record its outcome however it ends (cancel included)."""
        stream = served.stream
        assert stream is not None
        kind: OutcomeKind = "rejected"  # the client left: that says nothing about the vendor
        finished = resumed = False
        total = served.route.total_timeout_s
        try:
            async for chunk in stream:
                yield chunk
                if total and time.perf_counter() - served.started > total:
                    stream.truncated = True
                    yield stream.error_event(
                        f"stream exceeded {total * 1000:.0f} ms", "stream_timeout"
                    )
                    break
            if stream.failure is not None and _resumable(served):
                second = await self._continuation(served, stream)
                if second is None:
                    yield stream.error_event(*stream.failure)
                else:
                    resumed = True  # the continuation's row bills this half too
                    async for chunk in self.relay(second):
                        yield chunk
            finished = True
            kind = "error" if stream.truncated else "ok"
        finally:
            # Shielded: a client that left must not stop us from closing upstream and billing.
            with anyio.CancelScope(shield=True):
                await self._finish(served, stream, kind, finished=finished, resumed=resumed)

    async def _finish(
        self,
        served: Served,
        stream: StreamReply,
        kind: OutcomeKind,
        *,
        finished: bool,
        resumed: bool,
    ) -> None:
        await stream.aclose()
        usage = stream.usage or Usage(
            prompt_tokens=served.request.demand.prompt_tokens,  # our count: none came
            completion_tokens=stream.completion_events,
            note=ESTIMATED,
        )
        await self._attempts.settle(
            served.deployment,
            served.grant,
            served.started,
            kind,
            usage=usage,
            ttft_ms=stream.ttft_ms,
            headers=stream.headers,
        )
        if finished:
            self._outputs.observe(served.route.name, usage.completion_tokens)
        error = None if finished else "client_cancelled"
        if stream.truncated:
            error = "partial"  # the stream broke after its first byte
        if not resumed:  # (else the continuation's row bills, and settles, both halves)
            record = success_record(served, usage, ttft_ms=stream.ttft_ms, error_type=error)
            self._submit(record, served)
            self._settle_tenant(served.tenant, usage, record.cost_usd)

    async def _continuation(self, served: Served, broken: StreamReply) -> Served | None:
        """The next candidate that opens a stream continuing the broken one, prompted with the
        text already sent; None if none can."""
        req = served.request
        messages = list(req.body.get("messages") or ())
        messages += [
            {"role": "assistant", "content": broken.partial_text()},
            {"role": "user", "content": CONTINUE_PROMPT},
        ]
        body = {**req.body, "messages": messages}
        follow = replace(req, body=body, prompt=prompt_of(req.operation, body), continuation=True)
        tokens = await self._reserve_tokens(follow, served.route)
        second_run = Run(
            follow,
            served.route,
            served.ranking,
            self._upstreams(),
            tokens,
            tenant=served.tenant,
            trace=served.trace,
        )
        for scored in served.ranking.ranked:
            dep = scored.deployment
            if dep.id == served.deployment.id:
                continue
            grant = await self._store.reserve(dep, second_run.tokens)
            if isinstance(grant, Denied):
                continue
            tried = await self._attempts.attempt(second_run, dep, grant)
            if not isinstance(tried, Answer):
                continue
            first_usage = Usage(req.demand.prompt_tokens, broken.completion_events)
            log.info("stream from %s broke: resumed on %s", served.deployment.id, dep.id)
            self._attempts.metrics.failover(served.route.name, "stream_broken")
            carried = (served.deployment.id, cost_usd(served.deployment, first_usage))
            return served_from(second_run, tried, carried=carried, overhead_s=served.overhead_s)
        return None


def _resumable(served: Served) -> bool:
    """Whether this attempt's stream defers a break to the router (Call.resume was set)."""
    return served.route.resume and served.request.resumable
