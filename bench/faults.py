"""Routing under faults: the cheapest vendor fails and recovers; four routing set-ups compared.

    .venv/bin/python -m bench.faults [--duration-s 15] [--rps 20] [--quick] [--out FILE.json]

Three simulated vendors: a (cheapest, normally fast), b and c (dearer). Each fault schedule runs
three phases of `--duration-s`: healthy, a failing, a recovered. The four set-ups (`ours`,
`ours+hedging`, `round-robin`, `ordered-fallback`) each get their own gateway (in-process) and
their own fresh simulators, and run at the same time on the same open-loop arrival plan (the
same instants, half streamed), with the fault switched on and off at the same instants.
Client-side figures come from the responses (`x-gateway-provider`, `x-gateway-attempts`);
which traffic reached vendor a comes from the simulator's arrival times (retries and hedges
included). Prints one table per schedule; bench/README.md has the reading.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import tempfile
import time
from collections.abc import Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import uvloop
import yaml

from bench.faults_report import Phases, Sample, summarize, table
from gateway.app import create_app
from gateway.embedded import serve_in_loop
from gateway.settings import Settings
from gateway.sim import SimConfig, SimVendor, VendorSpec, run_sim
from gateway.sim.catalog import SimPrice, providers_yaml

MODEL = "m"
OUTPUT_TOKENS = 16
VENDORS = {  # name: (TTFT ms, $ per Mtok in, out): a cheapest and fastest, b and c dearer
    "a": (120.0, SimPrice(1.0, 2.0)),
    "b": (150.0, SimPrice(3.0, 6.0)),
    "c": (200.0, SimPrice(5.0, 10.0)),
}
SLO = {"ttft_ms": 600, "tpot_ms": 100, "value_usd": 0.001}
SCHEDULES = {  # fault on vendor a in phase 2, and its undoing in phase 3
    "a returns 503": ({"error_rate": 1.0, "error_status": 503}, {"error_rate": 0.0}),
    "a slows to 10x TTFT": ({"ttft_ms": 10 * VENDORS["a"][0]}, {"ttft_ms": VENDORS["a"][0]}),
}
SETUPS: dict[str, dict[str, Any]] = {
    "ours": {"strategy": "balanced", "slo": SLO},
    "ours+hedging": {"strategy": "balanced", "slo": SLO, "hedge_after_ms": "auto"},
    "round-robin": {"strategy": "weighted", "weights": {"a/m": 34, "b/m": 33, "c/m": 33}},
    "ordered-fallback": {"strategy": "ordered"},
}


@dataclass
class Running:
    name: str
    vendors: dict[str, SimVendor]
    http: httpx.AsyncClient
    samples: list[Sample] = field(default_factory=list)


def policy_yaml(setup: dict[str, Any]) -> str:
    route = {"targets": [f"{v}/{MODEL}" for v in VENDORS], "failover": {"max_attempts": 3}}
    return yaml.safe_dump({"routes": {"chat": route | setup}}, sort_keys=False)


async def start(stack: AsyncExitStack, name: str, workdir: Path) -> Running:
    """Fresh simulators and a gateway in front of them, closed with `stack`."""
    specs = {
        v: VendorSpec(
            models=[MODEL],
            ttft_ms=ttft,
            ttft_jitter=0.2,
            tokens_per_s=400,
            output_tokens=OUTPUT_TOKENS,
            seed=i,
        )
        for i, (v, (ttft, _)) in enumerate(VENDORS.items())
    }
    vendors = await stack.enter_async_context(run_sim(SimConfig(vendors=specs)))
    (workdir / "policies").mkdir(parents=True)
    (workdir / "policies" / "chat.yaml").write_text(policy_yaml(SETUPS[name]))
    providers = workdir / "providers.yaml"
    providers.write_text(providers_yaml(vendors, {v: p for v, (_, p) in VENDORS.items()}))
    settings = Settings(
        providers=providers,
        policies=workdir / "policies",
        database_url=f"sqlite:///{workdir / 'ledger.db'}",
        ledger_spool_dir=workdir / "spool",
        watch_config=False,
        log_level="warning",
        auth=False,  # loopback benchmark
    )
    url = await stack.enter_async_context(serve_in_loop(create_app(settings, env={})))
    limits = httpx.Limits(max_connections=500, max_keepalive_connections=500)
    http = httpx.AsyncClient(base_url=url, timeout=30, limits=limits)
    stack.push_async_callback(http.aclose)
    return Running(name, vendors, http)


async def one_request(run: Running, t0: float, i: int, stream: bool) -> None:
    body: dict[str, Any] = {
        "model": "chat",
        "max_tokens": OUTPUT_TOKENS,
        "messages": [{"role": "user", "content": f"Question {i}: what is a circuit breaker?"}],
    }
    if stream:
        body |= {"stream": True, "stream_options": {"include_usage": True}}
    started = time.monotonic()
    ttft: float | None = None
    ok, provider, attempts = False, None, 1
    try:
        async with run.http.stream("POST", "/v1/chat/completions", json=body) as r:
            provider = r.headers.get("x-gateway-provider")
            attempts = int(r.headers.get("x-gateway-attempts", "1"))
            if not stream:
                ok = r.status_code == 200 and "choices" in orjson.loads(await r.aread())
            elif r.status_code == 200:
                async for line in r.aiter_lines():
                    if line.startswith("data: {"):
                        event = orjson.loads(line[6:])
                        if "error" in event:
                            break  # an explicit error event: the stream failed
                        if ttft is None and event.get("choices"):
                            ttft = (time.monotonic() - started) * 1000
                    elif line == "data: [DONE]":
                        ok = True
            else:
                await r.aread()
    except (httpx.HTTPError, ValueError):
        ok = False
    latency = (time.monotonic() - started) * 1000
    run.samples.append(Sample(started - t0, stream, ok, latency, ttft, provider, attempts))


def arrival_plan(rps: float, total_s: float, seed: int = 11) -> list[tuple[float, bool]]:
    """Open-loop Poisson arrivals: (seconds after the start, streamed?), half streamed."""
    rng = random.Random(seed)
    plan, t = [], rng.expovariate(rps)
    while t < total_s:
        plan.append((t, rng.random() < 0.5))
        t += rng.expovariate(rps)
    return plan


async def sleep_until(t0: float, offset: float) -> None:
    await asyncio.sleep(max(0.0, t0 + offset - time.monotonic()))


async def drive(runs: Sequence[Running], schedule: str, duration_s: float, rps: float) -> float:
    """Send the plan to every set-up; switch the fault at the phase boundaries. Returns t0."""
    fault, undo = SCHEDULES[schedule]
    switches = [(duration_s, fault), (2 * duration_s, undo)]
    tasks: list[asyncio.Task[None]] = []
    t0 = time.monotonic()
    for i, (offset, stream) in enumerate(arrival_plan(rps, 3 * duration_s)):
        while switches and offset >= switches[0][0]:
            at, change = switches.pop(0)
            await sleep_until(t0, at)
            for run in runs:
                run.vendors["a"].set_behaviour(**change)
        await sleep_until(t0, offset)
        tasks.extend(asyncio.create_task(one_request(run, t0, i, stream)) for run in runs)
    await asyncio.gather(*tasks)
    return t0


async def warm_up(run: Running) -> None:
    """One pinned request per vendor (no set-up starts on the 'unmeasured' prior), then zero
    the vendors' counters."""
    for v in VENDORS:
        body = {"model": f"{v}/{MODEL}", "messages": [{"role": "user", "content": "hi"}]}
        await run.http.post("/v1/chat/completions", json=body | {"max_tokens": 4})
    for vendor in run.vendors.values():
        vendor.reset_stats()


