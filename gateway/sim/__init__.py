"""Simulated inference vendors on loopback, for tests, the demo and benchmarks.

A vendor speaks its spec's `dialect`: `openai` (chat completions, legacy completions,
embeddings) or `anthropic` (Messages and count_tokens, as api.anthropic.com). A vendor spec with
an `engine` is a self-hosted replica (vLLM / SGLang): see pool.py.
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
from gateway.sim.core import Received
from gateway.sim.pool import Engine
from gateway.sim.runner import DEMO_CONFIG, run_sim, serve_forever
from gateway.sim.server import SimVendor
from gateway.sim.stats import VendorStats

__all__ = [
    "DEMO_CONFIG",
    "Engine",
    "EngineSpec",
    "Outage",
    "Received",
    "SimConfig",
    "SimVendor",
    "VendorSpec",
    "VendorStats",
    "load_sim_config",
    "replica_specs",
    "run_sim",
    "serve_forever",
]
