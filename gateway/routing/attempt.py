"""One attempt at one deployment: send, wait for the first answer, settle its reservation.

An attempt returns what happened as a value (Answer or Failure); the loop decides what follows.
Every exit settles the reservation: an answer when its reply is in (a stream: when the relay
ends), a failure at once, a cancellation (hedge lost, client gone) before it propagates.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any

from gateway.config.runtime import Deployment
from gateway.core.estimators import Outcome, OutcomeKind
from gateway.core.latency_fit import MAX_WEIGHT
from gateway.core.operation import served_as
from gateway.core.usage import Usage
from gateway.errors import UpstreamError, UpstreamStatusError, UpstreamTimeout
from gateway.routing.failures import kind_of
from gateway.routing.health import RejectedCredentials, says_bad_key
from gateway.routing.run import Run
from gateway.routing.scoring import Ranking
from gateway.routing.stated_limits import StatedLimits
from gateway.routing.translate import TRANSLATIONS
from gateway.state.quota import Grant, header_headroom
from gateway.state.store import Store
from gateway.telemetry.families import Metrics
from gateway.upstream.base import Call, Reply, StreamReply

RETRY_AFTER_DEFAULT_S = 1.0  # a 429 without Retry-After: out of routing for this long

MAX_WEIGHT_WAITS = int(MAX_WEIGHT)  # streams waiting past the target that count, at most
HEDGE_LOST = "hedge lost"  # the cancel message of the attempt that lost a hedge race


@dataclass(frozen=True, slots=True)
class Answer:
    """The deployment answered: a whole reply, or a stream whose first event is in."""

    deployment: Deployment
    grant: Grant
    number: int  # which attempt of the request this was (1 = the first)
    started: float  # perf_counter when it was sent
    upstream_s: float
    reply: Reply | None = None
    stream: StreamReply | None = None


@dataclass(frozen=True, slots=True)
class Failure:
    deployment: Deployment
    error: UpstreamError
    upstream_s: float


Tried = Answer | Failure


class Attempts:
    def __init__(
        self,
        store: Store,
        credentials: RejectedCredentials,
        *,
        clock: Callable[[], float],
        background: Callable[[Coroutine[Any, Any, None]], None],
        metrics: Metrics | None = None,
    ) -> None:
        self.metrics = metrics or Metrics()
        self._store = store
        self._credentials = credentials
        self._clock = clock
        self._background = background
        self.waits = FirstTokenWaits()  # streams without a first token yet: evidence in flight
        self._probes: set[str] = set()  # reservations of probes, until settled
        self.stated = StatedLimits()  # rpm the vendors' headers state: reservations hold it

    async def attempt(self, run: Run, dep: Deployment, grant: Grant) -> Tried:
        req, route = run.req, run.route
        op = served_as(req.operation, dep.operations) or req.operation
        translation = None if op is req.operation else TRANSLATIONS[req.operation]
        call = Call(
            op,
            dep.upstream_model,
            req.body if translation is None else translation.body(req, dep.upstream_model),
            req.stream,
            req.client_wants_usage or translation is not None,  # a translator needs the usage
            req.request_id,
            connect_timeout_s=route.connect_timeout_s,
            read_timeout_s=route.read_timeout_s,
            resume=route.resume and req.resumable,
            prompt=req.prompt,
            headers=req.headers if translation is None else {},  # for vendors of its dialect
        )
        number = len(run.failures) + 1
        started = time.perf_counter()
        self._begin(run, dep, grant, number, started)
        upstream = run.upstreams[dep.provider]
        limit = _tighter(route.first_token_timeout_s, route.total_timeout_s)
        span = run.trace.attempt(
            deployment=dep.id,
            provider=dep.provider,
            upstream_model=dep.upstream_model,
            number=number,
            operation=op,
        )
        reply: Reply | None = None
        stream: StreamReply | None = None
        try:
            try:
                async with asyncio.timeout(limit):
                    if req.stream:
                        stream = await upstream.open_stream(call)
                    else:
                        reply = await upstream.complete(call)
            except TimeoutError:
                waited = (limit or 0.0) * 1000
                raise UpstreamTimeout(f"no first token within {waited:.0f} ms") from None
            if translation is not None:  # back into the client's dialect
                if reply is not None:
                    reply = translation.reply(reply, req)
                if stream is not None:
                    stream = translation.stream(stream, req)
        except UpstreamError as exc:
            span.failed(kind_of(exc), exc.message)
            await self.settle(dep, grant, started, kind_of(exc), usage=None, refused=exc)
            if isinstance(exc, UpstreamStatusError) and says_bad_key(exc):
                # Out of routing at once, then a free probe confirms or lifts it (a vendor's
                # wording must not take a provider out on its own).
                self._credentials.reject(dep.provider, exc.upstream_status, self._clock())
                self._background(self._credentials.confirm(dep.provider, upstream))
            return Failure(dep, exc, time.perf_counter() - started)
        except BaseException as exc:
            # A lost hedge race says "slower than the time it had" (so a slow vendor stops being
            # raced forever); a client that left, or a bug of ours, says nothing of the vendor.
            # Either way the slot is freed before the exception goes on.
            lost = isinstance(exc, asyncio.CancelledError) and exc.args[:1] == (HEDGE_LOST,)
            span.failed("hedge_lost" if lost else "cancelled", type(exc).__name__)
            await self.settle(dep, grant, started, "slow" if lost else "rejected", usage=None)
            raise
        finally:
            self.waits.end(dep.id, grant.resid, answered=stream is not None)
        answer = Answer(dep, grant, number, started, time.perf_counter() - started, reply, stream)
        usage = reply.usage if reply is not None else None
        span.answered((usage.prompt_tokens, usage.completion_tokens) if usage else None)
        if reply is not None:
            # Settled after the reply is on its way: the client does not wait for our bookkeeping.
            settled = self.settle(
                dep, grant, started, "ok", usage=reply.usage, headers=reply.headers
            )
            self._background(settled)
        return answer

    async def settle(
        self,
        dep: Deployment,
        grant: Grant,
        started: float,
        kind: OutcomeKind,
        *,
        usage: Usage | None,
        ttft_ms: float | None = None,
        headers: Mapping[str, str] | None = None,
        refused: UpstreamError | None = None,
    ) -> None:
        """Record the outcome in live state and release the reservation with the real tokens.
        A 429 says the vendor has no room until its Retry-After (a limit we were not told of,
        or set too high): the deployment is out of routing until then."""
        self.metrics.attempt(dep.id, kind)
        hint, ttl = header_headroom(headers) if headers else None, 0.0
        if headers:
            self.stated.learn(dep.id, headers)
        if isinstance(refused, UpstreamStatusError) and refused.upstream_status == 429:
            hint, ttl = 0.0, refused.retry_after_s or RETRY_AFTER_DEFAULT_S
        outcome = Outcome(
            dep.id,
            kind,
            self._clock(),
            (time.perf_counter() - started) * 1000,
            ttft_ms,
            usage.completion_tokens if usage else None,
            hint,
            ttl,
            probe=grant.resid in self._probes,
        )
        self._probes.discard(grant.resid)
        await self._store.settle(grant, outcome, usage.total_tokens if usage else 0)

    def _begin(self, run: Run, dep: Deployment, grant: Grant, number: int, sent: float) -> None:
        if is_probe(run.ranking, dep, number):
            self._probes.add(grant.resid)
        if run.req.stream:
            self.waits.begin(dep.id, grant.resid, sent)


class FirstTokenWaits:
    """Streamed attempts waiting for their first token, per deployment: what they waited so far
    is evidence before they end. Times are perf_counter seconds, passed in."""

    def __init__(self) -> None:
        self._waiting: dict[str, dict[str, float]] = {}  # deployment -> reservation -> sent
        self._answered: dict[str, float] = {}  # deployment -> when its newest answer was sent

    def begin(self, deployment_id: str, resid: str, sent: float) -> None:
        self._waiting.setdefault(deployment_id, {})[resid] = sent

    def end(self, deployment_id: str, resid: str, *, answered: bool) -> None:
        sent = self._waiting.get(deployment_id, {}).pop(resid, None)
        if answered and sent is not None:
            self._answered[deployment_id] = max(self._answered.get(deployment_id, sent), sent)

    def overdue_ms(
        self, deployment_id: str, target_ms: float, now: float, most: int = MAX_WEIGHT_WAITS
    ) -> list[float]:
        """How long those still waiting past `target_ms` (certain misses) have waited, the
        `most` longest, leaving out any sent before the newest that answered (overtaken by it:
        an older sign). At most `most`: a fit holds no more samples than that anyway, and a
        slow-down at a high rate must not cost a fold per request in flight."""
        waits = self._waiting.get(deployment_id)
        if not waits:
            return []
        since = self._answered.get(deployment_id, -math.inf)
        out = []
        for sent in waits.values():  # oldest first: stop at the first within the target
            waited = (now - sent) * 1000
            if waited <= target_ms:
                break
            if sent > since:
                out.append(waited)
                if len(out) >= most:
                    break
        return out


def is_probe(ranking: Ranking, dep: Deployment, number: int) -> bool:
    """The first attempt, on the candidate exploration moved first."""
    first = ranking.ranked[0].deployment.id if ranking.ranked else None
    return number == 1 and ranking.explored and first == dep.id


def _tighter(a: float | None, b: float | None) -> float | None:
    return min(a, b) if a is not None and b is not None else (a if a is not None else b)