async def run_schedule(schedule: str, duration_s: float, rps: float) -> dict[str, Any]:
    phases = Phases(duration_s)
    window_s = max(1.0, 20 / rps)  # about 20 requests per rolling window
    async with AsyncExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        runs = [await start(stack, name, tmp / str(i)) for i, name in enumerate(SETUPS)]
        await asyncio.gather(*(warm_up(run) for run in runs))
        t0 = await drive(runs, schedule, duration_s, rps)
        results = {}
        for run in runs:
            stats = {v: run.vendors[v].stats for v in VENDORS}
            usd = sum(
                s.prompt_tokens * VENDORS[v][1].input_per_mtok
                + s.completion_tokens * VENDORS[v][1].output_per_mtok
                for v, s in stats.items()
            )
            arrivals = [t - t0 for t in stats["a"].timestamps]
            calls = [t - t0 for s in stats.values() for t in s.timestamps]
            results[run.name] = summarize(run.samples, arrivals, calls, usd / 1e6, phases, window_s)
    return {"schedule": schedule, "window_s": window_s, "setups": results}


async def main(duration_s: float, rps: float, schedules: Sequence[str]) -> dict[str, Any]:
    runs = []
    for schedule in schedules:
        started = time.monotonic()
        result = await run_schedule(schedule, duration_s, rps)
        result["wall_s"] = time.monotonic() - started
        runs.append(result)
        print(
            f"\n### {schedule}: {duration_s:g} s per phase, {rps:g} req/s per set-up,"
            f" window {result['window_s']:.1f} s ({result['wall_s']:.0f} s wall)\n"
        )
        print(table(result["setups"], duration_s - 2 * result["window_s"]), flush=True)
    vendors = {
        v: {"ttft_ms": t, "price": [p.input_per_mtok, p.output_per_mtok]}
        for v, (t, p) in VENDORS.items()
    }
    return {"duration_s": duration_s, "rps": rps, "vendors": vendors, "runs": runs}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration-s", type=float, default=15.0, help="length of each phase")
    parser.add_argument("--rps", type=float, default=20.0, help="arrivals per second, per set-up")
    parser.add_argument("--quick", action="store_true", help="4 s phases: a smoke test")
    parser.add_argument("--out", help="write every figure to this JSON file")
    args = parser.parse_args()
    duration = 4.0 if args.quick else args.duration_s
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        figures = runner.run(main(duration, args.rps, list(SCHEDULES)))
    if args.out:
        Path(args.out).write_text(json.dumps(figures, indent=2))
