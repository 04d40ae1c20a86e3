"""Shared fixtures: simulated vendors and a gateway in front of them, over real loopback HTTP."""

from __future__ import annotations

import gc
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest

from gateway.app import create_app
from gateway.embedded import serve_in_loop
from gateway.ledger.record import Ledger
from gateway.settings import Settings
from gateway.sim import SimVendor, VendorSpec, run_sim
from gateway.sim.catalog import SimPrice, api_key_envs, providers_yaml
from gateway.sim.config import SimConfig
from gateway.state.store import Store


@dataclass
class Fleet:
    url: str  # the gateway's base URL, e.g. http://127.0.0.1:PORT
    vendors: dict[str, SimVendor]
    providers_file: Path

    @property
    def v1(self) -> str:
        return f"{self.url}/v1"


FleetFactory = Callable[..., AbstractAsyncContextManager[Fleet]]


@pytest.fixture
def steady_gc() -> Iterator[None]:
    """For tests that assert on latencies: the objects earlier tests left in this long pytest
    process (~650,000 by the integration tests) are frozen out of the collector first. Without
    it a full collection during the test paused everything for up to 1.4 s (measured with
    gc.callbacks in a full run), a stall of the test process, not of the gateway."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


@pytest.fixture
def fleet(tmp_path: Path) -> FleetFactory:
    """fleet(specs, prices, policies=None, **settings) -> async context manager of a Fleet."""

    @asynccontextmanager
    async def start(
        specs: Mapping[str, VendorSpec],
        prices: Mapping[str, tuple[float, float]],
        *,
        policies: str | None = None,
        capabilities: Mapping[str, list[str]] | None = None,
        ledger: Ledger | None = None,
        store: Store | None = None,
        limits: Mapping[str, Mapping[str, int]] | None = None,
        operations: Mapping[str, list[str]] | None = None,
        env: Mapping[str, str] | None = None,
        **settings: object,
    ) -> AsyncIterator[Fleet]:
        # typical_ttft=True: each vendor publishes its TTFT (a providers.yaml option, not a setting)
        typical_ttft = bool(settings.pop("typical_ttft", False))
        async with run_sim(SimConfig(vendors=dict(specs))) as vendors:
            providers_file = tmp_path / "providers.yaml"
            sim_prices = {n: SimPrice(*p) for n, p in prices.items()}
            providers_file.write_text(
                providers_yaml(
                    vendors,
                    sim_prices,
                    capabilities=capabilities,
                    limits=limits,
                    operations=operations,
                    typical_ttft=typical_ttft,
                )
            )
            policies_dir = tmp_path / "policies"
            policies_dir.mkdir(exist_ok=True)
            if policies:
                (policies_dir / "test.yaml").write_text(policies)
            # Without an injected ledger the app builds its own: keep its files in tmp_path.
            settings.setdefault("database_url", f"sqlite:///{tmp_path / 'gateway.db'}")
            # Open on loopback unless the test sets a master key (auth is its subject then).
            settings.setdefault("auth", "master_key" in settings)
            settings.setdefault("ledger_spool_dir", tmp_path / "spool")
            conf = Settings(providers=providers_file, policies=policies_dir, **settings)  # type: ignore[arg-type]
            keys = {**api_key_envs(vendors), **(env or {})}  # anthropic vendors' keys by env
            app = create_app(conf, env=keys, ledger=ledger, store=store)
            async with serve_in_loop(app) as url:
                yield Fleet(url, vendors, providers_file)

    return start


# The ledger's tests run on the real Postgres (a schema of their own) and on a SQLite file.
POSTGRES_URL = os.environ.get("GATEWAY_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1/test")


@asynccontextmanager
async def postgres_schema() -> AsyncIterator[str]:
    """A fresh schema in the shared Postgres, dropped afterwards; yields a URL that selects it."""
    schema = f"test_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(POSTGRES_URL)  # no Postgres: the test fails here, loudly
    try:
        await conn.execute(f"CREATE SCHEMA {schema}")
        yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    finally:
        await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        await conn.close()


@pytest.fixture(params=["postgres", "sqlite"])
async def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """An empty ledger database URL, as a user would set GATEWAY_DATABASE_URL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledger.db'}"
        return
    async with postgres_schema() as url:
        yield url
