"""The Store protocol: what the request path needs from live state, whatever keeps it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from gateway.state.estimators import Estimate, Outcome


class Store(Protocol):
    """Implementations: memory_store.MemoryStore (one process); Redis comes with its issue."""

    def snapshot(self) -> Mapping[str, Estimate]:
        """The local view the scorer reads: no I/O on the hot path."""
        ...

    async def begin(self, deployment_id: str) -> None:
        """An attempt starts: count it in flight."""
        ...

    async def record(self, outcome: Outcome) -> None:
        """An attempt ended: settle in-flight and fold the outcome into the estimates."""
        ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    def health(self) -> Mapping[str, object]:
        """Backend name and whether it is reachable, for /readyz."""
        ...
