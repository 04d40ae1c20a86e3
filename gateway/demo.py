"""`gateway demo`: three simulated vendors, the gateway on embedded defaults, workload, report."""

from __future__ import annotations

import asyncio
import random
import statistics
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import orjson
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from gateway.app import create_app
from gateway.embedded import serve_in_loop
from gateway.settings import Settings
from gateway.sim import DEMO_CONFIG, SimVendor, load_sim_config, run_sim
from gateway.sim.catalog import SimPrice, providers_yaml

PRICES = {  # USD per million tokens (input, output): cheap-and-slow to dear-and-fast
    "budget": SimPrice(0.12, 0.30),
    "standard": SimPrice(0.60, 0.80),
    "premium": SimPrice(2.50, 5.00),
}
POLICY = """\
routes:
  chat:      # interactive: cheapest deployment that keeps first tokens under 450 ms
    targets: [budget/llama-3.3-70b, standard/llama-3.3-70b, premium/llama-3.3-70b]
    strategy: balanced
    slo: {ttft_ms: 450, tpot_ms: 40, value_usd: 0.002}
  batch:     # offline: lowest price that still answers; a retry costs little time here
    targets: [budget/llama-3.3-70b, standard/llama-3.3-70b, premium/llama-3.3-70b]
    strategy: cheapest
    slo: {value_usd: 0.00002}
  realtime:  # latency first, whatever it costs
    targets: [budget/llama-3.3-70b, standard/llama-3.3-70b, premium/llama-3.3-70b]
    strategy: fastest
"""
ROUTES = ("chat", "chat", "batch", "realtime")


@dataclass
class Tally:
    ttft_ms: list[float] = field(default_factory=list)
    latency_ms: list[float] = field(default_factory=list)
    cost_usd: float = 0.0
    served: int = 0
    failed_over: int = 0


@dataclass
class Results:
    by_provider: dict[str, Tally] = field(default_factory=lambda: defaultdict(Tally))
    by_route: dict[str, dict[str, int]] = field(default_factory=lambda: defaultdict(dict))
    client_errors: int = 0
    overhead_ms: list[float] = field(default_factory=list)


async def one_request(
    http: httpx.AsyncClient, route: str, stream: bool, n: int, res: Results
) -> None:
    body = {
        "model": route,
        "messages": [
            {"role": "user", "content": f"Request {n}: summarise the plan in a sentence."}
        ],
        "stream": stream,
        **({"stream_options": {"include_usage": True}} if stream else {}),
    }
    started = time.perf_counter()
    ttft: float | None = None
    usage: dict[str, int] = {}
    async with http.stream("POST", "/v1/chat/completions", json=body) as r:
        if r.status_code != 200:
            await r.aread()
            res.client_errors += 1
            return
        if stream:
            async for line in r.aiter_lines():
                if ttft is None and line.startswith("data:"):
                    ttft = (time.perf_counter() - started) * 1000
                if line.startswith("data: {") and '"usage":{' in line:
                    usage = orjson.loads(line[6:])["usage"]
        else:
            usage = orjson.loads(await r.aread()).get("usage") or {}
    provider = r.headers["x-gateway-provider"]
    tally = res.by_provider[provider]
    tally.served += 1
    tally.failed_over += int(r.headers["x-gateway-attempts"]) > 1
    tally.latency_ms.append((time.perf_counter() - started) * 1000)
    if ttft is not None:
        tally.ttft_ms.append(ttft)
    price = PRICES[provider]
    tally.cost_usd += (
        usage.get("prompt_tokens", 0) * price.input_per_mtok
        + usage.get("completion_tokens", 0) * price.output_per_mtok
    ) / 1e6
    res.by_route[route][provider] = res.by_route[route].get(provider, 0) + 1
    res.overhead_ms.append(float(r.headers["x-gateway-overhead-ms"]))


