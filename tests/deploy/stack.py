"""The compose stack's `sim` profile on loopback: deploy/sim's simulator config and providers
(with free ports in place of the fixed ones, 127.0.0.1 in place of the `sim` host), run by the
real `gateway sim` and `gateway serve` commands."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import yaml

from tests.deploy.grafana import DEPLOY
from tests.gateway_procs import GATEWAY, gateway_processes
from tests.redis_servers import free_port

SIM = DEPLOY / "sim"
MASTER_KEY = "test-master-key-for-the-sim-stack"


@dataclass(frozen=True)
class Stack:
    gateway: str  # root URL
    vendors: dict[str, str]  # vendor name -> root URL
    workdir: Path


def sim_ports() -> dict[str, int]:
    """Vendor -> the fixed port deploy/sim/sim.yaml gives it."""
    vendors = yaml.safe_load((SIM / "sim.yaml").read_text())["vendors"]
    return {name: spec["port"] for name, spec in vendors.items()}


def _localised(workdir: Path) -> dict[str, int]:
    """Write sim.yaml, providers.yaml and policies/ into workdir, on free loopback ports."""
    ports = {name: free_port() for name in sim_ports()}
    sim = yaml.safe_load((SIM / "sim.yaml").read_text())
    for name, spec in sim["vendors"].items():
        spec["port"] = ports[name]
    (workdir / "sim.yaml").write_text(yaml.safe_dump(sim))
    text = (SIM / "providers.yaml").read_text()
    for name, fixed in sim_ports().items():
        text = text.replace(f"http://sim:{fixed}/", f"http://127.0.0.1:{ports[name]}/")
    assert "http://sim:" not in text, "providers.yaml names a port sim.yaml does not serve"
    (workdir / "providers.yaml").write_text(text)
    (workdir / "policies").mkdir()
    for policy in (SIM / "policies").glob("*.yaml"):
        (workdir / "policies" / policy.name).write_text(policy.read_text())
    return ports


@contextmanager
def sim_stack(workdir: Path, **env: str) -> Iterator[Stack]:
    ports = _localised(workdir)
    with (workdir / "sim.log").open("wb") as log:
        sim = subprocess.Popen(
            [GATEWAY, "sim", "--config", str(workdir / "sim.yaml"), "--host", "127.0.0.1"],
            stdout=log,
            stderr=log,
        )
    try:
        vendors = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
        _wait_serving(vendors.values(), sim, workdir / "sim.log")
        settings = {
            "GATEWAY_PROVIDERS": str(workdir / "providers.yaml"),
            "GATEWAY_POLICIES": str(workdir / "policies"),
            "GATEWAY_AUTH": "true",
            "GATEWAY_MASTER_KEY": MASTER_KEY,
            **env,
        }
        with gateway_processes(1, settings, workdir) as [url]:
            yield Stack(url, vendors, workdir)
    finally:
        sim.terminate()
        sim.wait(timeout=15)


def _wait_serving(roots: Iterable[str], proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    for root in roots:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"gateway sim exited: {log.read_text()}")
            try:
                if httpx.get(f"{root}/v1/models", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"gateway sim not serving {root} in 30 s")
            time.sleep(0.1)
