"""Hedging: when the best candidate has not answered in time, race the runner-up too."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from dataclasses import dataclass

from gateway.config.runtime import Deployment, Route
from gateway.routing.attempt import HEDGE_LOST, Answer, Attempts, Failure, Tried
from gateway.routing.run import Run
from gateway.routing.scoring import Ranking
from gateway.state.quota import Denied, Grant
from gateway.state.store import Store

log = logging.getLogger("gateway.router")


@dataclass(frozen=True, slots=True)
class Race:
    """What a (possibly hedged) attempt came to: failures in the order they happened, then the
    answer if one came."""

    failures: tuple[Failure, ...] = ()
    answer: Answer | None = None
    hedged_with: str | None = None  # the other deployment of the race, if there was one

    @classmethod
    def of(cls, tried: Tried) -> Race:
        return cls(answer=tried) if isinstance(tried, Answer) else cls(failures=(tried,))


def hedge_after_s(route: Route, ranking: Ranking) -> float | None:
    """When to race the runner-up: the route's `hedge_after_ms`, or ("auto") the leader's
    predicted TTFT; None: no hedging."""
    if route.hedge_after_ms is None or len(ranking.ranked) < 2:
        return None
    if route.hedge_after_ms == "auto":
        predicted = ranking.ranked[0].ttft_ms
        return predicted / 1000 if predicted > 0 else None
    return float(route.hedge_after_ms) / 1000


async def hedged(
    attempts: Attempts,
    store: Store,
    run: Run,
    first: tuple[Deployment, Grant],
    queue: deque[Deployment],
    after_s: float,
) -> Race:
    """Send to the first; if it has not answered (first event for a stream) by `after_s`, race
    the next candidate of `queue` too, keep whichever answers first and cancel the other."""
    dep, grant = first
    lead = asyncio.create_task(attempts.attempt(run, dep, grant))
    racing = {lead}
    try:
        done, _ = await asyncio.wait({lead}, timeout=after_s)
        if done:
            return Race.of(lead.result())
        runner_up = queue[0]
        second_grant = await store.reserve(attempts.stated.cap(runner_up), run.tokens)
        if isinstance(second_grant, Denied):
            attempts.metrics.hedge(run.route.name, "denied")  # the runner-up had no room
            return Race.of(await lead)
        queue.popleft()
        log.info("hedging %s with %s after %.0f ms", dep.id, runner_up.id, after_s * 1000)
        second = asyncio.create_task(attempts.attempt(run, runner_up, second_grant))
        racing.add(second)
        other = {lead: runner_up.id, second: dep.id}
        failures: list[Failure] = []
        pending = {lead, second}
        while pending:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                tried = task.result()  # attempts return values; only a bug of ours raises here
                if isinstance(tried, Answer):
                    await _stop(attempts, {lead, second} - {task})
                    outcome = "runner_up_won" if task is second else "leader_won"
                    attempts.metrics.hedge(run.route.name, outcome)
                    return Race(tuple(failures), tried, hedged_with=other[task])
                failures.append(tried)
                if not tried.error.is_retryable:  # the request's own fault: no point racing on
                    await _stop(attempts, {lead, second} - {task})
                    attempts.metrics.hedge(run.route.name, "failed")
                    return Race(tuple(failures))
        attempts.metrics.hedge(run.route.name, "failed")
        return Race(tuple(failures))
    except BaseException:
        # A bug of ours in one attempt, or the request cancelled (client gone): no attempt may
        # outlive the race holding its slot and its upstream connection.
        await _abandon(attempts, racing)
        raise


async def _stop(attempts: Attempts, tasks: set[asyncio.Task[Tried]]) -> None:
    """Stop the losing attempt: its connection closes, so the vendor stops generating. One that
    answered in the same instant has its stream closed and its slot freed."""
    for task in tasks:
        if not task.done():
            task.cancel(HEDGE_LOST)
        with contextlib.suppress(asyncio.CancelledError):
            tried = await task
            if isinstance(tried, Answer) and tried.stream is not None:
                await tried.stream.aclose()
                await attempts.settle(
                    tried.deployment, tried.grant, tried.started, "slow", usage=None
                )


async def _abandon(attempts: Attempts, tasks: set[asyncio.Task[Tried]]) -> None:
    """The race ended in an exception: cancel what still runs (its attempt frees its own slot)
    and close and free any stream that answered, since no one will relay it."""
    for task in tasks:
        task.cancel()  # no message: a cancelled request says nothing about the vendor
    for task in tasks:
        try:
            tried = await task
        except BaseException:  # cancelled, or the exception already on its way up
            continue
        if isinstance(tried, Answer) and tried.stream is not None:
            await tried.stream.aclose()
            await attempts.settle(
                tried.deployment, tried.grant, tried.started, "rejected", usage=None
            )
