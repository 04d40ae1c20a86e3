"""Ledger benchmark: rows/s into Postgres, and request latency with the ledger on vs off (one run).

    python -m bench.ledger [--rows 200000] [--requests 2000] [--rounds 3] [--postgres URL]

Writes into a throw-away schema of the Postgres at --postgres (default: the local test database)
and drops it afterwards. The latency part runs the simulator, the gateway and the client in one
process, alternating "off" and "on" rounds so that drift hits both alike.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import asyncpg
import httpx

from gateway.app import create_app
from gateway.embedded import serve_in_loop
from gateway.ledger.database import create_engine, parse_database_url
from gateway.ledger.factory import build_sink
from gateway.ledger.record import Ledger, SpendRecord
from gateway.ledger.schema import migrate
from gateway.ledger.writer import LedgerWriter
from gateway.settings import Settings
from gateway.sim import VendorSpec, run_sim
from gateway.sim.catalog import SimPrice, providers_yaml
from gateway.sim.config import SimConfig

DEFAULT_PG = "postgresql://postgres@127.0.0.1/test"
MSG = [{"role": "user", "content": "benchmark the ledger please"}]


class LedgerOff:
    """The baseline: a ledger that drops everything (what 'ledger off' costs: nothing)."""

    def submit(self, record: SpendRecord) -> None:
        return None

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None


@asynccontextmanager
async def schema(base: str) -> AsyncIterator[str]:
    name = f"bench_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(base)
    try:
        await conn.execute(f"CREATE SCHEMA {name}")
        url = f"{base}?options=-csearch_path%3D{name}"
        engine = create_engine(parse_database_url(url))
        await migrate(engine)
        await engine.dispose()
        yield url
    finally:
        await conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")
        await conn.close()


def sample(n: int) -> SpendRecord:
    return SpendRecord(
        created_at=datetime.now(UTC),
        request_id=f"bench-{n}-{uuid.uuid4().hex[:8]}",
        endpoint="/v1/chat/completions",
        requested_model="chat",
        stream=bool(n % 2),
        status_code=200,
        attempts=1,
        latency_ms=123.4,
        policy="chat",
        provider="a",
        deployment="a/m",
        upstream_model="m",
        prompt_tokens=812,
        completion_tokens=233,
        cost_usd=Decimal("0.0002617"),
        ttft_ms=80.5,
        team="search",
        tags={"env": "bench"},
    )


async def throughput(url: str, rows: int, batch: int) -> float:
    """Rows/s from the first submit() until close() has every row committed."""
    records = [sample(n) for n in range(rows)]
    with tempfile.TemporaryDirectory() as spool:
        writer = LedgerWriter(
            build_sink(parse_database_url(url)),
            Path(spool),
            batch_size=batch,
            flush_interval_s=0.05,
            queue_max=rows,
        )
        await writer.start()
        t0 = time.perf_counter()
        for start in range(0, rows, batch):
            for record in records[start : start + batch]:
                writer.submit(record)
            await asyncio.sleep(0)  # like live traffic: the writer runs between submits
        await writer.close()
        elapsed = time.perf_counter() - t0
    assert writer.stats.inserted == rows and writer.stats.spooled == 0, writer.stats
    return rows / elapsed


async def latency_round(
    ledger: Ledger, tmp: Path, requests: int, concurrency: int
) -> tuple[list[float], list[float]]:
    spec = VendorSpec(models=["m"], ttft_ms=1, tokens_per_s=20000, output_tokens=16)
    async with run_sim(SimConfig(vendors={"a": spec})) as vendors:
        (tmp / "providers.yaml").write_text(providers_yaml(vendors, {"a": SimPrice(1.0, 2.0)}))
        (tmp / "policies").mkdir(exist_ok=True)
        settings = Settings(providers=tmp / "providers.yaml", policies=tmp / "policies", auth=False)
        app = create_app(settings, env={}, ledger=ledger)
        async with serve_in_loop(app) as url, httpx.AsyncClient(base_url=url) as http:
            total: list[float] = []
            overhead: list[float] = []
            queue = iter(range(requests))

            async def worker() -> None:
                for i in queue:
                    body = {"model": "m", "messages": MSG, "stream": i % 2 == 0}
                    t0 = time.perf_counter()
                    reply = await http.post("/v1/chat/completions", json=body)
                    total.append((time.perf_counter() - t0) * 1000)
                    overhead.append(float(reply.headers["x-gateway-overhead-ms"]))

            await asyncio.gather(*(worker() for _ in range(concurrency)))
    return total, overhead


def pct(values: list[float], p: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(p) - 1]


async def main(args: argparse.Namespace) -> None:
    async with schema(args.postgres) as url:
        for batch in (500, 5000):
            rate = await throughput(url, args.rows, batch)
            print(f"throughput  batch={batch:<5} {args.rows} rows: {rate:,.0f} rows/s")
        results: dict[str, tuple[list[float], list[float]]] = {"off": ([], []), "on": ([], [])}
        with tempfile.TemporaryDirectory() as tmp:
            for _ in range(args.rounds):
                for mode in ("off", "on"):
                    if mode == "on":
                        ledger: Ledger = LedgerWriter(
                            build_sink(parse_database_url(url)), Path(tmp) / "spool"
                        )
                        await ledger.start()
                    else:
                        ledger = LedgerOff()
                    total, overhead = await latency_round(
                        ledger, Path(tmp), args.requests, args.concurrency
                    )
                    await ledger.close()
                    results[mode][0].extend(total)
                    results[mode][1].extend(overhead)
    print(
        f"\nlatency: {args.rounds} x {args.requests} requests per mode,"
        f" {args.concurrency} in flight"
    )
    print("ledger  p50 ms  p99 ms  overhead p50 ms  overhead p99 ms")
    for mode, (total, overhead) in results.items():
        print(
            f"{mode:<6} {pct(total, 50):7.2f} {pct(total, 99):7.2f}"
            f" {pct(overhead, 50):16.3f} {pct(overhead, 99):16.3f}"
        )


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--postgres", default=DEFAULT_PG)
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.run(main(args))
    except ImportError:
        asyncio.run(main(args))


if __name__ == "__main__":
    cli()
