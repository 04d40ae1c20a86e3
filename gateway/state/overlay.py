"""A Store decorator whose snapshot shows live signals the Store does not keep (pools' load).

The scorer reads `snapshot()`; a pool's entry there carries its best replica's predicted TTFT,
and no headroom when every replica is at its safety limit (see gateway.upstream.pool). Every
other method is the wrapped Store's.
"""

from __future__ import annotations

from collections.abc import Awaitable, Iterable, Iterator, Mapping
from typing import Protocol

from gateway.config.runtime import Deployment
from gateway.core.estimators import Estimate, Outcome
from gateway.core.pool_sharing import PoolShare
from gateway.state.quota import Denied, Grant
from gateway.state.store import Store
from gateway.state.tenant_limits import TenantDenied, TenantGrant, TenantLimits


class Signals(Protocol):
    def overlay(self, deployment_id: str, est: Estimate | None) -> Estimate | None: ...


class _Overlaid(Mapping[str, Estimate]):
    __slots__ = ("_base", "_ids", "_signals")

    def __init__(self, base: Mapping[str, Estimate], signals: Signals, ids: frozenset[str]) -> None:
        self._base, self._signals, self._ids = base, signals, ids

    def __getitem__(self, key: str) -> Estimate:
        est = self._base.get(key)
        if key in self._ids:
            est = self._signals.overlay(key, est)
        if est is None:
            raise KeyError(key)
        return est

    def __iter__(self) -> Iterator[str]:
        return iter(set(self._base) | self._ids)

    def __len__(self) -> int:
        return len(set(self._base) | self._ids)


class OverlayStore:
    """`Store` with `signals` laid over the snapshot for the pool deployments being tracked."""

    def __init__(self, store: Store, signals: Signals) -> None:
        self.inner = store
        self._signals = signals
        self._ids: frozenset[str] = frozenset()

    def snapshot(self) -> Mapping[str, Estimate]:
        base = self.inner.snapshot()
        return _Overlaid(base, self._signals, self._ids) if self._ids else base

    async def reserve(self, dep: Deployment, tokens: int) -> Grant | Denied:
        return await self.inner.reserve(dep, tokens)

    async def reserve_for(
        self, tenant: Awaitable[TenantGrant | TenantDenied], dep: Deployment, tokens: int
    ) -> tuple[TenantGrant | TenantDenied, Grant | Denied | None]:
        return await self.inner.reserve_for(tenant, dep, tokens)

    async def settle(self, grant: Grant, outcome: Outcome, tokens_used: int) -> None:
        await self.inner.settle(grant, outcome, tokens_used)

    async def hold_open(self, deployment_id: str) -> None:
        await self.inner.hold_open(deployment_id)

    def track(self, deployments: Iterable[Deployment]) -> None:
        deployments = list(deployments)
        self._ids = frozenset(d.id for d in deployments if d.pool is not None)
        self.inner.track(deployments)

    async def start(self) -> None:
        await self.inner.start()

    async def close(self) -> None:
        await self.inner.close()

    def health(self) -> Mapping[str, object]:
        return self.inner.health()

    def pool_share(self) -> PoolShare | None:
        return self.inner.pool_share()

    def tenant_limits(self) -> TenantLimits:
        return self.inner.tenant_limits()
