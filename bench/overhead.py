"""Overhead benchmark: the gateway against the simulator called directly and two pass-throughs.

    .venv/bin/python -m bench.overhead [--requests N] [--rounds R] [--quick] [--out F] [--profile]

Every proxy runs alone in its own process, one uvicorn worker pinned to core 0; the simulator
and this load generator share core 1. All targets are measured in the same run with the same
workload, round after round, and each figure is the median over the rounds. See bench/README.md.
"""

from __future__ import annotations

import argparse
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

from bench import fleet, loadgen, report
from bench.procs import Child, cpu_seconds, rss_mb
from bench.profile import profile_gateway
from bench.serve import SIM_MODEL, default_http


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


async def _warm_up(target: Child, sizes: Sizes) -> None:
    """Check the answers are right, fill the connection pools, let the caches settle."""
    port = target.port
    try:
        body = await loadgen.fetch(port, loadgen.chat_request(port, model=SIM_MODEL, stream=False))
        if b'"choices"' not in body:
            raise RuntimeError(f"not a chat completion: {body[:300]!r}")
        sse = await loadgen.fetch(port, loadgen.chat_request(port, model=SIM_MODEL, stream=True))
        if b"data: [DONE]" not in sse:
            raise RuntimeError(f"not an SSE stream ending in [DONE]: {sse[-300:]!r}")
    except (RuntimeError, OSError) as exc:
        raise RuntimeError(f"{target.name} fails: {exc}\n{target.log_tail()}") from exc
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
    sim = children[fleet.DIRECT]
    for name, child in children.items():
        print(f"warming up {name} ...", flush=True)
        await _warm_up(child, sizes)
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


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # so that SIGTERM and SIGHUP stop the children too


def main() -> None:
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGHUP, _interrupt)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000, help="requests at c=32 per round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; figures are medians")
    parser.add_argument("--quick", action="store_true", help="a small run (smoke test)")
    parser.add_argument("--out", type=Path, help="write every figure as JSON here")
    parser.add_argument("--profile", action="store_true", help="also profile the gateway")
    parser.add_argument(
        "--targets", nargs="+", choices=fleet.TARGETS[1:], default=list(fleet.TARGETS[1:])
    )
    parser.add_argument("--http", choices=("httptools", "h11"), default=default_http())
    args = parser.parse_args()
    if args.quick:
        args.requests, args.rounds = 800, 1
    sizes = Sizes.of(args.requests)
    if args.http != "httptools":
        print("warning: httptools is not installed: uvicorn falls back to h11", file=sys.stderr)
    pinned = fleet.cores()
    if pinned[1] is not None:
        os.sched_setaffinity(0, {pinned[1]})  # the load generator shares the simulator's core
    meta = _meta(args, sizes, args.http)
    with tempfile.TemporaryDirectory(prefix="bench-overhead-") as tmp:
        workdir = Path(tmp)
        children: dict[str, Child] = {}
        try:
            fleet.start(children, [fleet.DIRECT, *args.targets], workdir, args.http, pinned)
            results = uvloop.run(_run(children, sizes, args.rounds))
        finally:
            fleet.stop(children)
        profile = ""
        if args.profile:
            profile = uvloop.run(
                profile_gateway(
                    workdir,
                    args.http,
                    pinned,
                    warmup=sizes.warmup,
                    requests=sizes.c32,
                    keep=args.out,
                )
            )
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
