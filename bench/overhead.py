"""Overhead benchmark: the gateway against the simulator called directly and two pass-throughs.

    .venv/bin/python -m bench.overhead [--requests N] [--rounds R] [--quick] [--out F] [--profile]

Every proxy runs alone in its own process, one uvicorn worker pinned to core 0; the simulator
and this load generator share core 1. All targets are measured in the same run with the same
workload, round after round, and each figure is the median over the rounds. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import platform
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import orjson
import uvloop

from bench import loadgen, report
from bench.procs import Child, cpu_seconds, rss_mb, spawn, wait_ready
from bench.serve import SIM_MODEL, default_http, sim_spec
from gateway.sim import SimVendor
from gateway.sim.catalog import SimPrice, providers_yaml

TARGETS = ("direct", "passthrough-httpx", "passthrough-aiohttp", "gateway", "gateway-httpx")


@dataclass(frozen=True, slots=True)
class Sizes:
    c32: int  # non-stream requests at concurrency 32 (throughput, CPU/request)
    c1: int  # non-stream requests at concurrency 1 (latency)
    stream: int  # streamed requests at concurrency 1 (time to first byte)
    warmup: int

    @classmethod
    def of(cls, requests: int) -> Sizes:
        return cls(
            requests, max(requests // 5, 50), max(requests // 10, 30), max(requests // 8, 200)
        )


class _RemoteSim(SimVendor):
    """The simulator process as providers_yaml wants it: a SimVendor we do not start here."""

    def __init__(self, port: int) -> None:
        super().__init__("sim", sim_spec(port))
        self._remote_port = port

    @property
    def port(self) -> int:
        return self._remote_port


Cores = tuple[int | None, int | None]


def _cores() -> Cores:
    """(proxy core, client core): 0 and 1 when this process may use both."""
    allowed = sorted(os.sched_getaffinity(0))
    if len(allowed) < 2:
        print("warning: fewer than 2 cores: nothing is pinned", file=sys.stderr)
        return None, None
    return allowed[0], allowed[1]


def _start(
    children: dict[str, Child], names: list[str], workdir: Path, http: str, cores: Cores
) -> None:
    """Add the simulator and every proxy to `children` (the caller stops them), pinned, ready."""
    proxy_cpu, client_cpu = cores
    sim = spawn("sim", ["sim"], cpu=client_cpu, logdir=workdir)
    children["direct"] = sim
    wait_ready(sim)
    upstream = f"http://127.0.0.1:{sim.port}/v1"
    providers = workdir / "providers.yaml"
    providers.write_text(providers_yaml({"sim": _RemoteSim(sim.port)}, {"sim": SimPrice(1, 2)}))
    (workdir / "policies").mkdir(exist_ok=True)
    gateway = ["gateway", "--providers", str(providers), "--policies", str(workdir / "policies")]
    argv = {
        "passthrough-httpx": ["passthrough-httpx", "--upstream", upstream],
        "passthrough-aiohttp": ["passthrough-aiohttp", "--upstream", upstream],
        "gateway": [*gateway, "--transport", "aiohttp"],
        "gateway-httpx": [*gateway, "--transport", "httpx"],
    }
    for name in names:
        if name != "direct":
            children[name] = spawn(
                name, [*argv[name], "--http", http], cpu=proxy_cpu, logdir=workdir
            )
    for name, child in children.items():
        wait_ready(child, http_path="/healthz" if name.startswith("gateway") else None)


async def _warm_up(port: int, sizes: Sizes) -> None:
    body = await loadgen.fetch(port, loadgen.chat_request(port, model=SIM_MODEL, stream=False))
    if b'"choices"' not in body:
        raise RuntimeError(f"not a chat completion: {body[:300]!r}")
    streamed = await loadgen.fetch(port, loadgen.chat_request(port, model=SIM_MODEL, stream=True))
    if b"data: [DONE]" not in streamed:
        raise RuntimeError(f"not an SSE stream ending in [DONE]: {streamed[-300:]!r}")
    plain = loadgen.chat_request(port, model=SIM_MODEL, stream=False)
    await loadgen.run_phase(port, plain, concurrency=32, requests=sizes.warmup)
    await loadgen.run_phase(port, plain, concurrency=1, requests=sizes.warmup // 4)


async def _measure(target: Child, sim: Child, sizes: Sizes) -> report.Metrics:
    port = target.port
    plain = loadgen.chat_request(port, model=SIM_MODEL, stream=False)
    streamed = loadgen.chat_request(port, model=SIM_MODEL, stream=True)
    c1 = await loadgen.run_phase(port, plain, concurrency=1, requests=sizes.c1)
    cpu0, sim0, me0 = cpu_seconds(target.pid), cpu_seconds(sim.pid), time.process_time()
    c32 = await loadgen.run_phase(port, plain, concurrency=32, requests=sizes.c32)
    cpu = cpu_seconds(target.pid) - cpu0
    client = time.process_time() - me0 + cpu_seconds(sim.pid) - sim0  # both on the client core
    st = await loadgen.run_phase(port, streamed, concurrency=1, requests=sizes.stream)
    target.check_alive()
    p = loadgen.percentile
    return {
        "c1_p50_ms": p(c1.latencies, 50) * 1000,
        "c1_p99_ms": p(c1.latencies, 99) * 1000,
        "c32_p50_ms": p(c32.latencies, 50) * 1000,
        "c32_p99_ms": p(c32.latencies, 99) * 1000,
        "rps": c32.rps,
        "cpu_ms_per_req": cpu * 1000 / sizes.c32,
        "proxy_core_pct": cpu / c32.wall_s * 100,
        "client_core_pct": client / c32.wall_s * 100,
        "ttfb_p50_ms": p(st.ttfb, 50) * 1000,
        "ttfb_p99_ms": p(st.ttfb, 99) * 1000,
        "stream_p50_ms": p(st.latencies, 50) * 1000,
    }


async def _run(children: dict[str, Child], sizes: Sizes, rounds: int) -> dict[str, report.Metrics]:
    sim = children["direct"]
    for name, child in children.items():
        print(f"warming up {name} ...", flush=True)
        await _warm_up(child.port, sizes)
    per_target: dict[str, list[report.Metrics]] = {name: [] for name in children}
    for r in range(rounds):
        for name, child in children.items():  # interleaved: drift on a shared machine hits all
            metrics = await _measure(child, sim, sizes)
            per_target[name].append(metrics)
            print(
                f"round {r + 1}/{rounds} {name:<20} c1 p50 {metrics['c1_p50_ms']:.3f} ms  "
                f"{metrics['rps']:6.0f} req/s  {metrics['cpu_ms_per_req']:.3f} CPU ms/req",
                flush=True,
            )
    results = {name: report.median_metrics(rs) for name, rs in per_target.items()}
    for name, child in children.items():
        results[name]["rss_mb"] = rss_mb(child.pid)
    return results


async def _profile(workdir: Path, http: str, cores: Cores, sizes: Sizes) -> str:
    """Saturate a gateway running under cProfile; summarize where its time goes."""
    children: dict[str, Child] = {}
    dump = workdir / "gateway.prof"
    args = ["gateway", "--providers", str(workdir / "providers.yaml")]
    args += ["--policies", str(workdir / "policies"), "--http", http, "--profile", str(dump)]
    try:
        _start(children, ["direct"], workdir, http, cores)
        gw = children["profiled"] = spawn("gateway-profiled", args, cpu=cores[0], logdir=workdir)
        wait_ready(gw, http_path="/healthz")
        print("profiling the gateway under a c=32 saturation run ...", flush=True)
        plain = loadgen.chat_request(gw.port, model=SIM_MODEL, stream=False)
        await loadgen.run_phase(gw.port, plain, concurrency=32, requests=sizes.warmup)
        gw.proc.send_signal(signal.SIGUSR1)  # profile the saturation run only
        await asyncio.sleep(0.2)
        await loadgen.run_phase(gw.port, plain, concurrency=32, requests=sizes.c32)
        gw.proc.send_signal(signal.SIGUSR2)
        deadline = time.monotonic() + 60
        while not dump.exists() and time.monotonic() < deadline:
            gw.check_alive()
            await asyncio.sleep(0.1)
    finally:
        _stop(children)
    if not dump.exists():
        raise RuntimeError("the gateway wrote no profile")
    return report.profile_summary(dump, sizes.c32)


def _stop(children: dict[str, Child]) -> None:
    for child in children.values():
        child.stop()


def _meta(args: argparse.Namespace, sizes: Sizes, http: str) -> dict[str, object]:
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "python -m bench.overhead " + " ".join(sys.argv[1:]),
        "nproc": os.cpu_count(),
        "python": platform.python_version(),
        "machine": platform.platform(),
        "http": http,
        "rounds": args.rounds,
        "sizes": {"c32": sizes.c32, "c1": sizes.c1, "stream": sizes.stream, "warm": sizes.warmup},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=4000, help="requests at c=32 per round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; figures are medians")
    parser.add_argument("--quick", action="store_true", help="a small run (smoke test)")
    parser.add_argument("--out", type=Path, help="write every figure as JSON here")
    parser.add_argument("--profile", action="store_true", help="also profile the gateway")
    parser.add_argument("--targets", nargs="+", choices=TARGETS[1:], default=list(TARGETS[1:]))
    parser.add_argument("--http", choices=("httptools", "h11"), default=default_http())
    args = parser.parse_args()
    if args.quick:
        args.requests, args.rounds = 800, 1
    sizes = Sizes.of(args.requests)
    if args.http != "httptools":
        print("warning: httptools is not installed: uvicorn falls back to h11", file=sys.stderr)
    cores = _cores()
    if cores[1] is not None:
        os.sched_setaffinity(0, {cores[1]})
    meta = _meta(args, sizes, args.http)
    with tempfile.TemporaryDirectory(prefix="bench-overhead-") as tmp:
        workdir = Path(tmp)
        children: dict[str, Child] = {}
        try:
            _start(children, ["direct", *args.targets], workdir, args.http, cores)
            results = uvloop.run(_run(children, sizes, args.rounds))
        finally:
            _stop(children)
        profile = ""
        if args.profile:
            profile = uvloop.run(_profile(workdir, args.http, cores, sizes))
    print(f"\n{meta['date']}; {meta['nproc']} cores; Python {meta['python']}; {args.http}")
    print(f"sizes per round: {meta['sizes']}; rounds: {args.rounds}\n")
    print(report.table(results))
    print("\n" + report.ratios(results))
    if profile:
        print("\n" + profile)
    if args.out:
        payload = {"meta": meta, "results": results, "profile": profile}
        args.out.write_text(orjson.dumps(payload, option=orjson.OPT_INDENT_2).decode())


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(130)
