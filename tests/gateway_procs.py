"""Run real `gateway serve` processes for tests that need several replicas."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.redis_servers import free_port

GATEWAY = str(Path(sys.executable).with_name("gateway"))


def shared_env(workdir: Path, redis_url: str, prefix: str, **extra: str) -> dict[str, str]:
    """Environment for gateways on workdir's providers.yaml and policies/, sharing one Redis."""
    return {
        "GATEWAY_PROVIDERS": str(workdir / "providers.yaml"),
        "GATEWAY_POLICIES": str(workdir / "policies"),
        "GATEWAY_REDIS_URL": redis_url,
        "GATEWAY_REDIS_PREFIX": prefix,
        **extra,
    }


@contextmanager
def gateway_processes(count: int, env: Mapping[str, str], workdir: Path) -> Iterator[list[str]]:
    """Start `count` gateways (each with its own SQLite ledger in workdir); yield their URLs."""
    procs: list[subprocess.Popen[bytes]] = []
    urls: list[str] = []
    try:
        for i in range(count):
            port = free_port()
            proc_env = {
                **os.environ,
                "GATEWAY_DATABASE_URL": f"sqlite:///{workdir / f'ledger-{i}.db'}",
                "GATEWAY_LEDGER_SPOOL_DIR": str(workdir / f"spool-{i}"),
                "GATEWAY_LOG_LEVEL": "warning",
                "GATEWAY_AUTH": env.get("GATEWAY_AUTH", "false"),  # loopback test gateways
                **env,
            }
            with (workdir / f"gateway-{i}.log").open("wb") as log:
                procs.append(
                    subprocess.Popen(
                        [GATEWAY, "serve", "--port", str(port)],
                        env=proc_env,
                        stdout=log,
                        stderr=log,
                    )
                )
            urls.append(f"http://127.0.0.1:{port}")
        for url, proc in zip(urls, procs, strict=True):
            _wait_ready(url, proc, workdir)
        yield urls
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()


def _wait_ready(url: str, proc: subprocess.Popen[bytes], workdir: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            logs = "\n".join(p.read_text() for p in workdir.glob("gateway-*.log"))
            raise RuntimeError(f"gateway exited with {proc.returncode}:\n{logs}")
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"gateway at {url} was not ready in 30 s")
