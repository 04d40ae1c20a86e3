"""The background task of every pool (one task for all): DNS, `/metrics` scrapes, sharing.

Every INTERVAL_S it re-reads the pools the gateway currently serves (reloads are followed),
re-resolves the DNS names that are due (`replicas: {dns: ...}`), scrapes each replica with short
timeouts (a replica that does not answer keeps its old scrape, which goes stale and then counts
as busy), and exchanges in-flight load and prefix affinity with the other gateways when a shared
Store is configured (gateway.state.pool_share). It is also the `Signals` the pool-aware store
overlays on the scorer's snapshot.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
import weakref
from collections.abc import Awaitable, Callable, Mapping

import httpx

from gateway.config.runtime import DnsSource
from gateway.core.estimators import Estimate
from gateway.core.pool_sharing import PoolShare
from gateway.upstream import pool_dns
from gateway.upstream.base import Upstream
from gateway.upstream.pool import LiveReplica, PoolUpstream
from gateway.upstream.pool_metrics import parse_load

log = logging.getLogger("gateway.pool")
INTERVAL_S = 0.2
TIMEOUT_S = 0.5
DNS_TIMEOUT_S = 5.0

Source = Callable[[], Mapping[str, Upstream]]
Resolver = Callable[[str, int], Awaitable[list[str]]]


class PoolScraper:
    def __init__(
        self,
        source: Source | None = None,
        *,
        interval_s: float = INTERVAL_S,
        transport: httpx.AsyncBaseTransport | None = None,
        share: PoolShare | None = None,
        resolver: Resolver = pool_dns.resolve,
    ) -> None:
        self._source = source
        self._interval_s = interval_s
        self._transport = transport
        self._share = share
        self._resolver = resolver
        self._pools: dict[str, PoolUpstream] = {}
        self._task: asyncio.Task[None] | None = None
        self._client: httpx.AsyncClient | None = None
        self._failing: set[str] = set()  # metrics URLs and DNS names whose failure was logged
        # When each pool's name was last resolved (weak: pools retired by a reload go away).
        self._resolved_at: weakref.WeakKeyDictionary[PoolUpstream, float] = (
            weakref.WeakKeyDictionary()
        )
        self._resolving: dict[int, asyncio.Task[None]] = {}

    def follow(self, source: Source) -> None:
        """Where the live upstreams are (the reloader's current set)."""
        self._source = source
        self._refresh_pools()

    @property
    def pools(self) -> Mapping[str, PoolUpstream]:
        return self._pools

    def overlay(self, deployment_id: str, est: Estimate | None) -> Estimate | None:
        pool = self._pools.get(deployment_id.partition("/")[0]) if self._pools else None
        return est if pool is None else pool.overlay(est, time.time())

    async def start(self) -> None:
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(TIMEOUT_S), transport=self._transport
        )
        self._refresh_pools()
        # Names first: a pool found by DNS has no replica until its name resolves.
        await asyncio.gather(*(self._resolve(p) for p in self._pools.values() if p.pool.dns))
        await self.scrape_once()
        self._task = asyncio.create_task(self._run(), name="pool-scraper")

    async def close(self) -> None:
        for task in [self._task, *self._resolving.values()]:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._share is not None:
            await self._share.close(self._pools)
        if self._client is not None:
            await self._client.aclose()

    async def scrape_once(self) -> None:
        self._refresh_pools()
        self._resolve_due()
        jobs = [
            self._scrape(pool, replica)
            for pool in self._pools.values()
            if pool.capacity.scraped
            for replica in pool.replicas
        ]
        if jobs:
            await asyncio.gather(*jobs)
        if self._share is not None:
            await self._share.exchange(self._pools)

    def _refresh_pools(self) -> None:
        upstreams = self._source() if self._source is not None else {}
        self._pools = {p: u for p, u in upstreams.items() if isinstance(u, PoolUpstream)}
        for pool in self._pools.values():  # a replica's slots are shared with the others too
            pool.slots = self._share

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval_s)
            try:
                await self.scrape_once()
            except Exception:  # the loop must survive anything, or pools' load goes stale
                log.exception("pool refresh failed")

    def _resolve_due(self) -> None:
        """Start a lookup for each name due, in its own task: slow DNS must not delay scrapes."""
        now = time.monotonic()
        for pool in self._pools.values():
            dns, key = pool.pool.dns, id(pool)
            if dns is None or key in self._resolving:
                continue
            if now - self._resolved_at.get(pool, -1e9) >= dns.refresh_s:
                task = asyncio.create_task(self._resolve(pool), name="pool-dns")
                self._resolving[key] = task
                task.add_done_callback(functools.partial(self._done, key))

    def _done(self, key: int, _: asyncio.Task[None]) -> None:
        self._resolving.pop(key, None)

    async def _resolve(self, pool: PoolUpstream) -> None:
        dns = pool.pool.dns
        assert dns is not None
        self._resolved_at[pool] = time.monotonic()
        host, port = pool_dns.host_port(dns)
        try:
            addresses = await asyncio.wait_for(self._resolver(host, port), DNS_TIMEOUT_S)
        except (OSError, TimeoutError) as exc:
            addresses = []
            why = f"{type(exc).__name__}: {exc}"
        else:
            why = "no address"
        if not addresses:  # keep the replicas we know: a DNS hiccup must not empty the pool
            if host not in self._failing:
                self._failing.add(host)
                log.warning("pool %s: %s did not resolve (%s)", pool.provider, host, why)
            return
        self._failing.discard(host)
        self._apply(pool, dns, addresses)

    def _apply(self, pool: PoolUpstream, dns: DnsSource, addresses: list[str]) -> None:
        before = [r.url for r in pool.replicas]
        pool.set_replicas(pool_dns.replica_urls(dns, addresses))
        after = [r.url for r in pool.replicas]
        if after != before:
            log.info("pool %s: replicas now %s (from %s)", pool.provider, after, dns.url)

    async def _scrape(self, pool: PoolUpstream, replica: LiveReplica) -> None:
        assert self._client is not None
        url = replica.metrics_url
        try:
            response = await self._client.get(url)
            response.raise_for_status()
            load = parse_load(response.text, pool.pool.engine, time.monotonic())
        except httpx.HTTPError as exc:
            load = None
            if url not in self._failing:
                self._failing.add(url)
                log.warning("pool %s: metrics at %s failed (%s)", pool.provider, url, exc)
        else:
            if load is None and url not in self._failing:
                self._failing.add(url)
                log.warning(
                    "pool %s: %s lacks the %s load gauges", pool.provider, url, pool.pool.engine
                )
            elif load is not None:
                self._failing.discard(url)
        pool.record_scrape(replica, load)
