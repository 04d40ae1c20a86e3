"""What the lifespan builds and the handlers read (typed, one object on app.state)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from gateway.routing.router import Router
from gateway.settings import Settings
from gateway.state.store import Store
from gateway.upstream.base import Upstream


@dataclass(slots=True)
class AppState:
    settings: Settings
    router: Router
    store: Store
    upstreams: Mapping[str, Upstream]
