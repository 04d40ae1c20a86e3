"""In-process Store: the embedded default when no Redis is configured."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Awaitable, Iterable, Mapping
from dataclasses import replace

from gateway.config.runtime import Deployment
from gateway.core.circuit import held_open
from gateway.core.estimators import Estimate, Outcome, apply
from gateway.core.jitter import jitter
from gateway.core.pool_sharing import PoolShare
from gateway.state.quota import WINDOW_MS, Denied, Grant, LocalQuota
from gateway.state.tenant_limits import (
    MemoryTenantLimits,
    TenantDenied,
    TenantGrant,
    TenantLimits,
)

REFRESH_S = 0.25


class MemoryStore:
    def __init__(self, refresh_s: float = REFRESH_S, window_ms: int = WINDOW_MS) -> None:
        self._estimates: dict[str, Estimate] = {}
        self._deployments: dict[str, Deployment] = {}
        self._quota = LocalQuota(window_ms=window_ms)
        self._refresh_s = refresh_s
        self._task: asyncio.Task[None] | None = None
        self._tenants = MemoryTenantLimits()

    def snapshot(self) -> Mapping[str, Estimate]:
        return self._estimates

    async def reserve(self, dep: Deployment, tokens: int) -> Grant | Denied:
        result = self._quota.reserve(dep, tokens, os.urandom(12).hex(), _now_ms())
        if isinstance(result, Denied):
            self._refresh_one(dep)  # let the scorer see it is full at once
        return result

    async def reserve_for(
        self, tenant: Awaitable[TenantGrant | TenantDenied], dep: Deployment, tokens: int
    ) -> tuple[TenantGrant | TenantDenied, Grant | Denied | None]:
        allowed = await tenant  # (no round trips to save: the caller's first, as ever)
        if isinstance(allowed, TenantDenied):
            return allowed, None
        return allowed, await self.reserve(dep, tokens)

    async def settle(self, grant: Grant, outcome: Outcome, tokens_used: int) -> None:
        self._quota.settle(grant, tokens_used)
        est = self._estimates.get(outcome.deployment_id) or Estimate()
        self._estimates[outcome.deployment_id] = apply(est, outcome)

    async def hold_open(self, deployment_id: str) -> None:
        est = self._estimates.get(deployment_id)
        if est is not None:
            now = time.time()
            breaker = held_open(est.breaker, now, jitter(now))
            self._estimates[deployment_id] = replace(est, breaker=breaker)

    def track(self, deployments: Iterable[Deployment]) -> None:
        self._deployments = {d.id: d for d in deployments}

    async def start(self) -> None:
        self._task = asyncio.create_task(self._refresh_forever(), name="memory-store-refresh")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def pool_share(self) -> PoolShare | None:
        return None  # one process: nothing to share

    def tenant_limits(self) -> TenantLimits:
        return self._tenants

    def health(self) -> Mapping[str, object]:
        return {"backend": "memory", "ok": True}

    async def refresh(self) -> None:
        """Recompute headroom and in-flight now (the background loop does it every refresh_s)."""
        for dep in list(self._deployments.values()):
            self._refresh_one(dep)

    def _refresh_one(self, dep: Deployment) -> None:
        free, in_flight = self._quota.usage(dep, _now_ms())
        est = self._estimates.get(dep.id) or Estimate()
        if est.quota_headroom != free or est.in_flight != in_flight:
            self._estimates[dep.id] = replace(est, quota_headroom=free, in_flight=in_flight)

    async def _refresh_forever(self) -> None:
        # Windows slide with time even when no request comes: keep headroom current.
        while True:
            await self.refresh()
            await asyncio.sleep(self._refresh_s)


def _now_ms() -> int:
    return int(time.time() * 1000)
