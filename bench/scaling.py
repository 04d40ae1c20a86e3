"""`gateway serve` as users run it: launch to ready, and requests/s with 1 and 2 workers.

- Start-up: from `Popen` of `gateway serve` (the CLI, in a fresh interpreter) until `GET /readyz`
  answers 200, polled every 10 ms. In memory: `--no-auth`, the embedded SQLite ledger; full: the
  production settings of the `gateway-full` targets (Redis, Postgres, auth).
- Workers: `gateway serve --workers N` on the full production path (state shared in Redis),
  not pinned (it may use both cores; the simulator and the load generator stay on theirs), at
  c=64 with non-streamed chat requests; requests/s of each, interleaved round by round.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from bench import loadgen
from bench.procs import Child, _ready, child_env, cpu_seconds, free_port
from bench.serve import SIM_MODEL

_CLI = "import sys; from gateway.cli import main; sys.argv[0] = 'gateway'; main()"
READY_PATH = "/readyz"
CONCURRENCY = 64


@dataclass(frozen=True, slots=True)
class Launch:
    """How to run one `gateway serve`: the tree it runs from, its folder, arguments, settings."""

    name: str
    home: Path
    args: list[str]  # after `serve`
    env: Mapping[str, str]  # GATEWAY_* settings
    tree: Path | None = None  # None: this work tree


def serve(launch: Launch, port: int, log: Path) -> Child:
    """Start `gateway serve` on `port`, free to use every core this machine allows."""
    launch.home.mkdir(parents=True, exist_ok=True)
    env = child_env() if launch.tree is None else child_env(str(launch.tree))
    env |= {"GATEWAY_LOG_LEVEL": "warning", **launch.env}
    cores = os.sched_getaffinity(0) | set(range(os.cpu_count() or 1))
    cmd = [sys.executable, "-c", _CLI, "serve", *launch.args, "--port", str(port)]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd,
            cwd=launch.home,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            preexec_fn=lambda: os.sched_setaffinity(0, cores),  # not the load generator's core
        )
    return Child(launch.name, port, proc, log)


@contextlib.contextmanager
def running(launch: Launch, log: Path) -> Iterator[Child]:
    child = serve(launch, free_port(), log)
    try:
        yield child
    finally:
        child.stop()


def time_to_ready(launch: Launch, logdir: Path, timeout_s: float = 60.0) -> tuple[float, float]:
    """Seconds from launch until /readyz answers 200, and the CPU seconds the process used by
    then (less noisy on a shared machine); the process is stopped after."""
    t0 = time.perf_counter()
    with running(launch, logdir / f"{launch.name}-startup.log") as child:
        while not _ready(child.port, READY_PATH):
            child.check_alive()
            if time.perf_counter() - t0 > timeout_s:
                raise TimeoutError(f"{launch.name} not ready after {timeout_s}s")
            time.sleep(0.01)
        return time.perf_counter() - t0, cpu_seconds(child.pid)


def startup(launches: list[Launch], logdir: Path, rounds: int) -> dict[str, tuple[float, float]]:
    """Median launch-to-ready seconds (wall, CPU) of each, interleaved round by round."""
    times: dict[str, list[tuple[float, float]]] = {launch.name: [] for launch in launches}
    for _ in range(rounds):
        for launch in launches:
            times[launch.name].append(time_to_ready(launch, logdir))
    out = {}
    for name, values in times.items():
        shown = ", ".join(f"{wall:.2f} ({cpu:.2f} CPU)" for wall, cpu in values)
        print(f"start-up {name}: {shown} s", flush=True)
        out[name] = (
            statistics.median(w for w, _ in values),
            statistics.median(c for _, c in values),
        )
    return out


def _tree_cpu_s(pid: int) -> float:
    """CPU seconds of a process and its children (uvicorn's workers)."""
    total = cpu_seconds(pid)
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            with contextlib.suppress(OSError):
                total += cpu_seconds(int(child))
    return total


async def _rps(child: Child, headers: str, requests: int) -> tuple[float, float]:
    """Requests/s, and CPU ms per request of the server and its workers."""
    request = loadgen.chat_request(child.port, model=SIM_MODEL, stream=False, headers=headers)
    cpu0 = _tree_cpu_s(child.pid)
    phase = await loadgen.run_phase(child.port, request, concurrency=CONCURRENCY, requests=requests)
    return phase.rps, (_tree_cpu_s(child.pid) - cpu0) * 1000 / requests


async def workers(
    launch: Launch, counts: tuple[int, ...], headers: str, requests: int, rounds: int, logdir: Path
) -> dict[str, float]:
    """Requests/s (median of `rounds`) and RSS of `gateway serve --workers N` for each N."""
    children: dict[int, Child] = {}
    rps: dict[int, list[float]] = {n: [] for n in counts}
    cpu: dict[int, list[float]] = {n: [] for n in counts}
    try:
        for n in counts:
            one = Launch(
                f"{launch.name}-w{n}", launch.home, [*launch.args, "--workers", str(n)],
                launch.env, launch.tree,
            )  # fmt: skip
            children[n] = serve(one, free_port(), logdir / f"{one.name}.log")
        for child in children.values():
            await asyncio.to_thread(_wait, child)
            await _rps(child, headers, requests)  # warm-up: every worker up and connected
        for r in range(rounds):
            for n, child in children.items():
                got, ms = await _rps(child, headers, requests)
                rps[n].append(got)
                cpu[n].append(ms)
                child.check_alive()
                print(
                    f"round {r + 1}/{rounds} {child.name:<27} {got:6.0f} req/s at "
                    f"c={CONCURRENCY}, {ms:.3f} CPU ms/req (all workers)",
                    flush=True,
                )
    finally:
        for child in children.values():
            child.stop()
    out = {f"workers_{n}_rps": statistics.median(v) for n, v in rps.items()}
    return out | {f"workers_{n}_cpu_ms": statistics.median(v) for n, v in cpu.items()}


def _wait(child: Child, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not _ready(child.port, READY_PATH):
        child.check_alive()
        if time.monotonic() > deadline:
            raise TimeoutError(f"{child.name} not ready:\n{child.log_tail()}")
        time.sleep(0.05)
