"""Turn a finished request into its spend row. Pure: everything it needs is passed in."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from gateway.core.usage import ESTIMATED, Usage
from gateway.ledger.pricing import cost_usd
from gateway.ledger.record import CAPABILITIES_TAG, SpendRecord

if TYPE_CHECKING:
    from gateway.config.runtime import Route
    from gateway.errors import GatewayError
    from gateway.routing.request import GatewayRequest, Served


def _record(req: GatewayRequest, **fields: Any) -> SpendRecord:
    """The fields every row has, from the request; the rest as given."""
    latency_ms = (time.perf_counter() - req.received) * 1000
    return SpendRecord(
        created_at=datetime.now(UTC) - timedelta(milliseconds=latency_ms),
        request_id=req.request_id,
        endpoint=req.endpoint,
        requested_model=req.model,
        stream=req.stream,
        latency_ms=latency_ms,
        team=req.team,
        key_id=req.caller.key_id,
        **fields,
    )


def success_record(
    served: Served, usage: Usage, *, ttft_ms: float | None = None, error_type: str | None = None
) -> SpendRecord:
    dep = served.deployment
    cost = cost_usd(dep, usage)
    tags = {"hedged_with": served.hedged_with} if served.hedged_with else {}
    if usage.note:  # the vendor's figures were clamped, or missing and estimated by us
        tags["usage"] = usage.note
    if served.request.session:
        tags["session_id"] = served.request.session
    if served.request.demand.capabilities:  # so that `gateway replay` routes it as it needed
        tags[CAPABILITIES_TAG] = ",".join(sorted(served.request.demand.capabilities))
    if dep.pool is not None:  # what the GPUs cost, for docs/sql/pool_cost_per_team_per_day.sql
        tags["pool_gpu_usd_per_hour"] = str(dep.pool.usd_per_hour)
        tags["pool_billing"] = dep.pool.billing
    if served.carried is not None:  # a resumed stream: the broken first half is billed here too
        tags["resumed_from"] = served.carried[0]
        if cost is not None and served.carried[1] is not None:
            cost += served.carried[1]
    return _record(
        served.request,
        status_code=200,
        attempts=served.attempts,
        policy=served.route.name,
        provider=dep.provider,
        deployment=dep.id,
        upstream_model=dep.upstream_model,
        error_type=error_type,
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        cached_tokens=usage.cached_tokens,
        reasoning_tokens=usage.reasoning_tokens,
        cache_write_tokens=usage.cache_write_tokens,
        cost_usd=cost,
        ttft_ms=ttft_ms,
        tags=tags,  # a hedge's or a resume's other deployment; a pool's GPU cost
    )


def failure_record(req: GatewayRequest, route: Route | None, exc: GatewayError) -> SpendRecord:
    return _record(
        req,
        status_code=exc.status_code,
        attempts=exc.attempts,
        policy=route.name if route else None,
        error_type=exc.type,
        cost_usd=None,
    )


def cancelled_record(req: GatewayRequest, route: Route | None) -> SpendRecord:
    """The client left before any answer: nothing was delivered, nothing is billed."""
    return _record(
        req,
        status_code=499,  # nginx's "client closed request": no answer was sent
        attempts=0,
        policy=route.name if route else None,
        error_type="client_cancelled",
        cost_usd=None,
    )


def estimated_usage(req: GatewayRequest, reply_bytes: int) -> Usage:
    """A reply without usable usage: our prompt estimate, and its bytes at ~4 per token (less
    the JSON envelope), so it is never billed as free."""
    return Usage(
        prompt_tokens=req.demand.prompt_tokens,
        completion_tokens=max(reply_bytes - 200, 0) // 4,
        note=ESTIMATED,
    )
