"""Simulated OpenAI-compatible inference vendors on loopback, for tests, the demo and benchmarks."""

from __future__ import annotations

from gateway.sim.config import Outage, SimConfig, VendorSpec, load_sim_config
from gateway.sim.runner import DEMO_CONFIG, run_sim, serve_forever
from gateway.sim.server import SimVendor
from gateway.sim.stats import VendorStats

__all__ = [
    "DEMO_CONFIG",
    "Outage",
    "SimConfig",
    "SimVendor",
    "VendorSpec",
    "VendorStats",
    "load_sim_config",
    "run_sim",
    "serve_forever",
]
