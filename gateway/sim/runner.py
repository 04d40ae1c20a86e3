"""Run a whole simulated fleet: as an async context manager (tests) or until cancelled (CLI)."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from gateway.sim.config import load_sim_config
from gateway.sim.server import SimVendor

if TYPE_CHECKING:
    import os
    from collections.abc import AsyncIterator

    from gateway.sim.config import SimConfig

DEMO_CONFIG = Path(__file__).with_name("demo.yaml")
POOL_CONFIG = Path(__file__).with_name("pool.yaml")  # a 2-replica pool and two spill vendors


@asynccontextmanager
async def run_sim(
    config: SimConfig, *, host: str = "127.0.0.1"
) -> AsyncIterator[dict[str, SimVendor]]:
    """Start every vendor of `config`, yield them by name, stop them all on exit.

    A spec with `replicas: N` yields N vendors, `name-0` ... `name-{N-1}` (see `replica_specs`).
    """
    specs = config.expanded()
    vendors = {name: SimVendor(name, spec, host=host) for name, spec in specs.items()}
    try:
        for vendor in vendors.values():
            await vendor.start()
        yield vendors
    finally:
        await asyncio.gather(*(vendor.stop() for vendor in vendors.values()))


async def serve_forever(config_path: str | os.PathLike[str], *, host: str = "127.0.0.1") -> None:
    """Serve the vendors of a YAML file, one line printed per vendor, until cancelled."""
    config = load_sim_config(config_path)
    async with run_sim(config, host=host) as vendors:
        for name, vendor in vendors.items():
            models = ", ".join(vendor.spec.models)
            engine = vendor.spec.engine
            kind = f"  engine: {engine.kind} (metrics {vendor.root_url}/metrics)" if engine else ""
            url = vendor.root_url if vendor.spec.dialect == "anthropic" else vendor.base_url
            dialect = "  dialect: anthropic" if vendor.spec.dialect == "anthropic" else ""
            print(f"sim vendor {name:<12} {url}  models: {models}{kind}{dialect}", flush=True)
        await asyncio.Event().wait()
