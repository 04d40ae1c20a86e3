"""Where the gateway's time goes: profile one saturation run, summarize by component and function.

py-spy (a sampling profiler, attached from outside; `py-spy` on PATH or PY_SPY=/path/to/py-spy)
is used when it is there: it barely slows the process and counts time spent in C (the event loop,
socket writes) against the Python function that called it. Otherwise the gateway runs cProfile
on itself (SIGUSR1 to SIGUSR2), which slows every Python call and so inflates small functions.
"""

from __future__ import annotations

import asyncio
import os
import pstats
import shutil
import signal
import subprocess
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from bench import fleet, loadgen
from bench.procs import Child, cpu_seconds, spawn, wait_ready
from bench.serve import SIM_MODEL

RATE_HZ = 1000
# An anyio worker thread with no Python frame above `run`: the config watcher (watchfiles)
# blocked in native code. py-spy counts it as active; /proc says it uses no CPU.
_BLOCKED = "WorkerThread.run (anyio/"
_EVENT_LOOP = "event loop (uvloop's C code: epoll, socket I/O, dispatch)"


@dataclass
class Profile:
    tool: str
    total_s: float = 0.0
    self_s: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))
    incl_s: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))
    by_component: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))
    # time of the stacks that go through a component (py-spy only): itself and all it calls
    through: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))
    other_threads_s: float = 0.0  # py-spy only: time in threads other than the event loop's
    # py-spy only: each sample to the part of the request path its innermost known frame is in
    parts: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))


# The per-request breakdown: a sample counts for the innermost frame of one of these packages
# (stdlib and C frames count for whoever called them).
PARTS = {
    "client (aiohttp, the upstream adapters)": (
        "aiohttp", "yarl", "multidict", "aiohappyeyeballs", "propcache", "gateway.upstream",
    ),
    "server / ASGI (uvicorn, httptools, starlette, fastapi, gateway.api)": (
        "uvicorn", "httptools", "starlette", "fastapi", "gateway.api", "gateway.app",
    ),
    "routing (router, scoring, policy, dialects)": (
        "gateway.routing", "gateway.config", "gateway.core", "gateway.dialects",
    ),
    "state (gateway.state, redis-py)": ("gateway.state", "redis", "hiredis"),
    "ledger (writer, sinks: asyncpg, SQLAlchemy, aiosqlite)": (
        "gateway.ledger", "asyncpg", "sqlalchemy", "aiosqlite",
    ),
    "auth / budget (key directory, tenancy)": ("gateway.tenancy",),
    "metrics": ("gateway.metrics", "prometheus_client", "gateway.api.metrics"),
}  # fmt: skip
_PART_OF = {package: part for part, packages in PARTS.items() for package in packages}


def _part(frames: list[str]) -> str:
    for frame in reversed(frames):
        part = _PART_OF.get(_component(frame))
        if part is not None:
            return part
    return "event loop, asyncio and the rest"


def _short(path: str) -> str:
    for marker in (
        "site-packages/",
        str(Path(__file__).resolve().parents[1]) + "/",
        "/python3.11/",
    ):
        path = path.split(marker, 1)[-1]
    return path


def _component(label: str) -> str:
    """The package (or gateway subpackage) of a `function (path:line)` label."""
    path = label.rsplit(" (", 1)[-1].split(":", 1)[0]
    if path == "asyncio/runners.py":
        return _EVENT_LOOP
    parts = path.split("/")
    if parts[0] in ("gateway", "bench") and len(parts) > 2:
        return f"{parts[0]}.{parts[1]}"
    return parts[0].removesuffix(".py")


def _work(frames: list[str]) -> list[str]:
    """The frames above the event loop (the task or callback it runs); a thread's whole stack."""
    for i in range(len(frames) - 1, -1, -1):
        if "(asyncio/runners.py:" in frames[i]:
            return frames[i + 1 :]
    return frames


def from_pyspy(raw: Path) -> Profile:
    """py-spy's raw format: one line per stack, `frame;frame;...;leaf count`."""
    prof = Profile("py-spy")
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        secs = int(count) / RATE_HZ
        frames = stack.split(";")
        if frames[-1].startswith(_BLOCKED):
            continue
        prof.total_s += secs
        prof.self_s[frames[-1]] += secs
        prof.by_component[_component(frames[-1])] += secs
        for frame in set(frames):
            prof.incl_s[frame] += secs
        for name in {_component(frame) for frame in _work(frames)}:
            prof.through[name] += secs
        prof.parts[_part(frames)] += secs
        if "(threading.py:" in frames[0]:  # the root of a thread other than the loop's
            prof.other_threads_s += secs
    return prof


def from_cprofile(dump: Path) -> Profile:
    prof = Profile("cProfile")
    raw = pstats.Stats(str(dump)).stats  # type: ignore[attr-defined]
    for (path, line, func), (_, _, tottime, cumtime, _) in raw.items():
        label = func if path == "~" else f"{func} ({_short(path)}:{line})"
        prof.total_s += tottime
        prof.self_s[label] += tottime
        prof.incl_s[label] += cumtime
        component = "(C functions called from Python)" if path == "~" else _component(label)
        prof.by_component[component] += tottime
    return prof


def _top(secs: dict[str, float], n: int) -> list[tuple[str, float]]:
    return sorted(secs.items(), key=lambda kv: -kv[1])[:n]