async def drive(url: str, vendors: dict[str, SimVendor], total: int, concurrency: int) -> Results:
    res = Results()
    rng = random.Random(7)
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(total):
        queue.put_nowait(n)
    outage = range(total // 4, total // 2)  # "standard" fails in the second quarter
    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()
    ) as progress:
        task = progress.add_task("routing", total=total)

        async def worker(http: httpx.AsyncClient) -> None:
            while not queue.empty():
                n = queue.get_nowait()
                failing = n in outage
                vendors["standard"].set_behaviour(error_rate=1.0 if failing else 0.01)
                label = "[red]standard is down[/]" if failing else "[green]all vendors up[/]"
                progress.update(task, description=f"routing ({label})")
                await one_request(http, rng.choice(ROUTES), rng.random() < 0.5, n, res)
                progress.advance(task)

        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            await asyncio.gather(*(worker(http) for _ in range(concurrency)))
    return res


def report(console: Console, res: Results, vendors: dict[str, SimVendor], url: str) -> None:
    table = Table(title="Where requests went (client-side measurements)")
    for col in ("provider", "served", "p50/p95 TTFT ms", "p50/p95 latency ms", "cost $"):
        table.add_column(col, justify="right" if col != "provider" else "left")
    table.add_column("upstream errors absorbed", justify="right")
    for name, vendor in vendors.items():
        t = res.by_provider.get(name, Tally())
        errors = sum(n for status, n in vendor.stats.by_status.items() if status >= 400)
        table.add_row(
            name,
            str(t.served),
            _pct(t.ttft_ms),
            _pct(t.latency_ms),
            f"{t.cost_usd:.6f}",
            str(errors),
        )
    console.print(table)
    routes = Table(title="Route -> provider split")
    routes.add_column("route (strategy)")
    for name in vendors:
        routes.add_column(name, justify="right")
    strategy = {"chat": "balanced", "batch": "cheapest", "realtime": "fastest"}
    for route, split in sorted(res.by_route.items()):
        routes.add_row(f"{route} ({strategy[route]})", *(str(split.get(n, 0)) for n in vendors))
    console.print(routes)
    served = sum(t.served for t in res.by_provider.values())
    console.print(
        "'standard' failed every request in the second quarter of the run: its traffic moved "
        "and came back after."
    )
    console.print(
        f"client-visible errors: {res.client_errors} of {served + res.client_errors}; "
        f"gateway overhead p50 {_q(res.overhead_ms, 0.5):.2f} ms"
    )
    console.print(
        f"\nPoint any OpenAI client at it:  base_url={url}/v1  (models: chat, batch, realtime)"
    )
    console.print(
        f"  curl {url}/v1/chat/completions -H 'content-type: application/json' "
        """-d '{"model": "chat", "messages": [{"role": "user", "content": "hi"}]}'"""
    )


def _q(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1]


def _pct(values: list[float]) -> str:
    return f"{_q(values, 0.5):.0f} / {_q(values, 0.95):.0f}" if values else "-"


async def run_demo(*, total: int, concurrency: int, keep: bool, port: int) -> None:
    console = Console()
    async with run_sim(load_sim_config(DEMO_CONFIG)) as vendors:
        with tempfile.TemporaryDirectory(prefix="gateway-demo-") as tmp:
            providers = Path(tmp) / "providers.yaml"
            providers.write_text(providers_yaml(vendors, PRICES))
            (Path(tmp) / "policies").mkdir()
            (Path(tmp) / "policies" / "demo.yaml").write_text(POLICY)
            settings = Settings(
                providers=providers,
                policies=Path(tmp) / "policies",
                database_url=f"sqlite:///{Path(tmp) / 'ledger.db'}",
                ledger_spool_dir=Path(tmp) / "spool",
                auth=False,  # a loopback demo: any client may try it
            )
            listing = ", ".join(f"{n} {v.base_url}" for n, v in vendors.items())
            console.print(f"[bold]Simulated vendors:[/] {listing}")
            async with serve_in_loop(create_app(settings, env={}), port=port if keep else 0) as url:
                console.print(f"[bold]Gateway[/] on {url} (embedded defaults: in-memory state)")
                res = await drive(url, vendors, total, concurrency)
                vendors["standard"].set_behaviour(error_rate=0.01)  # back up for --keep
                report(console, res, vendors, url)
                if keep:
                    console.print(f"[bold]--keep:[/] serving until Ctrl-C; status page {url}/ui")
                    await asyncio.Event().wait()
