"""What the `gateway serve --workers 2` tests share: simulated vendors and the environment of a
gateway on the shared Redis (a prefix of its own) and a given ledger, clients whose connections
are spread over both workers, and the ledger's rows."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from gateway.ledger.database import create_engine, parse_database_url
from gateway.ledger.models import spend_log
from gateway.sim import SimVendor, VendorSpec, run_sim
from gateway.sim.catalog import SimPrice, providers_yaml
from gateway.sim.config import SimConfig
from tests.contract.test_store_contract import REDIS_URL, drop_prefix
from tests.gateway_procs import Served, accepted_by, shared_env

FAST = VendorSpec(models=["m"], ttft_ms=1, tokens_per_s=5000, output_tokens=20)
SLOW = VendorSpec(models=["slow"], ttft_ms=1, tokens_per_s=10, output_tokens=15)  # 1.5 s
CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 20}


@asynccontextmanager
async def workers_env(
    workdir: Path,
    database_url: str,
    *,
    limits: Mapping[str, Mapping[str, int]] | None = None,
    extra: Mapping[str, str] | None = None,
    spare: bool = False,
) -> AsyncIterator[tuple[dict[str, str], dict[str, SimVendor]]]:
    """Vendors `a` (model m: chat, completions, embeddings) and `s` (model slow: slow streams),
    with `spare`: `b`, m at twice a's price; and the gateway's environment. The Redis prefix is
    dropped afterwards."""
    prefix = f"test-workers-{uuid.uuid4().hex[:10]}:"
    specs = {"a": FAST, "s": SLOW, **({"b": FAST} if spare else {})}
    async with run_sim(SimConfig(vendors=specs)) as vendors:
        (workdir / "policies").mkdir(exist_ok=True)
        prices = {"a": SimPrice(1000.0, 1000.0), "s": SimPrice(1.0, 1.0), "b": SimPrice(2e3, 2e3)}
        ops = {"a": ["chat", "completions", "embeddings"]}
        text = providers_yaml(vendors, prices, limits=limits, operations=ops)
        (workdir / "providers.yaml").write_text(text)
        env = shared_env(
            workdir,
            REDIS_URL,
            prefix,
            GATEWAY_DATABASE_URL=database_url,
            GATEWAY_LEDGER_MIGRATE="true",
            GATEWAY_LEDGER_SPOOL_DIR=str(workdir / "spool"),
            GATEWAY_EXPLORE_RATE="0",
            **(extra or {}),
        )
        try:
            yield env, vendors
        finally:
            await drop_prefix(prefix)


async def clients_on_both_workers(
    stack: AsyncExitStack, gateway: Served, count: int, headers: Mapping[str, str] | None = None
) -> list[httpx.AsyncClient]:
    """`count` clients of one kept-alive connection each, half of them accepted by each worker
    (which worker accepts a connection is the kernel's choice: connections are opened until
    each worker has its half, the others closed)."""
    workers = gateway.workers()
    assert len(workers) == 2, workers
    kept: dict[int, list[httpx.AsyncClient]] = {pid: [] for pid in workers}
    for _ in range(100 * count):
        one = httpx.Limits(max_connections=1)
        client = httpx.AsyncClient(base_url=gateway.url, headers=headers, timeout=30, limits=one)
        stack.push_async_callback(client.aclose)  # closing twice is harmless
        reply = await client.get("/healthz")
        assert reply.status_code == 200
        port = reply.extensions["network_stream"].get_extra_info("client_addr")[1]
        worker = kept[accepted_by(gateway.port, workers)[port]]
        if len(worker) < (count + 1) // 2 and sum(map(len, kept.values())) < count:
            worker.append(client)
        else:
            await client.aclose()
        if all(kept.values()) and sum(map(len, kept.values())) == count:
            return [client for clients in kept.values() for client in clients]
    raise AssertionError(f"connections never reached both workers: {kept}")


async def ledger_rows(database_url: str) -> Sequence[Any]:
    engine = create_engine(parse_database_url(database_url))
    try:
        async with engine.connect() as conn:
            columns = (
                spend_log.c.request_id,
                spend_log.c.endpoint,
                spend_log.c.stream,
                spend_log.c.status_code,
                spend_log.c.error_type,
                spend_log.c.completion_tokens,
                spend_log.c.cost_usd,
            )
            return (await conn.execute(select(*columns))).all()
    finally:
        await engine.dispose()
