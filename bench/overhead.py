"""Overhead benchmark: the gateway against the simulator called directly and two pass-throughs.

    .venv/bin/python -m bench.overhead [--requests N] [--rounds R] [--quick] [--out F] [--profile]
        [--targets ...] [--redis-url URL] [--baseline REV]

Every proxy runs alone in its own process, one uvicorn worker pinned to core 0; the simulator
and this load generator share core 1. All targets are measured in the same run with the same
workload, round after round, and each figure is the median over the rounds. See bench/README.md.

With --baseline REV (a git revision), one more target, `gateway@<short rev>`, runs the gateway of
REV from a temporary `git worktree` (removed at the end) exactly as the `gateway` target is run;
the ratios then also compare `gateway` with it (bench/baseline.py).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import orjson
import uvloop

from bench import baseline, fleet, keys, loadgen, redis_stats, report
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
    work = fleet.workload(target.name).with_headers(target.headers)
    try:
        await work.check(port, SIM_MODEL)  # a chat completion, or a Messages reply, whole and SSE
    except (RuntimeError, OSError) as exc:
        raise RuntimeError(f"{target.name} fails: {exc}\n{target.log_tail()}") from exc
    plain = work.request(port, SIM_MODEL, stream=False)
    await loadgen.run_phase(port, plain, concurrency=32, requests=sizes.warmup)
    await loadgen.run_phase(port, plain, concurrency=1, requests=sizes.warmup // 4)
    if target.name == fleet.REDIS:
        await redis_stats.check_backend(port)


async def _measure(
    target: Child, sim: Child, sizes: Sizes, probe: redis_stats.Probe | None = None
) -> report.Metrics:
    """One round of the three phases; with `probe`, also the Redis work of the c=32 phase."""
    port = target.port
    work = fleet.workload(target.name).with_headers(target.headers)
    plain = work.request(port, SIM_MODEL, stream=False)
    streamed = work.request(port, SIM_MODEL, stream=True)
    c1 = await loadgen.run_phase(port, plain, concurrency=1, requests=sizes.c1)
    idle = redis0 = None
    if probe is not None:  # one idle second: the background rate (refresh loop, other clients)
        idle0 = probe.counters()
        await asyncio.sleep(redis_stats.IDLE_S)
        redis0 = probe.counters()
        idle = redis0.minus(idle0)
    cpu0, sim0, me0 = cpu_seconds(target.pid), cpu_seconds(sim.pid), time.process_time()
    c32 = await loadgen.run_phase(port, plain, concurrency=32, requests=sizes.c32)
    cpu = cpu_seconds(target.pid) - cpu0
    client = time.process_time() - me0 + cpu_seconds(sim.pid) - sim0  # both on the client core
    redis_work: report.Metrics = {}
    if probe is not None and idle is not None and redis0 is not None:
        phase = probe.counters().minus(redis0)
        redis_work = redis_stats.metrics(phase, idle, sizes.c32)
    st = await loadgen.run_phase(port, streamed, concurrency=1, requests=sizes.stream)
    target.check_alive()
    if probe is not None:
        await redis_stats.check_backend(port)  # a store that fell back to local would not count
    p = loadgen.percentile
    return redis_work | {
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


async def _run(
    children: dict[str, Child], sizes: Sizes, rounds: int, probe: redis_stats.Probe | None
) -> dict[str, report.Metrics]:
    for name, child in children.items():
        print(f"warming up {name} ...", flush=True)
        await _warm_up(child, sizes)
    per_target: dict[str, list[report.Metrics]] = {name: [] for name in children}
    for r in range(rounds):
        for name, child in children.items():  # interleaved: drift on a shared machine hits all
            sim = children[fleet.direct_of(name)]  # its upstream, on the client core
            metrics = await _measure(child, sim, sizes, probe if name == fleet.REDIS else None)
            per_target[name].append(metrics)
            print(
                f"round {r + 1}/{rounds} {name:<27} c1 p50 {metrics['c1_p50_ms']:.3f} ms  "
                f"{metrics['rps']:6.0f} req/s  {metrics['cpu_ms_per_req']:.3f} CPU ms/req",
                flush=True,
            )
            if "redis_evalsha_per_req" in metrics:
                print(
                    f"{'':10}{name:<27} Redis: {metrics['redis_evalsha_per_req']:.3f} EVALSHA/req, "
                    f"{metrics['redis_cmds_per_req']:.3f} commands/req, "
                    f"{metrics['redis_idle_cmds_per_s']:.1f} commands/s idle",
                    flush=True,
                )
    redis_stats.fill(per_target.get(fleet.REDIS, []))
    results = {name: report.median_metrics(rs) for name, rs in per_target.items()}
    for name, child in children.items():
        results[name]["rss_mb"] = rss_mb(child.pid)
    return results


def _commit() -> str:
    """The code under test: `git describe --always --dirty` of the work tree ('?' if none)."""
    try:
        out = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            cwd=Path(__file__).resolve().parents[1],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return "?"
    return out.stdout.strip()


def _meta(args: argparse.Namespace, sizes: Sizes, http: str) -> dict[str, object]:
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "python -m bench.overhead " + " ".join(sys.argv[1:]),
        "commit": _commit(),
        "nproc": os.cpu_count(),
        "python": platform.python_version(),
        "machine": platform.platform(),
        "http": http,
        "rounds": args.rounds,
        "sizes": {"c32": sizes.c32, "c1": sizes.c1, "stream": sizes.stream, "warm": sizes.warmup},
    }


def _redacted(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(":" + parts.password + "@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # so that SIGTERM and SIGHUP stop the children too


def _names(targets: list[str], base: baseline.Baseline | None) -> list[str]:
    """The simulators, the targets, and the baseline's gateway right after the current one."""
    names = [*fleet.directs(targets), *targets]
    if base is not None:
        at = names.index("gateway") + 1 if "gateway" in names else len(names)
        names.insert(at, base.name)
    return names


