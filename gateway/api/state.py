"""What the lifespan builds and the handlers read (typed, one object on app.state)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from gateway.core.caller import Caller
from gateway.reload import Reloader
from gateway.routing.router import Router
from gateway.settings import Settings
from gateway.state.store import Store
from gateway.telemetry.gauges import LiveState

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine


class LedgerReader(Protocol):
    @property
    def engine(self) -> AsyncEngine:
        """An engine on the ledger's database (made on first use: status page reads only)."""
        ...


class KeyLookup(Protocol):
    def caller(self, key: str) -> Caller | None:
        """The caller a `gw-` key stands for; None for an unknown, revoked or expired key."""
        ...

    async def refresh(self) -> None:
        """Reload now (a change made through this replica)."""
        ...


@dataclass(slots=True)
class AppState:
    settings: Settings
    router: Router
    store: Store
    reloader: Reloader
    keys: KeyLookup | None = None  # the key directory (None: no key store opened)
    ledger: LedgerReader | None = None  # reads the ledger (status page); None: no database
    live: LiveState | None = None  # what /metrics' gauges read
