"""create_app(): the FastAPI factory; the lifespan builds every resource and closes it."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

from fastapi import FastAPI

from gateway.api import errors, health, openai_routes
from gateway.api.body_limit import BodyLimit
from gateway.api.request_context import RequestContext
from gateway.api.state import AppState
from gateway.config.loader import load_config
from gateway.config.runtime import Config
from gateway.ledger.record import Ledger
from gateway.routing.router import Router
from gateway.settings import Settings
from gateway.state.memory_store import MemoryStore
from gateway.state.store import Store
from gateway.upstream.registry import build_upstreams

log = logging.getLogger("gateway")


def create_app(
    settings: Settings | None = None,
    *,
    config: Config | None = None,
    env: Mapping[str, str] | None = None,
    ledger: Ledger | None = None,
) -> FastAPI:
    settings = settings or Settings()
    env = os.environ if env is None else env
    # Load now, not in the lifespan: a bad file must stop `serve` before it binds a port.
    config = config or load_config(settings.providers, settings.policies, env)
    for provider, why in config.unavailable.items():
        log.warning("provider %s is unavailable and skipped: %s", provider, why)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store: Store = MemoryStore()
        store.track(config.deployments.values())
        await store.start()
        upstreams = build_upstreams(config, settings, env)
        router = Router(
            config,
            upstreams,
            store,
            ledger=ledger,
            default_output_tokens=settings.default_output_tokens,
            explore_rate=settings.explore_rate,
        )
        app.state.gateway = AppState(settings, router, store, upstreams)
        log.info(
            "gateway ready: %d deployments, %d routes, config %s",
            len(config.deployments),
            len(config.routes),
            config.version,
        )
        try:
            yield
        finally:
            await asyncio.gather(*(u.aclose() for u in upstreams.values()), return_exceptions=True)
            await store.close()

    app = FastAPI(
        title="Inference routing gateway", lifespan=lifespan, docs_url=None, redoc_url=None
    )
    errors.install(app)
    app.include_router(openai_routes.router)
    app.include_router(health.router)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestContext)
    return app


def create_app_from_env() -> FastAPI:
    """Factory for `uvicorn --factory` (multi-worker serve): settings from the environment."""
    return create_app(Settings())
