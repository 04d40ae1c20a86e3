"""The Store protocol: what the request path needs from live state, whatever keeps it."""

from __future__ import annotations

from collections.abc import Awaitable, Iterable, Mapping
from typing import Protocol

from gateway.config.runtime import Deployment
from gateway.core.estimators import Estimate, Outcome
from gateway.core.pool_sharing import PoolShare
from gateway.state.quota import Denied, Grant
from gateway.state.tenant_limits import TenantDenied, TenantGrant, TenantLimits


class Store(Protocol):
    """Implementations: memory_store.MemoryStore (one process), redis_store.RedisStore (shared).

    Per request: one reserve() (one Redis round trip, the caller's limits and budget in it when
    it has some: reserve_for()) and one settle() (one more, off the client's path).
    """

    def snapshot(self) -> Mapping[str, Estimate]:
        """The local view the scorer reads: no I/O, refreshed in the background."""
        ...

    async def reserve(self, dep: Deployment, tokens: int) -> Grant | Denied:
        """Atomically check every limit of the deployment and take a slot, or say which is full."""
        ...

    async def reserve_for(
        self, tenant: Awaitable[TenantGrant | TenantDenied], dep: Deployment, tokens: int
    ) -> tuple[TenantGrant | TenantDenied, Grant | Denied | None]:
        """The caller's reservation (`tenant_limits().reserve(...)`, not awaited yet) and then
        the deployment's, in one round trip where the store can. The deployment's is None when
        the caller's was refused (any slot it took is given back, off the client's path)."""
        ...

    async def settle(self, grant: Grant, outcome: Outcome, tokens_used: int) -> None:
        """The attempt ended: free its slot, correct its tokens, fold in the outcome."""
        ...

    async def hold_open(self, deployment_id: str) -> None:
        """A free health probe failed at the end of a cool-down: keep the circuit open."""
        ...

    def track(self, deployments: Iterable[Deployment]) -> None:
        """The deployments the background refresh keeps numbers for (config reloads call it)."""
        ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    def health(self) -> Mapping[str, object]:
        """Backend name, reachable or degraded, for /readyz and /admin/providers."""
        ...

    def tenant_limits(self) -> TenantLimits:
        """Keys' and teams' limits and budgets, shared as this store is."""
        ...

    def pool_share(self) -> PoolShare | None:
        """How pools share their load with the other gateways through this store; None when
        the store is this process's alone."""
        ...
