"""Adapter for a self-hosted pool (kind: pool): picks a replica per request, then speaks OpenAI.

Keeps each replica's live state (last scrape, our in-flight and the other gateways', health,
typical duration, TTFT calibration), the pool's prefix-affinity table, and the pool's prediction
that the route's scorer sees (`overlay`). The decisions themselves are the pure functions of
gateway.upstream.replica; the background work (scrapes, DNS, sharing) is in pool_scraper.
"""

from __future__ import annotations

import random
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field, replace

from gateway.config.runtime import Pool
from gateway.core.circuit import Breaker, is_open, step
from gateway.core.estimators import Estimate, peak_ewma
from gateway.core.jitter import jitter
from gateway.core.pool_sharing import PeerLoad, ReplicaSlots
from gateway.core.usage import Usage
from gateway.errors import UpstreamConnectError, UpstreamError, UpstreamStatusError, UpstreamTimeout
from gateway.upstream.base import Call, Reply, StreamReply
from gateway.upstream.openai_compat import OpenAICompatUpstream
from gateway.upstream.pool_affinity import PREFIX_CHARS, AffinityTable, prefix_key
from gateway.upstream.pool_metrics import ReplicaLoad, has_metrics
from gateway.upstream.replica import Capacity, ReplicaState, best_ttft_s, calibrate, choose
from gateway.upstream.transport import Transport

DEFAULT_SERVICE_S = 1.0  # a request's duration on a replica until one is measured
DEFAULT_PROMPT_TOKENS = 500  # typical prompt for the pool's prediction until one is seen
SERVICE_TAU_S = 10.0
SENT_SHARED = 64  # send times shared per replica (the newest): enough for any scrape interval


@dataclass(slots=True)
class LiveReplica:
    url: str
    metrics_url: str
    adapter: OpenAICompatUpstream
    load: ReplicaLoad | None = None
    in_flight: int = 0
    in_flight_at_scrape: int = 0
    fresh_prefill_tokens: int = 0
    epoch: int = 0  # scrapes so far: fresh prefill tokens count until the next one
    sent: list[float] = field(default_factory=list)  # when ours in flight were sent (wall)
    scraped_at: float = 0.0  # wall clock of the last scrape
    # The other gateways' requests on this replica (shared through the Store, ~200 ms late).
    peer_in_flight: int = 0
    peer_fresh_tokens: int = 0
    peer_sent: list[float] = field(default_factory=list)
    service_s: float = DEFAULT_SERVICE_S
    service_at: float = 0.0
    ttft_bias: float = 1.0  # observed / predicted TTFT (upstream.replica.calibrate)
    last_ttft_ms: tuple[float, float] | None = None  # (predicted, observed), for /admin
    breaker: Breaker = field(default_factory=Breaker)
    served: int = 0


@dataclass(slots=True)
class _Ticket:
    """One request on one replica, from the pick until it is off the replica."""

    replica: LiveReplica
    tokens: int  # its prompt tokens
    raw_ttft_s: float  # the TTFT predicted before calibration
    epoch: int  # the replica's scrape count when it was sent
    sent_at: float  # wall clock
    started: float = field(default_factory=time.monotonic)
    lease: str = ""  # its shared slot on the replica, if any
    queued: bool = True  # its prompt still counts as queued prefill work

    def prefilled(self) -> None:
        """A scrape after the send includes it; before that, our count is the correction."""
        r = self.replica
        if self.queued and r.epoch == self.epoch:
            r.fresh_prefill_tokens = max(0, r.fresh_prefill_tokens - self.tokens)
        self.queued = False


