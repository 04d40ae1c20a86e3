"""The processes under test: the simulator and each proxy, pinned to their cores, ready to serve."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from bench import keys, loadgen
from bench.procs import Child, spawn, wait_ready
from bench.serve import sim_spec
from gateway.sim import SimVendor
from gateway.sim.catalog import SimPrice, providers_yaml
from gateway.sim.config import Dialect

DIRECT = "direct"
DIRECT_MESSAGES = "direct-messages"  # the Anthropic-format simulator itself, Messages bodies
MESSAGES = "gateway-messages"  # the gateway before an Anthropic-format sim: passed through
TRANSLATED = "gateway-messages-translated"  # before the OpenAI sim: Messages <-> chat
LITELLM = "gateway-litellm"  # the OpenAI sim as a kind: litellm provider (openai/m)
TARGETS = (
    DIRECT,
    "passthrough-httpx",
    "passthrough-aiohttp",
    "gateway",
    "gateway-redis",
    "gateway-httpx",
    MESSAGES,
    TRANSLATED,
    keys.AUTH,
    keys.AUTH_BUDGET,
    LITELLM,
)
REDIS = "gateway-redis"  # the gateway with its state in Redis (Redis(url, prefix) to start)
Cores = tuple[int | None, int | None]  # (proxy core, client core)
_MESSAGES_PROVIDERS = "providers-messages.yaml"  # the gateway-messages target's
_LITELLM_PROVIDERS = "providers-litellm.yaml"  # the gateway-litellm target's
LITELLM_KEY_ENV = "BENCH_LITELLM_KEY"  # litellm's openai client wants a key; the sim takes any
_PROVIDERS = {DIRECT: "providers.yaml", DIRECT_MESSAGES: _MESSAGES_PROVIDERS}  # sim -> its file


def workload(name: str) -> loadgen.Workload:
    """What the clients of a target send: Messages bodies for the Messages targets, else chat."""
    return loadgen.MESSAGES if name in (DIRECT_MESSAGES, MESSAGES, TRANSLATED) else loadgen.CHAT


def direct_of(name: str) -> str:
    """The simulator behind a target (the "direct" its added latency is measured against)."""
    return DIRECT_MESSAGES if name in (DIRECT_MESSAGES, MESSAGES) else DIRECT


def directs(targets: list[str]) -> list[str]:
    """The simulators the targets need, each measured as a target of its own."""
    return [DIRECT] + ([DIRECT_MESSAGES] if MESSAGES in targets else [])


class _RemoteSim(SimVendor):
    """The simulator process as providers_yaml wants it: a SimVendor we do not start here."""

    def __init__(self, port: int, dialect: Dialect = "openai") -> None:
        super().__init__("sim", sim_spec(port, dialect))
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
    workdir: Path,
    transport: str = "aiohttp",
    redis: Redis | None = None,
    providers: str = "providers.yaml",
) -> list[str]:
    args = [
        "gateway",
        "--providers",
        str(workdir / providers),
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

    With "direct-messages" in `names`, a second simulator (of dialect anthropic, the upstream of
    gateway-messages) under that name. The simulators share the client core with the load
    generator; each proxy gets the other.
    `redis` is needed for gateway-redis. gateway-auth and gateway-auth-budget get a key minted
    in their database first (bench/keys.py); their clients send it (`Child.headers`).
    `trees` names more targets, each the `gateway` target
    (same arguments, same providers and policies) run from another checkout: its own
    `bench.serve` and `gateway` (bench/baseline.py makes one for `--baseline REV`).
    """
    trees = trees or {}
    proxy_cpu, client_cpu = pinned
    sim = _start_sim(children, DIRECT, "openai", workdir, client_cpu)
    if DIRECT_MESSAGES in names:
        _start_sim(children, DIRECT_MESSAGES, "anthropic", workdir, client_cpu)
    upstream = f"http://127.0.0.1:{sim.port}/v1"
    (workdir / "policies").mkdir(exist_ok=True)  # empty: the implicit route for model "m"
    argv = {
        "passthrough-httpx": ["passthrough-httpx", "--upstream", upstream],
        "passthrough-aiohttp": ["passthrough-aiohttp", "--upstream", upstream],
        "gateway": gateway_args(workdir, "aiohttp"),
        "gateway-httpx": gateway_args(workdir, "httpx"),
        MESSAGES: gateway_args(workdir, "aiohttp", providers=_MESSAGES_PROVIDERS),
        TRANSLATED: gateway_args(workdir, "aiohttp"),
        LITELLM: gateway_args(workdir, "aiohttp", providers=_LITELLM_PROVIDERS),
    }
    if LITELLM in names:
        (workdir / _LITELLM_PROVIDERS).write_text(litellm_providers(upstream))
        os.environ.setdefault(LITELLM_KEY_ENV, "sk-bench")  # (children inherit it)
    if redis is not None:
        argv[REDIS] = gateway_args(workdir, "aiohttp", redis)
    for name in trees:
        argv[name] = argv["gateway"]
    minted = {
        name: keys.mint(workdir / name, limits=name == keys.AUTH_BUDGET)
        for name in (keys.AUTH, keys.AUTH_BUDGET)
        if name in names
    }  # before their gateways start: each its own SQLite file, in the folder it runs in
    for name, key in minted.items():
        argv[name] = [*argv["gateway"], *key.serve_args]
    for name in names:
        if name == REDIS and redis is None:
            raise ValueError(f"{REDIS} needs a Redis URL and prefix")
        if name not in (DIRECT, DIRECT_MESSAGES):
            args = [*argv[name], "--http", http]
            tree = trees.get(name)
            children[name] = spawn(name, args, cpu=proxy_cpu, logdir=workdir, tree=tree)
            children[name].headers = minted[name].headers if name in minted else ""
    for name, child in children.items():
        wait_ready(child, http_path="/healthz" if name.startswith("gateway") else None)


def _start_sim(
    children: dict[str, Child], name: str, dialect: Dialect, workdir: Path, cpu: int | None
) -> Child:
    """A simulator process (in `children` before it is ready: the caller stops it), and the
    providers.yaml of a gateway in front of it."""
    args = ["sim"] if dialect == "openai" else ["sim", "--dialect", dialect]
    sim = children[name] = spawn("sim" if name == DIRECT else name, args, cpu=cpu, logdir=workdir)
    wait_ready(sim)
    vendor = "sim" if dialect == "openai" else f"sim-{dialect}"
    text = providers_yaml({vendor: _RemoteSim(sim.port, dialect)}, {vendor: SimPrice(1, 2)})
    (workdir / _PROVIDERS[name]).write_text(text)
    return sim


def litellm_providers(upstream: str) -> str:
    """The simulator served through litellm (kind: litellm, its OpenAI provider), priced as the
    `gateway` target's."""
    return (
        "providers:\n  sim:\n    kind: litellm\n"
        f"    base_url: {upstream}\n    api_key_env: {LITELLM_KEY_ENV}\n"
        "    models:\n"
        f"      m: {{upstream: openai/m, price: {{input_per_mtok: 1, output_per_mtok: 2}}}}\n"
    )


def stop(children: dict[str, Child]) -> None:
    for child in children.values():
        child.stop()