def _parser() -> argparse.ArgumentParser:
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
    parser.add_argument(
        "--redis-url", default=redis_stats.DEFAULT_URL, help="the Redis of gateway-redis"
    )
    parser.add_argument(
        "--baseline",
        metavar="REV",
        help="also measure the gateway of this git revision (from a temporary worktree)",
    )
    return parser


def main() -> None:
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGHUP, _interrupt)
    args = _parser().parse_args()
    if args.quick:
        args.requests, args.rounds = 800, 1
    sizes = Sizes.of(args.requests)
    if args.http != "httptools":
        print("warning: httptools is not installed: uvicorn falls back to h11", file=sys.stderr)
    pinned = fleet.cores()
    if pinned[1] is not None:
        os.sched_setaffinity(0, {pinned[1]})  # the load generator shares the simulator's core
    meta = _meta(args, sizes, args.http)
    probe: redis_stats.Probe | None = None
    redis: fleet.Redis | None = None
    if fleet.REDIS in args.targets:
        probe = redis_stats.Probe(args.redis_url)
        probe.check()
        redis = fleet.Redis(args.redis_url, f"gwbench:{os.getpid()}:")  # unique to this run
        meta["redis"] = {"url": _redacted(redis.url), "prefix": redis.prefix}
    with contextlib.ExitStack() as stack:
        base = None
        if args.baseline:
            base = stack.enter_context(baseline.worktree(args.baseline))
            meta["baseline"] = {"rev": base.rev, "commit": base.commit, "target": base.name}
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-overhead-")))
        children: dict[str, Child] = {}
        try:
            trees = {base.name: base.tree} if base is not None else {}
            names = _names(args.targets, base)
            fleet.start(children, names, workdir, args.http, pinned, redis, trees)
            results = uvloop.run(_run(children, sizes, args.rounds, probe))
        finally:
            fleet.stop(children)  # before the worktree goes
            if probe is not None and redis is not None:
                _clean(probe, redis.prefix)
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
    _print(meta, args, results, profile, base.name if base is not None else None)
    if args.out:
        payload = {"meta": meta, "results": results, "profile": profile}
        args.out.write_text(orjson.dumps(payload, option=orjson.OPT_INDENT_2).decode())


def _print(
    meta: dict[str, object],
    args: argparse.Namespace,
    results: dict[str, report.Metrics],
    profile: str,
    previous: str | None,
) -> None:
    print(f"\n{meta['date']}; {meta['nproc']} cores; Python {meta['python']}; {args.http}")
    print(f"sizes per round: {meta['sizes']}; rounds: {args.rounds}; code: {meta['commit']}")
    if "baseline" in meta:
        print(f"baseline: {meta['baseline']}")
    print("\n" + report.table(results, fleet.direct_of))
    redis_table = redis_stats.table(results)
    if redis_table:
        print("\nRedis work per request, c=32 phase (`INFO` deltas on the shared server):\n")
        print(redis_table)
    print("\n" + report.ratios(results, fleet.direct_of))
    messages = [name for name in (fleet.MESSAGES, fleet.TRANSLATED) if name in results]
    against_chat = report.against_chat(results, "gateway", messages, fleet.direct_of)
    if against_chat:
        print(against_chat)
    versus = report.versus(results, "gateway", previous) if previous is not None else ""
    if versus:
        print(versus)
    for name in (keys.AUTH, keys.AUTH_BUDGET):  # what auth, then limits and budgets, add
        with_key = report.versus(results, name, "gateway")
        if with_key:
            print(with_key)
    if profile:
        print("\n" + profile)


def _clean(probe: redis_stats.Probe, prefix: str) -> None:
    """After the gateways are stopped: SCAN + DEL every key under this run's prefix."""
    try:
        deleted = probe.delete_prefix(prefix)
        print(f"deleted {deleted} Redis keys under {prefix!r}", flush=True)
    except Exception as exc:  # reported, not raised: the run's own error matters more
        print(f"warning: could not delete the keys under {prefix!r}: {exc}", file=sys.stderr)
    finally:
        probe.close()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(130)
