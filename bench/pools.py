"""Pool vs vendors: a load ladder over a simulated 2-replica pool with two spill vendors.

    .venv/bin/python -m bench.pools [--step-s 3] [--ladder 0.1,0.5,1,2,3]

Runs the same workload (streamed chat, a few shared system prompts) through the gateway under
each routing set-up, one after another on fresh simulators, and prints one table:
SLO attainment, p50/p95 TTFT (client-side), $ per 1M tokens, pool utilisation, spill fraction,
plus the pool's prefix-cache hit rate and its highest in-flight per replica. The last two
set-ups run two gateways taking turns (as behind a load balancer), with and without the pool
state shared through the local Redis (127.0.0.1:6379, keys under a throw-away prefix).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import orjson
import yaml
from redis.asyncio import Redis

from gateway.app import create_app
from gateway.embedded import serve_in_loop
from gateway.settings import Settings
from gateway.sim import EngineSpec, SimConfig, SimVendor, VendorSpec, run_sim

MODEL = "llama-3.3-70b"
TTFT_TARGET_MS = 400.0
OUTPUT_TOKENS = 24
MAX_BATCH, MAX_QUEUE = 4, 1
GPU_HOUR_USD, GPUS = 2.5, 2  # the whole simulated pool
VENDORS = {  # name: (price per Mtok in and out, TTFT ms, tokens/s)
    "spill-cheap": (0.20, 700.0, 50.0),  # cheapest, but misses the TTFT target
    "spill-fast": (0.60, 120.0, 90.0),  # dearer, meets it: where the excess should go
}
SYSTEMS = [
    f"You are assistant #{i} of a GPU cloud. Answer briefly and politely. " * 28 for i in range(12)
]
ENGINE = EngineSpec(
    max_batch=MAX_BATCH,
    prefill_tokens_per_s=20_000,
    decode_tokens_per_s=80,
    decode_slowdown_per_seq=0.05,
    block_tokens=16,
    prefix_cache_blocks=256,  # a few system prompts' worth: affinity decides what stays cached
)
# Requests per second the pool serves at its batch limit (~0.35 s per request at batch 4).
POOL_CAPACITY_RPS = 2 * MAX_BATCH / 0.35


@dataclass
class Sample:
    step: int
    provider: str | None
    ttft_ms: float | None
    ok: bool
    tokens: int


@dataclass
class Result:
    name: str
    samples: list[Sample]
    duration_s: float
    vendor_usd: float
    pool_utilisation: float
    cache_hit_rate: float
    max_in_flight: int  # the highest any pool replica saw
    by_step: dict[int, dict[str, int]] = field(default_factory=dict)


SETUPS = {  # name: (strategy, targets, prefix affinity)
    "ours": ("balanced", ["pool", "spill-fast", "spill-cheap"], True),
    "ours, no prefix affinity": ("balanced", ["pool", "spill-fast", "spill-cheap"], False),
    "round-robin over all": ("weighted", ["pool", "spill-fast", "spill-cheap"], True),
    "static spillover (pool, then 429 -> vendors)": (
        "ordered",
        ["pool", "spill-cheap", "spill-fast"],
        True,
    ),
    "vendors only": ("balanced", ["spill-fast", "spill-cheap"], True),
    # Two gateway replicas taking turns (in one process), as behind a load balancer:
    "ours, 2 gateways sharing pool state (Redis)": (
        "balanced",
        ["pool", "spill-fast", "spill-cheap"],
        True,
    ),
    "ours, 2 gateways sharing nothing": ("balanced", ["pool", "spill-fast", "spill-cheap"], True),
}
REDIS_URL = "redis://127.0.0.1:6379/0"


def gateway_settings(name: str, workdir: Path) -> list[Settings]:
    """One Settings per gateway of the set-up (the two-gateway ones share a Redis prefix)."""
    count = 2 if "2 gateways" in name else 1
    redis = REDIS_URL if "Redis" in name else None
    prefix = f"bench-pools:{uuid.uuid4().hex[:8]}:"
    return [
        Settings(
            providers=workdir / "providers.yaml",
            policies=workdir / "policies",
            database_url=f"sqlite:///{workdir / f'ledger-{i}.db'}",
            ledger_spool_dir=workdir / f"spool-{i}",
            redis_url=redis,
            redis_prefix=prefix,
            explore_rate=0.0,
            watch_config=False,
            log_level="warning",
            auth=False,  # loopback benchmark
        )
        for i in range(count)
    ]


def sim_config() -> SimConfig:
    vendors = {
        "pool": VendorSpec(
            models=[MODEL], output_tokens=OUTPUT_TOKENS, replicas=2, engine=ENGINE, seed=3
        )
    }
    for name, (_, ttft, tps) in VENDORS.items():
        vendors[name] = VendorSpec(
            models=[MODEL], ttft_ms=ttft, ttft_jitter=0.1, tokens_per_s=tps, output_tokens=64
        )
    return SimConfig(vendors=vendors)


def providers_yaml(vendors: dict[str, SimVendor], *, affinity: bool) -> str:
    providers: dict[str, object] = {
        "pool": {
            "kind": "pool",
            "engine": "vllm",
            "replicas": [vendors["pool-0"].base_url, vendors["pool-1"].base_url],
            "cost": {"gpu_hour_usd": GPU_HOUR_USD / GPUS, "gpus": GPUS, "billing": "reserved"},
            "capacity": {"max_batch": MAX_BATCH, "max_queue": MAX_QUEUE},
            "prefix_affinity": affinity,
            "models": {MODEL: {}},
        }
    }
    for name, (price, _, _) in VENDORS.items():
        providers[name] = {
            "base_url": vendors[name].base_url,
            "models": {MODEL: {"price": {"input_per_mtok": price, "output_per_mtok": price}}},
        }
    return yaml.safe_dump({"providers": providers}, sort_keys=False)


def policy_yaml(strategy: str, targets: Sequence[str]) -> str:
    route: dict[str, object] = {
        "targets": [f"{t}/{MODEL}" for t in targets],
        "strategy": strategy,
        "slo": {"ttft_ms": TTFT_TARGET_MS, "tpot_ms": 60, "value_usd": 0.02},
        "prefer_owned_capacity": True,
    }
    if strategy == "weighted":
        shares = [100 // len(targets)] * len(targets)
        shares[0] += 100 - sum(shares)
        route["weights"] = {f"{t}/{MODEL}": w for t, w in zip(targets, shares, strict=True)}
    return yaml.safe_dump({"routes": {"chat": route}}, sort_keys=False)


async def one_request(http: httpx.AsyncClient, step: int, rng: random.Random) -> Sample:
    system = rng.choice(SYSTEMS)
    body = {
        "model": "chat",
        "stream": True,
        "max_tokens": OUTPUT_TOKENS,
        "stream_options": {"include_usage": True},
        "messages": [
            {"role": "system", "content": system},
            {"role": "user", "content": f"question {rng.random():.6f}: what is a KV cache?"},
        ],
    }
    started = time.perf_counter()
    ttft: float | None = None
    tokens = 0
    try:
        async with http.stream("POST", "/v1/chat/completions", json=body) as r:
            provider = r.headers.get("x-gateway-provider")
            if r.status_code != 200:
                await r.aread()
                return Sample(step, provider, None, False, 0)
            async for line in r.aiter_lines():
                if not line.startswith("data: {"):
                    continue
                event = orjson.loads(line[6:])
                if ttft is None and event.get("choices"):
                    ttft = (time.perf_counter() - started) * 1000
                if event.get("usage"):
                    tokens = event["usage"]["total_tokens"]
    except httpx.HTTPError:
        return Sample(step, None, None, False, 0)
    return Sample(step, provider, ttft, ttft is not None, tokens)


async def warm_up(http: httpx.AsyncClient) -> None:
    """One pinned request per vendor, so that none is scored on the optimistic 'unmeasured'
    prior during the ladder (in production, exploration keeps every estimate fresh)."""
    for name in VENDORS:
        body = {"model": f"{name}/{MODEL}", "messages": [{"role": "user", "content": "hi"}]}
        await http.post("/v1/chat/completions", json={**body, "stream": True, "max_tokens": 4})


async def drive(
    urls: Sequence[str], ladder: Sequence[float], step_s: float, seed: int = 7
) -> list[Sample]:
    """Open-loop arrivals at each rung's rate (fraction of pool capacity) for step_s each,
    taking the gateways in turn."""
    rng = random.Random(seed)
    tasks: list[asyncio.Task[Sample]] = []
    limits = httpx.Limits(max_connections=1000, max_keepalive_connections=1000)
    async with contextlib.AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(
                httpx.AsyncClient(base_url=url, timeout=30, limits=limits)
            )
            for url in urls
        ]
        for http in clients:
            await warm_up(http)
        for step, load in enumerate(ladder):
            rate = load * POOL_CAPACITY_RPS
            end = time.perf_counter() + step_s
            while (now := time.perf_counter()) < end:
                http = clients[len(tasks) % len(clients)]
                tasks.append(asyncio.create_task(one_request(http, step, rng)))
                await asyncio.sleep(max(0.0, rng.expovariate(rate) - (time.perf_counter() - now)))
        return list(await asyncio.gather(*tasks))


async def run_setup(name: str, ladder: Sequence[float], step_s: float, workdir: Path) -> Result:
    strategy, targets, affinity = SETUPS[name]
    async with run_sim(sim_config()) as vendors:
        (workdir / "policies").mkdir(parents=True, exist_ok=True)
        providers = workdir / "providers.yaml"
        providers.write_text(providers_yaml(vendors, affinity=affinity))
        (workdir / "policies" / "chat.yaml").write_text(policy_yaml(strategy, targets))
        replicas = [vendors["pool-0"], vendors["pool-1"]]
        busy: list[float] = []
        stop = asyncio.Event()

        async def sample_utilisation() -> None:
            while not stop.is_set():
                engines = [v.engine for v in replicas if v.engine is not None]
                busy.append(sum(e.running for e in engines) / (MAX_BATCH * len(engines)))
                await asyncio.sleep(0.05)

        gateways = gateway_settings(name, workdir)
        async with contextlib.AsyncExitStack() as stack:
            stack.push_async_callback(drop_keys, gateways[0])
            urls = [
                await stack.enter_async_context(serve_in_loop(create_app(settings, env={})))
                for settings in gateways
            ]
            sampler = asyncio.create_task(sample_utilisation())
            started = time.perf_counter()
            samples = await drive(urls, ladder, step_s)
            duration = time.perf_counter() - started
            stop.set()
            await sampler
        vendor_usd = sum(
            s.tokens * VENDORS[s.provider][0] / 1e6
            for s in samples
            if s.provider in VENDORS and s.ok
        )
        queries = sum(v.stats.prefix_cache_queries for v in replicas)
        hits = sum(v.stats.prefix_cache_hits for v in replicas)
        return Result(
            name,
            samples,
            duration,
            vendor_usd,
            statistics.fmean(busy) if busy else 0.0,
            hits / queries if queries else 0.0,
            max(v.stats.max_in_flight for v in replicas),
        )


async def drop_keys(settings: Settings) -> None:
    """The set-up's Redis keys, once its gateways are gone."""
    if not settings.redis_url:
        return
    client = Redis.from_url(settings.redis_url)
    keys = [k async for k in client.scan_iter(match=f"{settings.redis_prefix}*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summary(result: Result, steps: Sequence[int] | None = None) -> dict[str, float]:
    samples = [s for s in result.samples if steps is None or s.step in steps]
    ok = [s for s in samples if s.ok and s.ttft_ms is not None]
    ttfts = [s.ttft_ms for s in ok if s.ttft_ms is not None]
    tokens = sum(s.tokens for s in ok)
    uses_pool = any(s.provider == "pool" for s in result.samples)
    pool_usd = GPU_HOUR_USD * result.duration_s / 3600 if uses_pool else 0.0
    return {
        "requests": len(samples),
        "slo": sum(1 for t in ttfts if t <= TTFT_TARGET_MS) / len(samples) if samples else 0.0,
        "p50": percentile(ttfts, 0.5),
        "p95": percentile(ttfts, 0.95),
        "usd_per_mtok": (result.vendor_usd + pool_usd) / tokens * 1e6 if tokens else 0.0,
        "pool_share": sum(1 for s in ok if s.provider == "pool") / len(ok) if ok else 0.0,
        "cheap_share": sum(1 for s in ok if s.provider == "spill-cheap") / len(ok) if ok else 0.0,
    }


def table(results: Sequence[Result]) -> str:
    head = (
        "| set-up | requests | SLO attainment | p50 TTFT ms | p95 TTFT ms | $ / 1M tok "
        "| pool util | spill | pool cache hits | max in-flight/replica |"
    )
    rows = [head, "|" + "---|" * 10]
    for r in results:
        s = summary(r)
        rows.append(
            f"| {r.name} | {s['requests']:.0f} | {s['slo']:.1%} | {s['p50']:.0f} | {s['p95']:.0f}"
            f" | {s['usd_per_mtok']:.3f} | {r.pool_utilisation:.0%} | {1 - s['pool_share']:.0%}"
            f" | {r.cache_hit_rate:.0%} | {r.max_in_flight} |"
        )
    return "\n".join(rows)


async def main(ladder: Sequence[float], step_s: float) -> None:
    results = []
    for name in SETUPS:
        with tempfile.TemporaryDirectory() as tmp:
            results.append(await run_setup(name, ladder, step_s, Path(tmp)))
    print(f"ladder {list(ladder)} x pool capacity ({POOL_CAPACITY_RPS:.0f} rps), {step_s} s each")
    print(table(results))
    ours = results[0]
    print("\nours, per rung: pool share / spill-fast / spill-cheap")
    for step, load in enumerate(ladder):
        s = summary(ours, [step])
        print(
            f"  {load:>4.0%}: pool {s['pool_share']:.0%}  cheap {s['cheap_share']:.0%}"
            f"  p95 {s['p95']:.0f} ms"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--step-s", type=float, default=3.0)
    parser.add_argument("--ladder", default="0.1,0.5,1,2,3")
    args = parser.parse_args()
    asyncio.run(main([float(x) for x in args.ladder.split(",")], args.step_s))
