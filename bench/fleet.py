"""The processes under test: the simulator and each proxy, pinned to their cores, ready to serve."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from bench.procs import Child, spawn, wait_ready
from bench.serve import sim_spec
from gateway.sim import SimVendor
from gateway.sim.catalog import SimPrice, providers_yaml

DIRECT = "direct"
TARGETS = (
    DIRECT,
    "passthrough-httpx",
    "passthrough-aiohttp",
    "gateway",
    "gateway-redis",
    "gateway-httpx",
)
REDIS = "gateway-redis"  # the gateway with its state in Redis (Redis(url, prefix) to start)
Cores = tuple[int | None, int | None]  # (proxy core, client core)


class _RemoteSim(SimVendor):
    """The simulator process as providers_yaml wants it: a SimVendor we do not start here."""

    def __init__(self, port: int) -> None:
        super().__init__("sim", sim_spec(port))
        self._remote_port = port

    @property
    def port(self) -> int:
        return self._remote_port


def cores() -> Cores:
    """(proxy core, client core): the first two cores this process may use."""
    allowed = sorted(os.sched_getaffinity(0))
    if len(allowed) < 2:
        print("warning: fewer than 2 cores: nothing is pinned", file=sys.stderr)
        return None, None
    return allowed[0], allowed[1]


@dataclass(frozen=True, slots=True)
class Redis:
    url: str
    prefix: str  # unique per run: every key under it is deleted at the end


def gateway_args(
    workdir: Path, transport: str = "aiohttp", redis: Redis | None = None
) -> list[str]:
    args = [
        "gateway",
        "--providers",
        str(workdir / "providers.yaml"),
        "--policies",
        str(workdir / "policies"),
        "--transport",
        transport,
    ]
    if redis is not None:
        args += ["--redis-url", redis.url, "--redis-prefix", redis.prefix]
    return args


def start(
    children: dict[str, Child],
    names: list[str],
    workdir: Path,
    http: str,
    pinned: Cores,
    redis: Redis | None = None,
    trees: Mapping[str, Path] | None = None,
) -> None:
    """Add the simulator (as "direct") and the named proxies to `children`; the caller stops them.

    The simulator shares the client core with the load generator; each proxy gets the other.
    `redis` is needed for gateway-redis. `trees` names more targets, each the `gateway` target
    (same arguments, same providers and policies) run from another checkout: its own
    `bench.serve` and `gateway` (bench/baseline.py makes one for `--baseline REV`).
    """
    trees = trees or {}
    proxy_cpu, client_cpu = pinned
    sim = children[DIRECT] = spawn("sim", ["sim"], cpu=client_cpu, logdir=workdir)
    wait_ready(sim)
    upstream = f"http://127.0.0.1:{sim.port}/v1"
    providers = providers_yaml({"sim": _RemoteSim(sim.port)}, {"sim": SimPrice(1, 2)})
    (workdir / "providers.yaml").write_text(providers)
    (workdir / "policies").mkdir(exist_ok=True)  # empty: the implicit route for model "m"
    argv = {
        "passthrough-httpx": ["passthrough-httpx", "--upstream", upstream],
        "passthrough-aiohttp": ["passthrough-aiohttp", "--upstream", upstream],
        "gateway": gateway_args(workdir, "aiohttp"),
        "gateway-httpx": gateway_args(workdir, "httpx"),
    }
    if redis is not None:
        argv[REDIS] = gateway_args(workdir, "aiohttp", redis)
    for name in trees:
        argv[name] = argv["gateway"]
    for name in names:
        if name == REDIS and redis is None:
            raise ValueError(f"{REDIS} needs a Redis URL and prefix")
        if name != DIRECT:
            args = [*argv[name], "--http", http]
            tree = trees.get(name)
            children[name] = spawn(name, args, cpu=proxy_cpu, logdir=workdir, tree=tree)
    for name, child in children.items():
        wait_ready(child, http_path="/healthz" if name.startswith("gateway") else None)


def stop(children: dict[str, Child]) -> None:
    for child in children.values():
        child.stop()