def summary(prof: Profile, requests: int, cpu_ms: float, rps: float, top: int = 12) -> str:
    """Markdown: time by component, top functions by self time, gateway code inclusive."""
    total = prof.total_s or 1.0
    # µs/request from the measured CPU time, not from the samples: a sampler also counts the
    # moments the process was runnable but not running (another process had the core).
    us = cpu_ms * 1000 / total
    lines = [
        f"Profiled with {prof.tool}: {requests} non-stream requests at c=32, {rps:.0f} req/s "
        f"while profiled, {cpu_ms:.3f} CPU ms/request (from /proc); {prof.total_s:.2f} s in view"
        + (
            f", {prof.other_threads_s / total:.1%} of it in threads other than the event loop's."
            if prof.other_threads_s
            else "."
        ),
        "",
    ]
    if prof.parts:
        lines += ["| part of the request path | share | µs/request |", "|---|---|---|"]
        for name, secs in _top(prof.parts, top):
            lines.append(f"| {name} | {secs / total:.1%} | {secs * us:.0f} |")
        lines.append("")
    lines += [
        "| component (self time) | share | µs/request |",
        "|---|---|---|",
    ]
    for name, secs in _top(prof.by_component, top):
        lines.append(f"| {name} | {secs / total:.1%} | {secs * us:.0f} |")
    if prof.through:
        lines += ["", "| stacks through component (inclusive) | share | µs/request |"]
        lines.append("|---|---|---|")
        for name, secs in _top(prof.through, top):
            lines.append(f"| {name} | {secs / total:.1%} | {secs * us:.0f} |")
    lines += ["", "| function (self time) | share | µs/request |", "|---|---|---|"]
    for name, secs in _top(prof.self_s, top):
        lines.append(f"| `{name}` | {secs / total:.1%} | {secs * us:.0f} |")
    lines += ["", "| gateway function (inclusive time) | share | µs/request |", "|---|---|---|"]
    ours = {k: v for k, v in prof.incl_s.items() if "(gateway/" in k}
    for name, secs in _top(ours, top):
        lines.append(f"| `{name}` | {secs / total:.1%} | {secs * us:.0f} |")
    return "\n".join(lines)


def _py_spy() -> str | None:
    return os.environ.get("PY_SPY") or shutil.which("py-spy")


def _record(pyspy: str, pid: int, out: Path, cpu: int | None) -> subprocess.Popen[bytes]:
    """Start sampling `pid` (until SIGINT) from the client core."""
    cmd = [pyspy, "record", "--pid", str(pid), "--rate", str(RATE_HZ), "--format", "raw"]
    cmd += ["--output", str(out), "--function", "--nonblocking"]
    recorder = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if cpu is not None:
        os.sched_setaffinity(recorder.pid, {cpu})
    return recorder


async def profile_gateway(
    workdir: Path,
    http: str,
    pinned: fleet.Cores,
    *,
    warmup: int,
    requests: int,
    keep: Path | None = None,
    target: str = "gateway",
    serve: tuple[list[str], str] | None = None,
) -> str:
    """Saturate a fresh gateway (aiohttp transport) at c=32 under a profiler; the summary.
    `target` names it; `serve`: its `bench.serve` arguments and its clients' header lines
    (fleet.argv; default: the `gateway` target's)."""
    pyspy = _py_spy()
    dump = workdir / (f"{target}.pyspy.txt" if pyspy else f"{target}.prof")
    serve_args, headers = serve or (fleet.gateway_args(workdir), "")
    args = [*serve_args, "--http", http]
    if not pyspy:
        args += ["--profile", str(dump)]
    children: dict[str, Child] = {}
    recorder: subprocess.Popen[bytes] | None = None
    try:
        fleet.start(children, [fleet.DIRECT], workdir, http, pinned)
        gw = children["profiled"] = spawn(f"{target}-profiled", args, cpu=pinned[0], logdir=workdir)
        wait_ready(gw, http_path="/healthz")
        plain = loadgen.chat_request(gw.port, model=SIM_MODEL, stream=False, headers=headers)
        await loadgen.run_phase(gw.port, plain, concurrency=32, requests=warmup)
        print(f"profiling {target} with {'py-spy' if pyspy else 'cProfile'} ...", flush=True)
        if pyspy:
            recorder = _record(pyspy, gw.pid, dump, pinned[1])
            await asyncio.sleep(1.0)  # attached; the gateway is idle meanwhile (not sampled)
        else:
            gw.proc.send_signal(signal.SIGUSR1)
            await asyncio.sleep(0.2)
        cpu0 = cpu_seconds(gw.pid)
        phase = await loadgen.run_phase(gw.port, plain, concurrency=32, requests=requests)
        cpu_ms = (cpu_seconds(gw.pid) - cpu0) * 1000 / requests
        if recorder is not None:
            recorder.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
            _, err = await asyncio.to_thread(recorder.communicate, timeout=60)
            if not dump.exists():
                raise RuntimeError(f"py-spy wrote nothing: {err.decode(errors='replace')}")
        else:
            gw.proc.send_signal(signal.SIGUSR2)
            deadline = time.monotonic() + 60
            while not dump.exists() and time.monotonic() < deadline:
                gw.check_alive()
                await asyncio.sleep(0.1)
    finally:
        if recorder is not None and recorder.poll() is None:
            recorder.kill()
            recorder.wait()
        fleet.stop(children)
    if keep is not None:
        shutil.copyfile(dump, keep.with_name(f"{keep.name}.{dump.name}"))
    prof = from_pyspy(dump) if pyspy else from_cprofile(dump)
    return f"**{target}**\n\n" + summary(prof, requests, cpu_ms, phase.rps)
