"""The database dies mid-run and comes back; then SIGTERM: every request has exactly one row.

A gateway subprocess (`gateway serve --migrate`) writes to a private Postgres that the test stops
and restarts while traffic flows; rows wait in the spool meanwhile and are replayed idempotently.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from gateway.sim import VendorSpec, run_sim
from gateway.sim.catalog import SimPrice, providers_yaml
from gateway.sim.config import SimConfig
from tests.integration.private_postgres import PrivatePostgres, free_port

SPEC = VendorSpec(models=["m"], ttft_ms=1, tokens_per_s=5000, output_tokens=4)
MSG = [{"role": "user", "content": "hello"}]


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    pg = PrivatePostgres()
    try:
        pg.init()
        pg.start()
        yield pg
    finally:
        pg.destroy()


@pytest.fixture
async def gateway_process(
    private_postgres: PrivatePostgres, tmp_path: Path
) -> AsyncIterator[tuple[str, subprocess.Popen[bytes]]]:
    async with run_sim(SimConfig(vendors={"a": SPEC})) as vendors:
        providers = tmp_path / "providers.yaml"
        providers.write_text(providers_yaml(vendors, {"a": SimPrice(1.0, 2.0)}))
        (tmp_path / "policies").mkdir()
        port = free_port()
        env = {
            **os.environ,
            "GATEWAY_DATABASE_URL": private_postgres.url,
            "GATEWAY_LEDGER_SPOOL_DIR": str(tmp_path / "spool"),
            "GATEWAY_LEDGER_FLUSH_INTERVAL_S": "0.05",
            "GATEWAY_LOG_LEVEL": "warning",
        }
        args = ["--providers", str(providers), "--policies", str(tmp_path / "policies")]
        command = [sys.executable, "-c", "from gateway.cli import main; main()", "serve"]
        command += [*args, "--port", str(port), "--migrate", "--no-auth"]  # loopback
        with open(tmp_path / "gateway.log", "wb") as log:  # noqa: ASYNC230 - before any traffic
            proc = subprocess.Popen(command, env=env, stderr=log)  # noqa: ASYNC220 - returns at once
        url = f"http://127.0.0.1:{port}"
        try:
            async with httpx.AsyncClient() as http:
                for _ in range(200):
                    if proc.poll() is not None:
                        raise RuntimeError((tmp_path / "gateway.log").read_text())
                    try:
                        if (await http.get(f"{url}/healthz")).status_code == 200:
                            break
                    except httpx.TransportError:
                        await asyncio.sleep(0.05)
            yield url, proc
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()


async def send(http: httpx.AsyncClient, count: int) -> list[str]:
    async def one(i: int) -> str:
        body = {"model": "m", "messages": MSG, "stream": i % 2 == 0}
        reply = await http.post("/v1/chat/completions", json=body)
        assert reply.status_code == 200
        return reply.headers["x-request-id"]

    return list(await asyncio.gather(*(one(i) for i in range(count))))


async def test_no_row_lost_or_duplicated_across_a_database_outage(
    private_postgres: PrivatePostgres,
    gateway_process: tuple[str, subprocess.Popen[bytes]],
    tmp_path: Path,
) -> None:
    url, proc = gateway_process
    sent: list[str] = []
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        sent += await send(http, 100)
        await asyncio.sleep(0.2)  # some rows are in the database, some maybe in flight
        await asyncio.to_thread(private_postgres.stop)
        sent += await send(http, 100)  # the database is down: these go to the spool
        await asyncio.sleep(0.3)
        await asyncio.to_thread(private_postgres.start)
        sent += await send(http, 100)
    proc.send_signal(signal.SIGTERM)
    code = await asyncio.to_thread(proc.wait, 30)
    # uvicorn shuts down gracefully, then re-raises SIGTERM so the exit status tells why.
    assert code in (0, -signal.SIGTERM), f"exit {code}: " + (tmp_path / "gateway.log").read_text()

    conn = await asyncpg.connect(private_postgres.url)
    try:
        ids = [r["request_id"] for r in await conn.fetch("SELECT request_id FROM spend_log")]
    finally:
        await conn.close()
    assert len(sent) == 300 == len(set(sent))
    assert sorted(ids) == sorted(sent)  # each exactly once: none lost, none duplicated
    assert "unavailable" in (tmp_path / "gateway.log").read_text()  # the outage was seen
