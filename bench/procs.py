"""Child processes of the benchmark: start pinned to a core, wait until ready, measure, stop."""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

HOST = "127.0.0.1"
_CLK_TCK = os.sysconf("SC_CLK_TCK")
_PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
_REPO = str(Path(__file__).resolve().parents[1])


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), from /proc/<pid>/stat."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()  # fields[0] is field 3 (state)
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def child_env(tree: str = _REPO) -> dict[str, str]:
    """The environment for children: no proxy variables, no GATEWAY_* settings leaking in.

    `tree` (this work tree by default) comes first on PYTHONPATH: its `gateway` and `bench`
    are imported, not the ones the venv's editable install points at.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    for name in _PROXY_VARS:
        env.pop(name, None)
        env.pop(name.upper(), None)
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONPATH"] = os.pathsep.join(p for p in (tree, env.get("PYTHONPATH")) if p)
    return env


@dataclass
class Child:
    """One server process: `python -m bench.serve ...`, its log file and its port."""

    name: str
    port: int
    proc: subprocess.Popen[bytes]
    log: Path
    headers: str = ""  # header lines its clients add to every request (an API key), CRLF each
    rss_ready_mb: float = 0.0  # resident memory when it first answered

    @property
    def pid(self) -> int:
        return self.proc.pid

    def check_alive(self) -> None:
        code = self.proc.poll()
        if code is not None:
            raise RuntimeError(f"{self.name} exited with code {code}:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 10.0) -> None:
        """Signal the child, wait for it, kill it if it lingers."""
        if self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def spawn(
    name: str, args: list[str], *, cpu: int | None, logdir: Path, tree: Path | None = None
) -> Child:
    """Start `python -m bench.serve ARGS` on a free port, pinned to `cpu`.

    It runs in a folder of its own under `logdir`, so that whatever a gateway writes next to
    itself (an embedded database, a spool) is its own and stays out of the work tree. With
    `tree` (another checkout, e.g. a temporary `git worktree` of an older commit), it runs in
    that folder instead, with it first on PYTHONPATH: that tree's `bench.serve` and `gateway`.
    """
    port = free_port()
    log = logdir / f"{name}.log"
    home = tree
    if home is None:
        home = logdir / name
        home.mkdir(exist_ok=True)
    cmd = [sys.executable, "-m", "bench.serve", *args, "--port", str(port)]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd,
            cwd=home,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=child_env(_REPO if tree is None else str(tree)),
        )
    child = Child(name, port, proc, log)
    if cpu is not None:
        try:
            os.sched_setaffinity(proc.pid, {cpu})  # before the interpreter starts any thread
        except OSError:
            child.stop()
            raise
    return child


def wait_ready(child: Child, *, http_path: str | None = None, timeout_s: float = 30.0) -> None:
    """TCP connect succeeds (and, with http_path, GET answers 200); raise if the child dies."""
    deadline = time.monotonic() + timeout_s
    while True:
        child.check_alive()
        if _ready(child.port, http_path):
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{child.name} not ready after {timeout_s}s:\n{child.log_tail()}")
        time.sleep(0.05)


def _ready(port: int, http_path: str | None) -> bool:
    try:
        if http_path is None:
            with socket.create_connection((HOST, port), timeout=1.0):
                return True
        conn = http.client.HTTPConnection(HOST, port, timeout=2.0)
        try:
            conn.request("GET", http_path)
            return conn.getresponse().status == 200
        finally:
            conn.close()
    except OSError:
        return False
