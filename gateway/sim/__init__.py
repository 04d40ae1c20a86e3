"""Simulated OpenAI-compatible inference vendors on loopback, for tests, the demo and benchmarks.

A vendor spec with an `engine` is a self-hosted replica (vLLM / SGLang): see pool.py.
"""

from __future__ import annotations

from gateway.sim.config import (
    EngineSpec,
    Outage,
    SimConfig,
    VendorSpec,
    load_sim_config,
    replica_specs,
)
from gateway.sim.pool import Engine
from gateway.sim.runner import DEMO_CONFIG, run_sim, serve_forever
from gateway.sim.server import SimVendor
from gateway.sim.stats import VendorStats

__all__ = [
    "DEMO_CONFIG",
    "Engine",
    "EngineSpec",
    "Outage",
    "SimConfig",
    "SimVendor",
    "VendorSpec",
    "VendorStats",
    "load_sim_config",
    "replica_specs",
    "run_sim",
    "serve_forever",
]
