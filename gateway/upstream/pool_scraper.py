"""The background task that reads every pool replica's `/metrics` (one task for all pools).

Every INTERVAL_S it scrapes each replica of each PoolUpstream the gateway currently serves
(the source is re-read every round, so reloads are followed) with short timeouts; a replica
that does not answer keeps its old scrape, which goes stale and then counts as busy.
It is also the `Signals` the pool-aware store overlays on the scorer's snapshot.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping

import httpx

from gateway.state.estimators import Estimate
from gateway.upstream.base import Upstream
from gateway.upstream.pool import PoolUpstream
from gateway.upstream.pool_metrics import parse_load

log = logging.getLogger("gateway.pool")
INTERVAL_S = 0.2
TIMEOUT_S = 0.5

Source = Callable[[], Mapping[str, Upstream]]


class PoolScraper:
    def __init__(
        self,
        source: Source | None = None,
        *,
        interval_s: float = INTERVAL_S,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._source = source
        self._interval_s = interval_s
        self._transport = transport
        self._pools: dict[str, PoolUpstream] = {}
        self._task: asyncio.Task[None] | None = None
        self._client: httpx.AsyncClient | None = None
        self._failing: set[str] = set()  # metrics URLs whose failure was logged

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
        await self.scrape_once()
        self._task = asyncio.create_task(self._run(), name="pool-scraper")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._client is not None:
            await self._client.aclose()

    async def scrape_once(self) -> None:
        self._refresh_pools()
        jobs = [
            self._scrape(pool, i)
            for pool in self._pools.values()
            if pool.capacity.scraped
            for i in range(len(pool.replicas))
        ]
        if jobs:
            await asyncio.gather(*jobs)

    def _refresh_pools(self) -> None:
        upstreams = self._source() if self._source is not None else {}
        self._pools = {p: u for p, u in upstreams.items() if isinstance(u, PoolUpstream)}

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval_s)
            await self.scrape_once()

    async def _scrape(self, pool: PoolUpstream, index: int) -> None:
        assert self._client is not None
        url = pool.replicas[index].metrics_url
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
        pool.record_scrape(index, load)
