"""Overhead benchmark: the gateway against the simulator called directly and the pass-through.

    .venv/bin/python -m bench.overhead [--baseline REV] [--requests N] [--rounds R] [--quick]
        [--targets ...] [--skip startup workers] [--out F] [--profile | --profile-only]
        [--redis-url URL] [--postgres-url URL]

Every proxy runs alone in its own process, one uvicorn worker pinned to core 0; the simulator
and this load generator share core 1. All targets are measured in the same run with the same
workload, round after round, and each figure is the median over the rounds. See bench/README.md.

With --baseline REV (a git revision), every gateway target gets a twin, `<target>@<short rev>`,
that runs the gateway of REV from a temporary `git worktree` (removed at the end) exactly as the
target is run (bench/baseline.py); the summary table puts them side by side. After the rounds,
`gateway serve` itself is timed from launch to ready and run with 1 and 2 workers
(bench/scaling.py).
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

from bench import baseline, fleet, full, keys, loadgen, redis_stats, report, scaling
from bench.procs import Child, cpu_seconds, rss_mb
from bench.profile import profile_gateway
from bench.serve import SIM_MODEL, default_http


@dataclass(frozen=True, slots=True)
class Sizes:
    c32: int  # non-stream requests at concurrency 32 (throughput, CPU/request)
    c1: int  # non-stream requests at concurrency 1 (latency)
    stream: int  # streamed requests at concurrency 1 (time to first byte)
    warmup: int
    streams: int  # streamed requests at concurrency 32 (CPU per 64-event stream)

    @classmethod
    def of(cls, requests: int) -> Sizes:
        return cls(
            requests,
            max(requests // 5, 50),
            max(requests // 10, 30),
            max(requests // 8, 200),
            max(requests // 4, 100),
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
    if fleet.kind(target.name) == fleet.REDIS:
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
    cpu0 = cpu_seconds(target.pid)
    streams = await loadgen.run_phase(port, streamed, concurrency=32, requests=sizes.streams)
    stream_cpu = cpu_seconds(target.pid) - cpu0
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
        "cpu_ms_per_stream": stream_cpu * 1000 / sizes.streams,
        "streams_per_s": streams.rps,
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
                f"{metrics['rps']:6.0f} req/s  {metrics['cpu_ms_per_req']:.3f} CPU ms/req  "
                f"{metrics['cpu_ms_per_stream']:.3f} CPU ms/stream",
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
        results[name]["rss_ready_mb"] = child.rss_ready_mb
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
        "sizes": {
            "c32": sizes.c32,
            "c1": sizes.c1,
            "stream": sizes.stream,
            "streams_c32": sizes.streams,
            "warm": sizes.warmup,
        },
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
    """The simulators, the targets, and each gateway target's twin of the baseline right
    after it (`gateway@<short rev>`, ...)."""
    names = fleet.directs(targets)
    for target in targets:
        names.append(target)
        if base is not None and target.startswith("gateway"):
            names.append(f"{target}@{base.rev_short}")
    return names


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2400, help="requests at c=32 per round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; figures are medians")
    parser.add_argument("--quick", action="store_true", help="a small run (smoke test)")
    parser.add_argument("--out", type=Path, help="write every figure as JSON here")
    parser.add_argument("--profile", action="store_true", help="also profile the gateway")
    parser.add_argument(
        "--profile-only", action="store_true", help="only profile (gateway, gateway-full)"
    )
    parser.add_argument(
        "--targets", nargs="+", choices=fleet.TARGETS[1:], default=list(fleet.DEFAULT_TARGETS)
    )
    parser.add_argument(
        "--skip",
        nargs="+",
        choices=("startup", "workers"),
        default=[],
        help="leave out the start-up times or the 1-vs-2-workers run",
    )
    parser.add_argument("--http", choices=("httptools", "h11"), default=default_http())
    parser.add_argument(
        "--redis-url", default=redis_stats.DEFAULT_URL, help="the Redis of the Redis targets"
    )
    parser.add_argument(
        "--postgres-url", default=full.DEFAULT_POSTGRES, help="the Postgres of the full path"
    )
    parser.add_argument(
        "--baseline",
        metavar="REV",
        help="also measure the gateway targets of this git revision (from a temporary worktree)",
    )
    return parser


def _services(args: argparse.Namespace, meta: dict[str, object]) -> fleet.Services:
    """Redis and Postgres, checked up front, if a target or the workers run needs them."""
    full_path = any(t in fleet.FULL_TARGETS for t in args.targets) or (
        "workers" not in args.skip and not args.profile_only
    )
    redis = postgres = None
    if full_path or fleet.REDIS in args.targets:
        probe = redis_stats.Probe(args.redis_url)
        try:
            probe.check()
        finally:
            probe.close()
        redis = fleet.Redis(args.redis_url, f"gwbench:{os.getpid()}:")  # unique to this run
        meta["redis"] = {"url": _redacted(redis.url), "prefix": redis.prefix}
    if full_path:
        postgres = full.Resources(args.postgres_url)
        postgres.check()
        meta["postgres"] = {"url": _redacted(args.postgres_url), "schemas": postgres.run + "_*"}
    return fleet.Services(redis, postgres)


def main() -> None:
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGHUP, _interrupt)
    args = _parser().parse_args()
    if args.quick:
        args.requests, args.rounds = 600, 1
    sizes = Sizes.of(args.requests)
    if args.http != "httptools":
        print("warning: httptools is not installed: uvicorn falls back to h11", file=sys.stderr)
    pinned = fleet.cores()
    if pinned[1] is not None:
        os.sched_setaffinity(0, {pinned[1]})  # the load generator shares the simulator's core
    meta = _meta(args, sizes, args.http)
    services = _services(args, meta)
    probe = redis_stats.Probe(args.redis_url) if fleet.REDIS in args.targets else None
    extra: dict[str, float] = {}
    with contextlib.ExitStack() as stack:
        base = None
        if args.baseline:
            base = stack.enter_context(baseline.worktree(args.baseline))
            meta["baseline"] = {"rev": base.rev, "commit": base.commit, "target": base.name}
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-overhead-")))
        children: dict[str, Child] = {}
        try:
            if args.profile_only:
                print(_profiles(args, sizes, workdir, services, pinned))
                return
            names = _names(args.targets, base)
            trees = {n: base.tree for n in names if base is not None and "@" in n}
            fleet.start(children, names, workdir, args.http, pinned, services, trees)
            results = uvloop.run(_run(children, sizes, args.rounds, probe))
            _check_state(children, services)
            fleet.stop(children)  # the rest runs alone
            extra = _outside(args, sizes, workdir, services, base, pinned)
            profile = _profiles(args, sizes, workdir, services, pinned) if args.profile else ""
        finally:
            fleet.stop(children)  # before the worktree goes
            _clean(probe, services)
    twin = f"@{base.rev_short}" if base is not None else None
    _print(meta, args, results, profile, twin, extra)
    if args.out:
        payload = {"meta": meta, "results": results, "extra": extra, "profile": profile}
        args.out.write_text(orjson.dumps(payload, option=orjson.OPT_INDENT_2).decode())


def _outside(
    args: argparse.Namespace,
    sizes: Sizes,
    workdir: Path,
    services: fleet.Services,
    base: baseline.Baseline | None,
    pinned: fleet.Cores,
) -> dict[str, float]:
    """Start-up times and the workers' requests/s: `gateway serve` itself, after the rounds."""
    extra: dict[str, float] = {}
    sim: dict[str, Child] = {}
    try:
        fleet.start(sim, [fleet.DIRECT], workdir, args.http, pinned)
        provided = ["--providers", str(workdir / "providers.yaml")]
        provided += ["--policies", str(workdir / "policies")]
        if "startup" not in args.skip:
            extra |= _startup(workdir, provided, services, base, args.rounds)
        if "workers" not in args.skip and services.redis and services.postgres:
            launch = _full_launch("workers", workdir, provided, services, None)
            extra |= uvloop.run(
                scaling.workers(launch[0], (1, 2), launch[1], sizes.c32, args.rounds, workdir)
            )
    finally:
        fleet.stop(sim)
    return extra


