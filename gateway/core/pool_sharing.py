"""What a pool and the store that shares pool state between gateways say to each other.

The pool (gateway.upstream.pool) and the sharing store (gateway.state.pool_share) meet only
through these types, so neither package imports the other.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import NamedTuple, Protocol


class PeerLoad(NamedTuple):
    in_flight: int
    fresh_tokens: int  # prompt tokens sent and not yet prefilled
    sent: list[float]  # wall-clock send times of the latest requests in flight


class Affinity(Protocol):
    """A pool's prefix-affinity table, as the sharing store reads and feeds it."""

    @property
    def ttl_s(self) -> float: ...

    def take_outbox(self) -> dict[int, str]: ...

    def learn(self, entries: Iterable[tuple[int, str]], now: float) -> None: ...


class SharedPool(Protocol):
    """One pool as the sharing store sees it."""

    @property
    def affinity(self) -> Affinity: ...

    def local_load(self) -> dict[str, PeerLoad]: ...

    def set_peer_load(self, load: Mapping[str, PeerLoad]) -> None: ...


class ReplicaSlots(Protocol):
    """In-flight slots per replica shared by every gateway."""

    async def acquire(self, pool: str, url: str, limit: int) -> str | None: ...

    def release(self, pool: str, url: str, lease: str) -> None: ...


class PoolShare(ReplicaSlots, Protocol):
    async def exchange(self, pools: Mapping[str, SharedPool]) -> None: ...

    async def close(self, pools: Mapping[str, SharedPool]) -> None: ...
