"""What the lifespan builds and the handlers read (typed, one object on app.state)."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.reload import Reloader
from gateway.routing.router import Router
from gateway.settings import Settings
from gateway.state.store import Store


@dataclass(slots=True)
class AppState:
    settings: Settings
    router: Router
    store: Store
    reloader: Reloader
