"""The attempt loop: walk the ranking, one reservation and one attempt at a time, until one
answers, the attempts or the deadline run out, or the request itself is at fault."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from decimal import Decimal

from gateway.errors import NoDeploymentAvailable
from gateway.routing.attempt import Answer, Attempts
from gateway.routing.failures import exhausted, kind_of
from gateway.routing.hedging import Race, hedge_after_s, hedged
from gateway.routing.request import Served
from gateway.routing.run import Run, backoff_s
from gateway.routing.scoring import QUOTA_EXHAUSTED
from gateway.state.quota import Denied
from gateway.state.store import Store

log = logging.getLogger("gateway.router")


async def walk(
    attempts: Attempts,
    store: Store,
    run: Run,
    *,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> Served:
    req, route, ranking = run.req, run.route, run.ranking
    # Full by the last snapshot: asked again at the end, since only reserve() knows for sure
    # (and knows when a slot frees up, for Retry-After).
    full = [e.deployment for e in ranking.excluded if e.reason == QUOTA_EXHAUSTED]
    if not ranking.ranked and not full:
        reasons = "; ".join(f"{e.deployment.id}: {e.reason}" for e in ranking.excluded)
        why = f" ({reasons})" if reasons else ""
        raise NoDeploymentAvailable(f"No deployment can serve '{req.model}'{why}.")
    queue = deque([s.deployment for s in ranking.ranked] + full)
    if len(queue) == 1:
        queue *= route.max_attempts  # the only candidate: the same one again, after a pause
    tried = 0  # failures already seen when the last attempt started
    while queue and len(run.failures) < route.max_attempts:
        if run.failures and route.deadline_s and run.elapsed() > route.deadline_s:
            log.info("route %s: deadline passed after %d attempts", route.name, len(run.failures))
            break
        dep = queue.popleft()
        if run.failures and run.failures[-1][0] is dep:
            await sleep(backoff_s(len(run.failures), run.failures[-1][1]))
        grant = run.reserved(dep) or await store.reserve(attempts.stated.cap(dep), run.tokens)
        if isinstance(grant, Denied):
            run.denials.append(grant)
            continue
        if len(run.failures) > tried:  # this attempt follows a failure: a failover
            attempts.metrics.failover(route.name, kind_of(run.failures[-1][1]))
            tried = len(run.failures)
        hedge_s = hedge_after_s(route, ranking) if not run.failures and queue else None
        if hedge_s is not None:
            race = await hedged(attempts, store, run, (dep, grant), queue, hedge_s)
        else:
            race = Race.of(await attempts.attempt(run, dep, grant))
        for failure in race.failures:
            run.upstream_s += failure.upstream_s
            if not failure.error.is_retryable:  # the request's own fault: the client sees it
                failure.error.attempts = len(run.failures) + 1
                raise failure.error
            log.info(
                "attempt on %s failed (%s), trying the next candidate",
                failure.deployment.id,
                failure.error.message,
            )
            run.failures.append((failure.deployment, failure.error))
        if race.answer is not None:
            return served(run, race.answer, hedged_with=race.hedged_with)
    raise exhausted(req.model, run.failures, run.denials)


def served(
    run: Run,
    answer: Answer,
    *,
    hedged_with: str | None = None,
    carried: tuple[str, Decimal | None] | None = None,
    overhead_s: float | None = None,
) -> Served:
    upstream_s = answer.upstream_s + run.upstream_s
    if overhead_s is None:  # the gateway's own time so far: all but the upstreams' waits
        overhead_s = max(time.perf_counter() - run.req.received - upstream_s, 0.0)
    return Served(
        request=run.req,
        route=run.route,
        deployment=answer.deployment,
        grant=answer.grant,
        attempts=answer.number,
        upstream_s=upstream_s,
        ranking=run.ranking,
        started=answer.started,
        reply=answer.reply,
        stream=answer.stream,
        hedged_with=hedged_with,
        carried=carried,
        tenant=run.tenant,
        overhead_s=overhead_s,
        trace=run.trace,
    )