class PoolUpstream:
    """One adapter for every replica of a pool; the transport is shared and closed once."""

    def __init__(
        self,
        *,
        provider: str,
        pool: Pool,
        transport: Transport,
        connect_timeout_s: float,
        read_timeout_s: float,
        rng: random.Random | None = None,
    ) -> None:
        self.provider = provider
        self.pool = pool
        self.capacity = Capacity(
            pool.max_batch, pool.max_queue, pool.prefill_tokens_per_s, has_metrics(pool.engine)
        )
        self._transport = transport
        self._timeouts = (connect_timeout_s, read_timeout_s)
        self.replicas: list[LiveReplica] = []  # replaced whole when DNS changes it, never mutated
        self.set_replicas([(r.url, r.metrics_url) for r in pool.replicas])
        self.affinity = AffinityTable()
        self.slots: ReplicaSlots | None = None  # set when pool state is shared (Redis)
        self._rng = rng or random.Random()
        self._typical_prompt = float(DEFAULT_PROMPT_TOKENS)
        self.started_at = time.monotonic()
        self.affinity_hits = 0

    # -- what the scraper, the resolver, the sharer and the scorer use -----------------------

    def set_replicas(self, replicas: Sequence[tuple[str, str]]) -> None:
        """The replicas now (URL, metrics URL). Known ones keep their state; a removed one's
        requests in flight finish on it."""
        known = {r.url: r for r in self.replicas}
        connect_s, read_s = self._timeouts
        self.replicas = [
            known.get(url)
            or LiveReplica(
                url,
                metrics_url,
                OpenAICompatUpstream(
                    base_url=url,
                    api_key=None,
                    transport=self._transport,
                    connect_timeout_s=connect_s,
                    read_timeout_s=read_s,
                ),
            )
            for url, metrics_url in replicas
        ]

    def record_scrape(self, r: LiveReplica, load: ReplicaLoad | None) -> None:
        """A scrape answered (or failed: None keeps the old one, which goes stale)."""
        if load is None:
            return
        r.load = load
        r.in_flight_at_scrape = r.in_flight
        r.scraped_at = time.time()
        r.fresh_prefill_tokens = 0
        r.epoch += 1

    def local_load(self) -> dict[str, PeerLoad]:
        """By replica URL: this gateway's requests in flight, their prompt tokens not yet
        prefilled, and when the latest of them were sent."""
        return {
            r.url: PeerLoad(r.in_flight, r.fresh_prefill_tokens, r.sent[-SENT_SHARED:])
            for r in self.replicas
        }

    def set_peer_load(self, load: Mapping[str, PeerLoad]) -> None:
        """The other gateways' local_load(), summed by replica URL."""
        for r in self.replicas:
            peer = load.get(r.url) or PeerLoad(0, 0, [])
            r.peer_in_flight, r.peer_fresh_tokens, r.peer_sent = peer

    def states(self, now: float) -> list[ReplicaState]:
        wall = time.time()
        return [
            ReplicaState(
                healthy=not is_open(r.breaker, wall),
                load=r.load,
                in_flight=r.in_flight + r.peer_in_flight,
                # The others' requests sent before our scrape are in it already: only those
                # sent since count on top of it (by their send time, not by when we heard).
                in_flight_at_scrape=r.in_flight_at_scrape
                + r.peer_in_flight
                - sum(1 for t in r.peer_sent if t > r.scraped_at),
                fresh_prefill_tokens=r.fresh_prefill_tokens + r.peer_fresh_tokens,
                service_s=r.service_s,
                ttft_bias=r.ttft_bias,
            )
            for r in self.replicas
        ]

    def overlay(self, est: Estimate | None, wall_now: float) -> Estimate:
        """The pool as one deployment: its best replica's predicted TTFT; full when none can
        take a request; an open circuit when every replica is down."""
        est = est or Estimate()
        states = self.states(time.monotonic())
        if not any(s.healthy for s in states):
            until = max(est.breaker.open_until, wall_now + 1.0)
            return replace(est, breaker=replace(est.breaker, open_until=until))
        ttft = best_ttft_s(
            states, self.capacity, time.monotonic(), prompt_tokens=int(self._typical_prompt)
        )
        if ttft is None:
            return replace(est, quota_headroom=0.0)
        # The live, queue-aware prediction is where this pool's TTFT sits now: the scorer reads
        # it (with a fixed spread) rather than the history of a pool whose load moves.
        return replace(est, ttft_ms=ttft * 1000, ttft_fit=None)

    def effective_usd_per_mtok(self) -> float | None:
        """GPU cost since this adapter started divided by the tokens it actually served."""
        served = sum(r.served for r in self.replicas)
        if not served:
            return None
        hours = (time.monotonic() - self.started_at) / 3600
        return self.pool.usd_per_hour * hours / served * 1e6

    # -- the Upstream protocol --------------------------------------------------------------

    async def complete(self, call: Call) -> Reply:
        try:
            return await self._complete(call)
        except UpstreamConnectError:  # that replica is out now (_failed): another may serve
            return await self._complete(call)

    async def open_stream(self, call: Call) -> StreamReply:
        try:
            return await self._open_stream(call)
        except UpstreamConnectError:  # as above; nothing reached the client yet
            return await self._open_stream(call)

    async def _complete(self, call: Call) -> Reply:
        ticket = await self._take(call)
        r = ticket.replica
        try:
            reply = await r.adapter.complete(call)
        except UpstreamError as exc:
            self._failed(r, exc)
            raise
        finally:
            self._left(ticket)
        self._succeeded(r, ticket.started, reply.usage)
        return reply

    async def _open_stream(self, call: Call) -> StreamReply:
        ticket = await self._take(call)
        r = ticket.replica
        try:
            inner = await r.adapter.open_stream(call)
        except BaseException as exc:  # cancelled (a hedge lost) included: the slot is freed
            if isinstance(exc, UpstreamError):
                self._failed(r, exc)
            self._left(ticket)
            raise
        ticket.prefilled()
        r.last_ttft_ms = (ticket.raw_ttft_s * r.ttft_bias * 1000, inner.ttft_ms)
        r.ttft_bias = calibrate(r.ttft_bias, ticket.raw_ttft_s, inner.ttft_ms / 1000)
        return _PoolStream(inner, self, ticket)

    async def aclose(self) -> None:
        await self._transport.aclose()

    async def probe(self) -> bool:
        """Any replica reachable (each replica's own health comes from its metrics)."""
        for r in self.replicas:
            if await r.adapter.probe():
                return True
        return False

    # -- internals ----------------------------------------------------------------------------

    async def _take(self, call: Call) -> _Ticket:
        """_pick, then (pool state shared) a slot on that replica across every gateway; a
        replica the others have filled counts as full until the next exchange, and another
        is picked."""
        for _ in range(len(self.replicas)):
            ticket = self._pick(call)
            if self.slots is None:
                return ticket
            r = ticket.replica
            lease = await self.slots.acquire(self.provider, r.url, self.capacity.limit)
            if lease is not None:
                ticket.lease = lease
                return ticket
            self._left(ticket)
            r.peer_in_flight = max(r.peer_in_flight, self.capacity.limit)
        raise _full(self.provider)

    def _pick(self, call: Call) -> _Ticket:
        """The replica for this call, its prompt tokens and the uncalibrated TTFT predicted."""
        text, total_chars = call.prompt_read().leading(PREFIX_CHARS)
        tokens = max(1, total_chars // 4)
        self._typical_prompt += 0.05 * (tokens - self._typical_prompt)
        now = time.monotonic()
        replicas = self.replicas
        key = prefix_key(text) if self.pool.prefix_affinity else None
        cached_url = self.affinity.get(key, now)
        affine = next((i for i, r in enumerate(replicas) if r.url == cached_url), None)
        choice = choose(
            self.states(now),
            self.capacity,
            now,
            prompt_tokens=tokens,
            affine=affine,
            affine_tokens=PREFIX_CHARS // 4,
            tie=self._rng.random(),
        )
        if choice is None:
            raise _full(self.provider)
        r = replicas[choice.index]
        if choice.affine:
            self.affinity_hits += 1
        if key is not None:
            self.affinity.remember(key, r.url, now)
        ticket = _Ticket(r, tokens, choice.ttft_s / r.ttft_bias, r.epoch, time.time())
        r.in_flight += 1
        r.fresh_prefill_tokens += tokens
        r.sent.append(ticket.sent_at)
        return ticket

    def _left(self, ticket: _Ticket) -> None:
        """The request is off the replica (once per ticket)."""
        r = ticket.replica
        r.in_flight -= 1
        ticket.prefilled()
        r.sent.remove(ticket.sent_at)
        if ticket.lease and self.slots is not None:
            self.slots.release(self.provider, r.url, ticket.lease)

    def _succeeded(self, r: LiveReplica, started: float, usage: Usage | None) -> None:
        now = time.monotonic()
        dt = now - r.service_at if r.service_at else 0.0
        # Peak-EWMA like the vendors' latency: a slow spell is believed at once.
        r.service_s = peak_ewma(r.service_s, now - started, dt, SERVICE_TAU_S)
        r.service_at = now
        r.breaker = Breaker()
        if usage is not None:
            r.served += usage.prompt_tokens + usage.completion_tokens

    def _failed(self, r: LiveReplica, exc: UpstreamError) -> None:
        if isinstance(exc, UpstreamStatusError) and not exc.is_retryable:
            return  # the client's request was refused: says nothing about the replica
        wall = time.time()
        r.breaker = step(
            r.breaker, failed=True, fail_rate=0.0, attempts=0.0, now=wall, jitter=jitter(wall)
        )
        if isinstance(exc, UpstreamConnectError | UpstreamTimeout) and not is_open(r.breaker, wall):
            # Nothing answers there: out at once for a short cool-down, not after five tries.
            r.breaker = Breaker(r.breaker.streak, wall + 1.0, r.breaker.opens + 1)


class _PoolStream:
    """The replica's stream; closing it frees the replica's in-flight slot (once)."""

    def __init__(self, inner: StreamReply, pool: PoolUpstream, ticket: _Ticket) -> None:
        self._inner, self._pool, self._ticket = inner, pool, ticket
        self._closed = False
        self.ttft_ms = inner.ttft_ms
        self.headers = inner.headers
        self.usage = inner.usage
        self.completion_events = inner.completion_events
        self.truncated = inner.truncated
        self.failure = inner.failure

    def partial_text(self) -> str:
        return self._inner.partial_text()

    def error_event(self, message: str, code: str) -> bytes:
        return self._inner.error_event(message, code)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        inner = self._inner
        try:
            async for chunk in inner:
                yield chunk
        finally:
            self._sync()

    def _sync(self) -> None:
        inner = self._inner
        self.usage, self.completion_events = inner.usage, inner.completion_events
        self.truncated, self.failure = inner.truncated, inner.failure

    async def aclose(self) -> None:
        try:
            await self._inner.aclose()
        finally:
            self._sync()
            if not self._closed:
                self._closed = True
                ticket = self._ticket
                self._pool._left(ticket)
                if self.truncated:
                    self._pool._failed(ticket.replica, UpstreamError("stream truncated"))
                else:
                    self._pool._succeeded(ticket.replica, ticket.started, self.usage)


def _full(provider: str) -> UpstreamStatusError:
    return UpstreamStatusError(
        f"pool {provider}: every replica is at its safety limit or down",
        upstream_status=429,
        retry_after_s=1.0,
    )
