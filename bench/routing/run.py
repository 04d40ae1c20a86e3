"""Run one scenario through the real gateway (in-process) against fresh simulators, once per
strategy, all at the same time on the same arrival plan and fault switches."""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import yaml

from bench.faults_report import percentile
from bench.routing.oracle import oracle
from bench.routing.report import (
    Figures,
    Sample,
    VendorTally,
    summarize,
    summarize_oracle,
    with_oracle_ratio,
)
from bench.routing.scenario import Arrival, Scenario, arrivals, switches
from gateway.app import create_app
from gateway.embedded import serve_in_loop
from gateway.settings import Settings
from gateway.sim import SimConfig, SimVendor, run_sim
from gateway.sim import VendorSpec as SimSpec
from gateway.sim.catalog import SimPrice, providers_yaml

MODEL = "m"
Route = Callable[[Scenario], dict[str, Any]]


def _equal_weights(sc: Scenario) -> dict[str, Any]:
    n = len(sc.vendors)
    shares = [100 // n + (1 if i < 100 % n else 0) for i in range(n)]  # they must sum to 100
    return {
        "strategy": "weighted",
        "weights": {f"{v}/{MODEL}": w for v, w in zip(sc.vendors, shares, strict=True)},
    }


# What each strategy's policy says (on top of targets, slo and failover); the baselines are
# the gateway's own strategies, so every one runs the same request path.
STRATEGIES: dict[str, Route] = {
    "ours (balanced)": lambda sc: {"strategy": "balanced"},
    "round-robin": _equal_weights,
    "cheapest+retries": lambda sc: {"strategy": "ordered", "targets": sc.by_price()[:1]},
    "ordered fallback": lambda sc: {"strategy": "ordered"},
    "latency (fastest)": lambda sc: {"strategy": "fastest"},
}


@dataclass
class Running:
    name: str
    vendors: dict[str, SimVendor]
    http: aiohttp.ClientSession
    url: str
    samples: list[Sample] = field(default_factory=list)


def policies_yaml(sc: Scenario, strategy: str) -> str:
    routes: dict[str, Any] = {}
    for cls in sc.classes:
        setup = STRATEGIES[strategy](sc)
        targets = setup.pop("targets", sc.by_price())
        routes[cls.name] = {
            "targets": [f"{v}/{MODEL}" for v in targets],
            "slo": cls.slo.model_dump(),
            "failover": {"max_attempts": 3},
            **setup,
        }
    return yaml.safe_dump({"routes": routes}, sort_keys=False)


def providers(sc: Scenario, vendors: dict[str, SimVendor]) -> str:
    prices = {v: SimPrice(*spec.price) for v, spec in sc.vendors.items()}
    limits = {v: {"rpm": s.declared} for v, s in sc.vendors.items() if s.declared}
    doc = yaml.safe_load(providers_yaml(vendors, prices, limits=limits))
    for v, spec in sc.vendors.items():  # the published typical TTFT: the fit's prior
        doc["providers"][v]["models"][MODEL]["typical_ttft_ms"] = (
            spec.published_ttft_ms or spec.ttft_ms
        )
    return yaml.safe_dump(doc, sort_keys=False)


async def start(stack: AsyncExitStack, sc: Scenario, strategy: str, workdir: Path) -> Running:
    specs = {
        v: SimSpec(
            models=[MODEL],
            ttft_ms=s.ttft_ms,
            ttft_jitter=s.ttft_jitter,
            tokens_per_s=s.tokens_per_s,
            output_tokens=sc.output_tokens,
            rpm=s.rpm,
            seed=i,
        )
        for i, (v, s) in enumerate(sc.vendors.items())
    }
    vendors = await stack.enter_async_context(run_sim(SimConfig(vendors=specs)))
    (workdir / "policies").mkdir(parents=True)
    (workdir / "policies" / "routes.yaml").write_text(policies_yaml(sc, strategy))
    (workdir / "providers.yaml").write_text(providers(sc, vendors))
    settings = Settings(
        providers=workdir / "providers.yaml",
        policies=workdir / "policies",
        database_url=f"sqlite:///{workdir / 'ledger.db'}",
        ledger_spool_dir=workdir / "spool",
        watch_config=False,
        log_level="warning",
        auth=False,  # loopback benchmark
    )
    url = await stack.enter_async_context(serve_in_loop(create_app(settings, env={})))
    # aiohttp, not httpx: the client shares the loop with the gateways and simulators, and
    # costs a fraction of httpx's CPU per request.
    http = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=500), timeout=aiohttp.ClientTimeout(total=60)
    )
    stack.push_async_callback(http.close)
    return Running(strategy, vendors, http, url + "/v1/chat/completions")


