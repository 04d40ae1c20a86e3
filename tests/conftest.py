"""Shared fixtures: simulated vendors and a gateway in front of them, over real loopback HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from gateway.app import create_app
from gateway.embedded import serve_in_loop
from gateway.ledger.record import Ledger
from gateway.settings import Settings
from gateway.sim import SimVendor, VendorSpec, run_sim
from gateway.sim.catalog import SimPrice, providers_yaml
from gateway.sim.config import SimConfig


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
        **settings: object,
    ) -> AsyncIterator[Fleet]:
        async with run_sim(SimConfig(vendors=dict(specs))) as vendors:
            providers_file = tmp_path / "providers.yaml"
            sim_prices = {n: SimPrice(*p) for n, p in prices.items()}
            providers_file.write_text(
                providers_yaml(vendors, sim_prices, capabilities=capabilities)
            )
            policies_dir = tmp_path / "policies"
            policies_dir.mkdir(exist_ok=True)
            if policies:
                (policies_dir / "test.yaml").write_text(policies)
            conf = Settings(providers=providers_file, policies=policies_dir, **settings)  # type: ignore[arg-type]
            async with serve_in_loop(create_app(conf, env={}, ledger=ledger)) as url:
                yield Fleet(url, vendors, providers_file)

    return start
