"""`gateway serve --workers 2`: whichever worker answers /metrics reports every worker's requests,
from a private folder that is gone once the gateway stops."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import uuid
from pathlib import Path

import httpx

from gateway.sim import VendorSpec, run_sim
from gateway.sim.catalog import SimPrice, providers_yaml
from gateway.sim.config import SimConfig
from gateway.telemetry import families as f
from tests.contract.test_store_contract import REDIS_URL, drop_prefix
from tests.gateway_procs import GATEWAY, _wait_ready, shared_env
from tests.redis_servers import free_port
from tests.telemetry.scrape import Scrape

SPEC = VendorSpec(models=["m"], ttft_ms=30, tokens_per_s=5000, output_tokens=4)
BODY = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


async def test_metrics_sum_every_workers_requests(tmp_path: Path) -> None:
    prefix = f"gwtest:{uuid.uuid4().hex[:10]}:"
    temp = tmp_path / "tmp"  # where serve makes its private metrics folder
    temp.mkdir()
    (tmp_path / "policies").mkdir()
    port, metrics_port = free_port(), free_port()
    async with run_sim(SimConfig(vendors={"v": SPEC})) as vendors:
        (tmp_path / "providers.yaml").write_text(providers_yaml(vendors, {"v": SimPrice(1, 1)}))
        env = {
            **os.environ,
            **shared_env(tmp_path, REDIS_URL, prefix),
            "GATEWAY_DATABASE_URL": f"sqlite:///{tmp_path / 'ledger.db'}",
            "GATEWAY_LEDGER_SPOOL_DIR": str(tmp_path / "spool"),
            "GATEWAY_AUTH": "false",
            "GATEWAY_LOG_LEVEL": "warning",
            "TMPDIR": str(temp),
        }
        proc = _start(
            env,
            tmp_path,
            "--workers",
            "2",
            "--port",
            str(port),
            "--metrics-port",
            str(metrics_port),
        )
        url = f"http://127.0.0.1:{port}"
        try:
            await asyncio.to_thread(_wait_ready, url, proc, tmp_path)
            sent = await _until_both_workers_served(url, temp)
            for base in [url] * 4 + [f"http://127.0.0.1:{metrics_port}"] * 4:
                async with httpx.AsyncClient() as http:  # a new connection: any worker
                    m = Scrape((await http.get(f"{base}/metrics")).text)
                assert m.total(f.REQUESTS) == sent
                assert m.value(f.REQUESTS, route="m", deployment="v/m", status="200") == sent
                assert m.total(f"{f.OPERATION_DURATION}_count") == sent
            # Live state as the workers last saw it: settled in the background (in-flight drops
            # to 0 with the next state refresh); Redis up in both (a worker that timed out on
            # a busy host says 0 until its next look).
            for _ in range(100):
                async with httpx.AsyncClient() as http:
                    m = Scrape((await http.get(f"{url}/metrics")).text)
                live = (m.value(f.IN_FLIGHT, deployment="v/m"), m.value(f.REDIS_UP))
                if live == (0, 1):
                    break
                await asyncio.sleep(0.1)
            assert live == (0, 1)
        finally:
            proc.send_signal(signal.SIGTERM)
            await asyncio.to_thread(proc.wait, 30)
            await drop_prefix(prefix)
    assert not await asyncio.to_thread(_metrics_folders, temp)  # gone with the gateway


async def _until_both_workers_served(url: str, temp: Path) -> int:
    """Send bursts of concurrent requests, each on its own connection, until both workers have
    counted some (a counter file per worker process); returns how many were sent."""
    sent = 0
    while sent < 200:

        async def one() -> None:
            async with httpx.AsyncClient(timeout=10) as http:
                r = await http.post(f"{url}/v1/chat/completions", json=BODY)
                assert r.status_code == 200

        await asyncio.gather(*(one() for _ in range(10)))
        sent += 10
        if await asyncio.to_thread(_counter_files, temp) == 2:
            return sent
    raise AssertionError("one worker served every request")


def _start(env: dict[str, str], workdir: Path, *args: str) -> subprocess.Popen[bytes]:
    # (named as _wait_ready reads it on a failure)
    with (workdir / "gateway-0.log").open("wb") as log:
        return subprocess.Popen([GATEWAY, "serve", *args], env=env, stdout=log, stderr=log)


def _metrics_folders(temp: Path) -> list[Path]:
    return list(temp.glob("gateway-metrics-*"))


def _counter_files(temp: Path) -> int:
    """How many worker processes have counted something (prometheus_client: a file each)."""
    (folder,) = _metrics_folders(temp)
    return len(list(folder.glob("counter_*.db")))