def body(sc: Scenario, i: int, a: Arrival) -> dict[str, Any]:
    head = f"Question {i}: how does a router pick a vendor? "
    text = (head + "context " * (sc.prompt_chars // 8 + 1))[: sc.prompt_chars]
    out: dict[str, Any] = {
        "model": a.cls,
        "max_tokens": sc.output_tokens,
        "messages": [{"role": "user", "content": text}],
    }
    if a.stream:
        out |= {"stream": True, "stream_options": {"include_usage": True}}
    return out


async def one_request(run: Running, sc: Scenario, t0: float, i: int, a: Arrival) -> None:
    started = time.monotonic()
    ttft: float | None = None
    ok, provider, attempts, tokens = False, None, 1, 0
    try:
        async with run.http.post(run.url, json=body(sc, i, a)) as r:
            provider = r.headers.get("x-gateway-provider")
            attempts = int(r.headers.get("x-gateway-attempts", "1"))
            if r.status != 200:
                await r.read()
            elif not a.stream:
                reply = orjson.loads(await r.read())
                ok = "choices" in reply
                tokens = int((reply.get("usage") or {}).get("completion_tokens") or 0)
            else:
                async for raw in r.content:
                    line = raw.decode().strip()
                    if line.startswith("data: {"):
                        event = orjson.loads(line[6:])
                        if "error" in event:
                            break
                        if ttft is None and event.get("choices"):
                            ttft = (time.monotonic() - started) * 1000
                        usage = event.get("usage") or {}
                        tokens = int(usage.get("completion_tokens") or tokens)
                    elif line == "data: [DONE]":
                        ok = True
    except (aiohttp.ClientError, TimeoutError, ValueError):
        ok = False
    latency = (time.monotonic() - started) * 1000
    run.samples.append(
        Sample(started - t0, a.cls, a.stream, ok, latency, ttft, tokens, provider, attempts)
    )


async def drive(runs: Sequence[Running], sc: Scenario, plan: Sequence[Arrival]) -> float:
    pending = switches(sc)
    tasks: list[asyncio.Task[None]] = []
    t0 = time.monotonic()

    async def until(offset: float) -> None:
        await asyncio.sleep(max(0.0, t0 + offset - time.monotonic()))

    for i, a in enumerate(plan):
        while pending and a.at_s >= pending[0][0]:
            at, vendor, change = pending.pop(0)
            await until(at)
            for run in runs:
                run.vendors[vendor].set_behaviour(**change)
        await until(a.at_s)
        tasks.extend(asyncio.create_task(one_request(run, sc, t0, i, a)) for run in runs)
    await asyncio.gather(*tasks)
    return t0


def tally(vendor: SimVendor, t0: float) -> VendorTally:
    s = vendor.stats
    return VendorTally(
        arrivals=[t - t0 for t in s.timestamps],
        prompt_tokens=s.prompt_tokens,
        completion_tokens=s.completion_tokens,
        status_429=s.by_status.get(429, 0),
    )


async def lag_probe(lags: list[float], every_s: float = 0.05) -> None:
    """How late the shared event loop wakes up: every latency above carries this much of the
    benchmark's own making (and of whatever else the machine runs)."""
    while True:
        before = time.monotonic()
        await asyncio.sleep(every_s)
        lags.append((time.monotonic() - before - every_s) * 1000)


async def run_scenario(
    sc: Scenario, strategies: Sequence[str]
) -> tuple[dict[str, Figures], Figures]:
    """Every strategy's figures and the oracle's, with $/Mtok as a ratio to the oracle's; and
    the conditions (event-loop lag, load average) they were measured in."""
    plan = arrivals(sc)
    lags: list[float] = []
    async with AsyncExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        runs = [await start(stack, sc, name, tmp / str(i)) for i, name in enumerate(strategies)]
        probe = asyncio.create_task(lag_probe(lags))
        t0 = await drive(runs, sc, plan)
        probe.cancel()
        rows = {
            run.name: summarize(sc, run.samples, {v: tally(s, t0) for v, s in run.vendors.items()})
            for run in runs
        }
    best = summarize_oracle(sc, plan, oracle(sc, plan))
    conditions: Figures = {
        "loop_lag_p50_ms": percentile(lags, 0.5),
        "loop_lag_p95_ms": percentile(lags, 0.95),
        "load_avg_1m": os.getloadavg()[0],
    }
    return with_oracle_ratio({**rows, "oracle": best}, best), conditions
