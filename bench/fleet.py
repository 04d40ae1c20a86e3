"""The processes under test: the simulator and each proxy, pinned to their cores, ready to serve."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from bench import full, keys, loadgen
from bench.procs import Child, rss_mb, spawn, wait_ready
from bench.serve import sim_spec
from gateway.sim import SimVendor
from gateway.sim.catalog import SimPrice, providers_yaml
from gateway.sim.config import Dialect

DIRECT = "direct"
DIRECT_MESSAGES = "direct-messages"  # the Anthropic-format simulator itself, Messages bodies
MESSAGES = "gateway-messages"  # the gateway before an Anthropic-format sim: passed through
TRANSLATED = "gateway-messages-translated"  # before the OpenAI sim: Messages <-> chat
LITELLM = "gateway-litellm"  # the OpenAI sim as a kind: litellm provider (openai/m)
# The full production path (bench/full.py): Redis state, auth + budgets, Postgres ledger.
FULL = "gateway-full"
FULL_MESSAGES = "gateway-full-messages"
FULL_TRANSLATED = "gateway-full-translated"
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
    FULL,
    FULL_MESSAGES,
    FULL_TRANSLATED,
)
# What `python -m bench.overhead` measures unless told otherwise (the issue 18 table).
DEFAULT_TARGETS = (
    "passthrough-aiohttp",
    "gateway",
    MESSAGES,
    TRANSLATED,
    FULL,
    FULL_MESSAGES,
    FULL_TRANSLATED,
)
FULL_TARGETS = (FULL, FULL_MESSAGES, FULL_TRANSLATED)
_PASSED_THROUGH = (DIRECT_MESSAGES, MESSAGES, FULL_MESSAGES)  # before the Anthropic-format sim
REDIS = "gateway-redis"  # the gateway with its state in Redis (Redis(url, prefix) to start)
Cores = tuple[int | None, int | None]  # (proxy core, client core)
_MESSAGES_PROVIDERS = "providers-messages.yaml"  # the gateway-messages target's
_LITELLM_PROVIDERS = "providers-litellm.yaml"  # the gateway-litellm target's
LITELLM_KEY_ENV = "BENCH_LITELLM_KEY"  # litellm's openai client wants a key; the sim takes any
_PROVIDERS = {DIRECT: "providers.yaml", DIRECT_MESSAGES: _MESSAGES_PROVIDERS}  # sim -> its file


def kind(name: str) -> str:
    """The target a name runs: `gateway-full@69233d4` (another tree's) runs `gateway-full`."""
    return name.split("@", 1)[0]


def workload(name: str) -> loadgen.Workload:
    """What the clients of a target send: Messages bodies for the Messages targets, else chat."""
    messages = (*_PASSED_THROUGH, TRANSLATED, FULL_TRANSLATED)
    return loadgen.MESSAGES if kind(name) in messages else loadgen.CHAT


def direct_of(name: str) -> str:
    """The simulator behind a target (the "direct" its added latency is measured against)."""
    return DIRECT_MESSAGES if kind(name) in _PASSED_THROUGH else DIRECT


def directs(targets: list[str]) -> list[str]:
    """The simulators the targets need, each measured as a target of its own."""
    passed = any(kind(t) in _PASSED_THROUGH for t in targets)
    return [DIRECT] + ([DIRECT_MESSAGES] if passed else [])


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


@dataclass(frozen=True, slots=True)
class Services:
    """What some targets need besides the simulators: a Redis (gateway-redis and the full
    path) and Postgres schemas (the full path)."""

    redis: Redis | None = None
    postgres: full.Resources | None = None


def start(
    children: dict[str, Child],
    names: list[str],
    workdir: Path,
    http: str,
    pinned: Cores,
    services: Services | None = None,
    trees: Mapping[str, Path] | None = None,
) -> None:
    """Add the simulator (as "direct") and the named proxies to `children`; the caller stops them.

    With "direct-messages" in `names`, a second simulator (of dialect anthropic, the upstream of
    the Messages pass-through targets). The simulators share the client core with the load
    generator; each proxy gets the other.
    `services.redis` is needed for gateway-redis and the full path (each process gets a key
    prefix of its own under the run's), `services.postgres` for the full path.
    gateway-auth, gateway-auth-budget and the full path get a key minted in their database
    first; their clients send it (`Child.headers`).
    `trees` maps more names, `<target>@<rev>`, to another checkout: that name runs `<target>`
    (same arguments, providers and policies) with that tree's `bench.serve` and `gateway`
    (bench/baseline.py makes one for `--baseline REV`).
    """
    trees = trees or {}
    services = services or Services()
    proxy_cpu, client_cpu = pinned
    sim = _start_sim(children, DIRECT, "openai", workdir, client_cpu)
    if DIRECT_MESSAGES in names:
        _start_sim(children, DIRECT_MESSAGES, "anthropic", workdir, client_cpu)
    upstream = f"http://127.0.0.1:{sim.port}/v1"
    (workdir / "policies").mkdir(exist_ok=True)  # empty: the implicit route for model "m"
    for name in names:
        if name in (DIRECT, DIRECT_MESSAGES):
            continue
        tree = trees.get(name)
        args, headers = argv(name, workdir, upstream, services, tree)
        children[name] = spawn(
            name, [*args, "--http", http], cpu=proxy_cpu, logdir=workdir, tree=tree
        )
        children[name].headers = headers
    for name, child in children.items():
        wait_ready(child, http_path="/healthz" if kind(name).startswith("gateway") else None)
        child.rss_ready_mb = rss_mb(child.pid)


def argv(
    name: str, workdir: Path, upstream: str, services: Services, tree: Path | None
) -> tuple[list[str], str]:
    """`bench.serve` arguments of a target, and the header line its clients send (a key)."""
    target = kind(name)
    if target.startswith("passthrough-"):
        return [target, "--upstream", upstream], ""
    providers = _MESSAGES_PROVIDERS if target in _PASSED_THROUGH else "providers.yaml"
    if target == LITELLM:
        providers = _LITELLM_PROVIDERS
        (workdir / providers).write_text(litellm_providers(upstream))
        os.environ.setdefault(LITELLM_KEY_ENV, "sk-bench")  # (children inherit it)
    transport = "httpx" if target == "gateway-httpx" else "aiohttp"
    args = gateway_args(workdir, transport, providers=providers)
    redis = services.redis
    if target in (REDIS, *FULL_TARGETS):
        if redis is None:
            raise ValueError(f"{target} needs a Redis URL and prefix")
        prefix = f"{redis.prefix}{name}:"  # every process its own state
        if target == REDIS:
            return [*args, "--redis-url", redis.url, "--redis-prefix", prefix], ""
        if services.postgres is None:
            raise ValueError(f"{target} needs Postgres")
        ready = full.setup(
            services.postgres, name, redis_url=redis.url, redis_prefix=prefix, tree=tree
        )
        return [*args, *ready.serve_args], ready.headers
    # The embedded ledger in a file of its own (twins run in a shared tree: not ./gateway.db).
    home = workdir / name
    home.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{(home / 'gateway.db').resolve()}"
    if target in (keys.AUTH, keys.AUTH_BUDGET):  # a key in that file, made first
        key = full.mint_in(tree, url, limits=target == keys.AUTH_BUDGET)
        return [*args, "--auth", "--database-url", url], f"authorization: Bearer {key}\r\n"
    return ([*args, "--database-url", url] if tree is not None else args), ""


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