def _profiles(
    args: argparse.Namespace,
    sizes: Sizes,
    workdir: Path,
    services: fleet.Services,
    pinned: fleet.Cores,
) -> str:
    """py-spy (or cProfile) on `gateway`, and on `gateway-full` when it was measured."""
    targets = ["gateway"] + ([fleet.FULL] if fleet.FULL in args.targets else [])
    out = []
    for target in targets:
        # A Redis prefix and a Postgres schema of its own (made here: not in a running loop).
        serve = fleet.argv(f"{target}@profiled", workdir, "", services, None)
        out.append(
            uvloop.run(
                profile_gateway(
                    workdir,
                    args.http,
                    pinned,
                    warmup=sizes.warmup,
                    requests=sizes.c32 * 2,
                    keep=args.out,
                    target=target,
                    serve=serve,
                )
            )
        )
    return "\n\n".join(out)


def _full_launch(
    name: str,
    workdir: Path,
    provided: list[str],
    services: fleet.Services,
    tree: Path | None,
) -> tuple[scaling.Launch, str]:
    """`gateway serve` on the full production path (a schema and prefix of its own), and the
    header line with its key."""
    assert services.redis is not None and services.postgres is not None
    prefix = f"{services.redis.prefix}{name}:"
    ready = full.setup(
        services.postgres, name, redis_url=services.redis.url, redis_prefix=prefix, tree=tree
    )
    return scaling.Launch(name, workdir / name, provided, ready.env, tree), ready.headers


