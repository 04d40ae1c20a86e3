"""Run real `gateway serve` processes for tests that need several replicas or workers."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Served:
    """One `gateway serve` process: its URL, port, process and log file."""

    url: str
    port: int
    proc: subprocess.Popen[bytes]
    log: Path

    def workers(self) -> list[int]:
        """The pids of its uvicorn worker processes (none when it serves in one process)."""
        return [pid for pid in children(self.proc.pid) if b"spawn_main" in _cmdline(pid)]


@contextmanager
def gateway_server(
    env: Mapping[str, str], workdir: Path, *args: str, workers: int = 1
) -> Iterator[Served]:
    """Start one `gateway serve --workers N` with this environment and extra arguments; yield it
    once every worker is ready; SIGTERM it afterwards unless the test already stopped it."""
    port = free_port()
    log = workdir / f"gateway-{port}.log"
    proc_env = {
        **os.environ,
        # Info: each worker says "gateway ready" (one worker answering /readyz is not all).
        "GATEWAY_LOG_LEVEL": "info" if workers > 1 else "warning",
        "GATEWAY_AUTH": env.get("GATEWAY_AUTH", "false"),  # loopback test gateways
        **env,
    }
    command = [GATEWAY, "serve", "--port", str(port), "--workers", str(workers), *args]
    with log.open("wb") as out:
        proc = subprocess.Popen(command, env=proc_env, stdout=out, stderr=out)
    served = Served(f"http://127.0.0.1:{port}", port, proc, log)
    try:
        _wait_ready(served.url, proc, log, workers)
        yield served
    finally:
        stop(proc)


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
        for i, (url, proc) in enumerate(zip(urls, procs, strict=True)):
            _wait_ready(url, proc, workdir / f"gateway-{i}.log")
        yield urls
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            _wait_or_kill(proc)


def stop(proc: subprocess.Popen[bytes]) -> int:
    """SIGTERM (graceful: streams finish, ledgers drain), SIGKILL after 15 s; the exit status."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    return _wait_or_kill(proc)


def _wait_or_kill(proc: subprocess.Popen[bytes]) -> int:
    try:
        return proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        workers = children(proc.pid)  # its workers would outlive it
        proc.kill()
        for pid in workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return proc.wait()


def _wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path, workers: int = 1) -> None:
    deadline = time.monotonic() + 60  # generous: CI machines run many tests at once
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gateway exited with {proc.returncode}:\n{log.read_text()}")
        try:
            ready = httpx.get(f"{url}/readyz", timeout=1).status_code == 200
        except httpx.HTTPError:
            ready = False
        if ready and (workers == 1 or log.read_text().count("gateway ready") >= workers):
            return
        time.sleep(0.1)
    raise RuntimeError(f"gateway at {url} was not ready in 60 s:\n{log.read_text()}")


# Which process serves which connection, read from /proc (Linux): the test sees the OS's view
# and the gateway needs no header or endpoint that says which worker answered.


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:  # gone meanwhile
                continue
            # "pid (comm) state ppid ...": comm may hold spaces, so split after its ")".
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return sorted(found)


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def accepted_by(port: int, pids: list[int]) -> dict[int, int]:
    """Open connections to `port`: the client's port -> the pid (of `pids`) that accepted it."""
    clients = {}  # socket inode -> client port
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            if local_port == port and fields[3] == "01":  # 01: ESTABLISHED
                clients[fields[9]] = int(fields[2].rsplit(":", 1)[1], 16)
    owners = {}
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                target = os.readlink(fd)
                if target.startswith("socket:[") and target[8:-1] in clients:
                    owners[clients[target[8:-1]]] = pid
    return owners
