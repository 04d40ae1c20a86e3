"""Private redis-server processes, for tests that kill, restart or cluster Redis."""

from __future__ import annotations

import random
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
REDIS_CLI = shutil.which("redis-cli") or "/usr/bin/redis-cli"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cluster_port() -> int:
    """A free port whose cluster bus port (+10000) is free too (and still a valid port)."""
    for _ in range(200):
        port = random.randint(20000, 45000)
        if _is_free(port) and _is_free(port + 10000):
            return port
    raise RuntimeError("no free port pair for a cluster node")


def _is_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def start_redis(port: int, workdir: Path, *extra: str) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [
            REDIS_SERVER,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
            *extra,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=0.2)
    for _ in range(100):
        if proc.poll() is not None:
            raise RuntimeError(f"private redis-server on port {port} exited with {proc.returncode}")
        try:
            client.ping()
            client.close()
            return proc
        except redis.ConnectionError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"private redis-server on port {port} did not start")


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.kill()
    proc.wait(timeout=10)


@contextmanager
def private_redis() -> Iterator[tuple[int, Path]]:
    """A throwaway redis-server on its own port; yields (port, workdir)."""
    with tempfile.TemporaryDirectory(prefix="gw-redis-") as tmp:
        port = free_port()
        proc = start_redis(port, Path(tmp))
        try:
            yield port, Path(tmp)
        finally:
            if proc.poll() is None:
                stop(proc)


@contextmanager
def redis_cluster(nodes: int = 3) -> Iterator[list[int]]:
    """A `nodes`-master Redis Cluster on loopback ports; yields the ports."""
    with tempfile.TemporaryDirectory(prefix="gw-cluster-") as tmp:
        ports: list[int] = []
        while len(ports) < nodes:  # distinct, and no node's bus port on another's port
            port = cluster_port()
            if all(abs(port - p) not in (0, 10000) for p in ports):
                ports.append(port)
        procs = []
        try:
            for port in ports:
                workdir = Path(tmp) / str(port)
                workdir.mkdir()
                procs.append(
                    start_redis(
                        port,
                        workdir,
                        "--cluster-enabled",
                        "yes",
                        "--cluster-config-file",
                        "nodes.conf",
                    )
                )
            subprocess.run(
                [
                    REDIS_CLI,
                    "--cluster",
                    "create",
                    *(f"127.0.0.1:{p}" for p in ports),
                    "--cluster-replicas",
                    "0",
                    "--cluster-yes",
                ],
                check=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=60,
            )
            client = redis.Redis(host="127.0.0.1", port=ports[0])
            for _ in range(200):
                if client.cluster("info").get("cluster_state") == "ok":
                    break
                time.sleep(0.05)
            client.close()
            yield ports
        finally:
            for proc in procs:
                stop(proc)
