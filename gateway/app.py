"""create_app(): the FastAPI factory; the lifespan builds every resource and closes it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from fastapi import FastAPI
from starlette.routing import Route
from starlette.types import ASGIApp

from gateway import logs
from gateway.api import admin, admin_keys, errors, explain, health, metrics, openai_routes, status
from gateway.api.auth import check_bind
from gateway.api.body_limit import BodyLimit
from gateway.api.chat_request import parse_chat
from gateway.api.completions_request import parse_completions
from gateway.api.count_tokens import CountTokens
from gateway.api.embeddings_request import parse_embeddings
from gateway.api.endpoint import Dialect, Endpoint
from gateway.api.fast_path import GatewayApp
from gateway.api.messages_errors import render_messages_error
from gateway.api.messages_request import parse_messages
from gateway.api.request_context import RequestContext
from gateway.api.responses_request import parse_responses
from gateway.api.state import AppState
from gateway.config.loader import load_config
from gateway.config.runtime import Config
from gateway.ledger.database import LazyEngine, parse_database_url
from gateway.ledger.factory import open_ledger, wants_migration
from gateway.ledger.pricing import needs_cost_map
from gateway.ledger.record import Ledger
from gateway.reload import Reloader
from gateway.routing.router import Router
from gateway.routing.tokens import TokenCounter
from gateway.settings import Settings
from gateway.state.factory import build_store
from gateway.state.overlay import OverlayStore
from gateway.state.store import Store
from gateway.telemetry.families import Metrics
from gateway.telemetry.gauges import LiveState
from gateway.telemetry.observer import Observer
from gateway.telemetry.tracing import tracer_from_env
from gateway.tenancy.directory import KeyDirectory
from gateway.tenancy.spend import ledger_seeder
from gateway.upstream.pool_scraper import PoolScraper
from gateway.upstream.registry import build_upstreams

if TYPE_CHECKING:
    from gateway.tenancy.store import KeyStore

log = logging.getLogger("gateway")


def create_app(
    settings: Settings | None = None,
    *,
    config: Config | None = None,
    env: Mapping[str, str] | None = None,
    ledger: Ledger | None = None,
    store: Store | None = None,
) -> FastAPI:
    settings = settings or Settings()
    check_bind(settings)  # before anything binds: open or unmanageable on a network is refused
    env = os.environ if env is None else env
    # Load now, not in the lifespan: a bad file must stop `serve` before it binds a port.
    config = config or load_config(settings.providers, settings.policies, env)
    _announce(settings, config, env)
    if ledger is None:
        parse_database_url(settings.database_url)  # a bad URL must stop `serve` early too

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # First: an outdated schema refuses the start before anything else is opened.
        spend = ledger or await open_ledger(
            settings, load_cost_map=needs_cost_map(config.deployments.values())
        )
        if ledger is None:
            await spend.start()
        keys = app.state.keys = await open_keys(settings)
        directory = KeyDirectory(keys) if keys is not None else None
        if directory is not None:
            await directory.start()
        inner = store or build_store(settings)
        # Pools' replicas' /metrics (the scorer sees the result), DNS, and their load and prefix
        # affinity shared with the other gateways when the Store is shared.
        pools = PoolScraper(share=inner.pool_share())
        state = OverlayStore(inner, pools)
        if keys is not None:  # budgets' counters rebuilt from the ledger when missing
            state.tenant_limits().seeder = ledger_seeder(keys.engine)
        state.track(config.deployments.values())
        await state.start()
        upstreams = build_upstreams(config, settings, env)
        tokens = _token_counter(config)
        router = Router(
            config,
            upstreams,
            state,
            ledger=spend,
            default_output_tokens=settings.default_output_tokens,
            explore_rate=settings.explore_rate,
            tokens=tokens,
            observer=_observer(inner, env),
        )
        reloader = Reloader(settings, env, router, state, upstreams, build_upstreams)
        pools.follow(lambda: reloader.upstreams)
        await pools.start()
        # The status page reads the ledger: through the key store's engine (same database),
        # else one of its own, made on first use; none when the ledger was handed in.
        own_engine = ledger_reader(settings) if keys is None and ledger is None else None
        reader = keys if keys is not None else own_engine
        app.state.gateway = AppState(
            settings,
            router,
            state,
            reloader,
            keys=directory,
            ledger=reader,
            live=LiveState(state, spend, directory),  # what /metrics' gauges read
        )
        remove_sighup = reloader.install_sighup()
        watcher = asyncio.create_task(reloader.watch()) if settings.watch_config else None
        prober = asyncio.create_task(router.health_loop(settings.health_probe_s))
        log.info(
            "gateway ready: %d deployments, %d routes, config %s",
            len(config.deployments),
            len(config.routes),
            config.version,
        )
        try:
            async with metrics.serving_metrics(app.state.gateway):
                yield
        finally:
            await router.drain()
            router.observer.tracer.close()
            remove_sighup()
            await pools.close()
            for task in (watcher, prober):
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
            await reloader.close()  # closes the upstream adapters, current and retired
            await state.close()
            if directory is not None:
                await directory.close()
            if keys is not None:
                await keys.close()
            await asyncio.gather(*([own_engine.dispose()] if own_engine else []))
            if ledger is None:
                await spend.close()  # last: drains the rows of every request that finished

    app = GatewayApp(
        title="Inference routing gateway",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        # FastAPI's built-in OpenTelemetry checks its providers on every request: off; the
        # gateway's own metrics and spans are gateway/telemetry's.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    _mount(app, settings)
    return app


def _announce(settings: Settings, config: Config, env: Mapping[str, str]) -> None:
    """Our secrets by value, beside the patterns, out of every log line from here on; then the
    providers skipped for want of a key."""
    keys_in_use = (env.get(n, "") for d in config.deployments.values() for n in d.secret_envs)
    logs.install([settings.master_key or "", *keys_in_use])
    for provider, why in config.unavailable.items():
        log.warning("provider %s is unavailable and skipped: %s", provider, why)


def _mount(app: GatewayApp, settings: Settings) -> None:
    errors.install(app)
    # The hot path as raw ASGI apps (no Request/Response objects, no dependency solving): a
    # dialect is its parser and error shape.
    fast: dict[str, ASGIApp] = {}
    for path, dialect in ROUTED.items():
        fast[path] = endpoint = Endpoint(dialect)
        app.router.routes.append(Route(path, endpoint, methods=["POST"]))
    app.fast_endpoints = fast  # the same, served around the framework's layers (fast_path.py)
    app.router.routes.append(Route("/v1/messages/count_tokens", CountTokens(), methods=["POST"]))
    for module in (openai_routes, health, admin, admin_keys, explain, status, metrics):
        app.include_router(module.router)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestContext)


MESSAGES = Dialect(
    parse_messages,
    render_error=render_messages_error,
    x_api_key=True,
    forward=frozenset({b"anthropic-version", b"anthropic-beta"}),
)
ROUTED = {
    "/v1/chat/completions": Dialect(parse_chat),
    "/v1/embeddings": Dialect(parse_embeddings),
    "/v1/completions": Dialect(parse_completions),
    "/v1/messages": MESSAGES,
    "/v1/responses": Dialect(parse_responses),
}


def _token_counter(config: Config) -> TokenCounter:
    """The tokenizer (~0.3 s of CPU to load, in a thread) starts loading now only if a TPM
    limit will ask for counts; not awaited: ready sooner. Otherwise the first count loads it."""
    tokens = TokenCounter()
    if any(limit.tpm for dep in config.deployments.values() for limit in dep.limits):
        tokens.start_loading()
    return tokens


def _observer(store: Store, env: Mapping[str, str]) -> Observer:
    """Metrics (their gauges combine across workers as the store is shared or not) and traces
    (when OTEL_EXPORTER_OTLP_ENDPOINT is set)."""
    shared = store.health().get("backend") == "redis"
    return Observer(Metrics(shared_state=shared), tracer_from_env(env))


async def open_keys(settings: Settings) -> KeyStore | None:
    """The key store when auth is on: beside the ledger (same database, same migrations)."""
    if not settings.auth:
        return None
    from gateway.tenancy.store import KeyStore  # SQLAlchemy: only a gateway with keys needs it

    migrate = wants_migration(settings, parse_database_url(settings.database_url))
    return await KeyStore.open(settings.database_url, migrate=migrate)


def ledger_reader(settings: Settings) -> LazyEngine:
    """An engine that reads the ledger's database (the status page's spend and traffic)."""
    return LazyEngine(parse_database_url(settings.database_url))


def create_app_from_env() -> FastAPI:
    """Factory for `uvicorn --factory` (multi-worker serve): settings from the environment."""
    settings = Settings()
    logs.configure(settings.log_level, settings.log_format)  # a worker starts with none
    return create_app(settings)