def _startup(
    workdir: Path,
    provided: list[str],
    services: fleet.Services,
    base: baseline.Baseline | None,
    rounds: int,
) -> dict[str, float]:
    """Launch to ready of `gateway serve`, in memory and on the full path, this code and the
    baseline's (keys: startup_memory_s, startup_full_s, and the same + "@" for the baseline)."""
    launches: dict[str, scaling.Launch] = {}
    trees: list[tuple[str, Path | None]] = [("", None)]
    if base is not None:
        trees.append(("@", base.tree))
    for suffix, tree in trees:
        home = workdir / f"startup-memory{suffix}"
        memory = scaling.Launch(f"startup-memory{suffix}", home, [*provided, "--no-auth"], {}, tree)
        launches[f"startup_memory_s{suffix}"] = memory
        if services.redis is not None and services.postgres is not None:
            name = f"startup-full{suffix}"
            launches[f"startup_full_s{suffix}"] = _full_launch(
                name, workdir, provided, services, tree
            )[0]
    times = scaling.startup(list(launches.values()), workdir, rounds)
    out: dict[str, float] = {}
    for key, launch in launches.items():
        out[key], out[key.replace("_s", "_cpu_s", 1)] = times[launch.name]
    return out


def _print(
    meta: dict[str, object],
    args: argparse.Namespace,
    results: dict[str, report.Metrics],
    profile: str,
    twin: str | None,
    extra: dict[str, float],
) -> None:
    print(f"\n{meta['date']}; {meta['nproc']} cores; Python {meta['python']}; {args.http}")
    print(f"sizes per round: {meta['sizes']}; rounds: {args.rounds}; code: {meta['commit']}")
    if "baseline" in meta:
        print(f"baseline: {meta['baseline']}")
    summary = report.summary(results, fleet.direct_of, twin=twin, extra=extra)
    if summary:
        print("\n" + summary)
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
    for name in results:
        if twin is not None and name + twin in results:
            print(report.versus(results, name, name + twin, fleet.direct_of))
    for name in (keys.AUTH, keys.AUTH_BUDGET):  # what auth, then limits and budgets, add
        with_key = report.versus(results, name, "gateway", fleet.direct_of)
        if with_key:
            print(with_key)
    if profile:
        print("\n" + profile)


def _check_state(children: dict[str, Child], services: fleet.Services) -> None:
    """The full-path gateways kept their state in Redis: keys under each one's prefix (their
    /readyz details are for the admin only, and they run without a master key)."""
    full_names = [n for n in children if fleet.kind(n) in fleet.FULL_TARGETS]
    if not full_names or services.redis is None:
        return
    probe = redis_stats.Probe(services.redis.url)
    try:
        for name in full_names:
            if not probe.any_key(f"{services.redis.prefix}{name}:"):
                raise RuntimeError(f"{name} wrote nothing to Redis: not on the Redis store?")
    finally:
        probe.close()


def _clean(probe: redis_stats.Probe | None, services: fleet.Services) -> None:
    """After the gateways are stopped: every Redis key under this run's prefix (SCAN + DEL),
    every Postgres schema of the run."""
    if services.postgres is not None:
        services.postgres.close()
    if services.redis is None:
        return
    prefix = services.redis.prefix
    probe = probe or redis_stats.Probe(services.redis.url)
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
