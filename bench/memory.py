"""Memory under churn: the gateway's RSS across many requests with many distinct client request
ids and many distinct unknown model names (issue 18: flat within ±10 %).

    .venv/bin/python -m bench.memory [--requests 100000] [--ids 10000] [--models 1000]
        [--unknown-every 10] [--samples 20] [--full]

One gateway (the `gateway` target of bench.overhead: in-memory state, embedded SQLite ledger;
with --full the `gateway-full` one: Redis state, auth + budgets, Postgres ledger) pinned to one
core, the simulator and this client on the other, c=32 keep-alive. Request i carries
`x-request-id: mem-<i mod ids>`; every `unknown-every`-th request names the model
`no-such-model-<n mod models>` (a 404 the client expects), the rest the simulator's model. After
a warm-up of `--warmup` requests, RSS (VmRSS) is read every requests/samples requests; the curve,
and its spread against the first sample, are printed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import tempfile
import time
from pathlib import Path

import uvloop

from bench import fleet, full, loadgen, redis_stats
from bench.procs import Child, rss_mb
from bench.serve import SIM_MODEL

CONCURRENCY = 32


def _request(port: int, i: int, args: argparse.Namespace, headers: str) -> tuple[bytes, bool]:
    """Request number i, and whether it names an unknown model."""
    unknown = args.unknown_every > 0 and i % args.unknown_every == 0
    model = f"no-such-model-{(i // args.unknown_every) % args.models}" if unknown else SIM_MODEL
    rid = f"x-request-id: mem-{i % args.ids}\r\n"
    return loadgen.chat_request(port, model=model, stream=False, headers=headers + rid), unknown


async def _drive(child: Child, args: argparse.Namespace, first: int, count: int) -> int:
    """Send requests first..first+count-1 at c=32; how many answers were wrong."""
    conns = [await loadgen.Conn.open(child.port) for _ in range(CONCURRENCY)]
    wrong = 0
    todo = iter(range(first, first + count))

    async def worker(conn: loadgen.Conn) -> None:
        nonlocal wrong
        for i in todo:
            request, unknown = _request(child.port, i, args, child.headers)
            try:
                await conn.exchange(request)
                wrong += unknown  # an unknown model must not be served
            except loadgen.HttpError as exc:
                wrong += not (unknown and str(exc).startswith("HTTP/1.1 404"))

    try:
        await asyncio.gather(*(worker(c) for c in conns))
    finally:
        await asyncio.gather(*(c.close() for c in conns))
    return wrong


async def _run(child: Child, args: argparse.Namespace) -> list[tuple[int, float]]:
    wrong = await _drive(child, args, -args.warmup, args.warmup)
    curve = [(0, rss_mb(child.pid))]
    step = args.requests // args.samples
    t0 = time.perf_counter()
    for done in range(step, args.requests + 1, step):
        wrong += await _drive(child, args, done - step, step)
        child.check_alive()
        curve.append((done, rss_mb(child.pid)))
        rate = done / (time.perf_counter() - t0)
        print(f"{done:>8} requests  RSS {curve[-1][1]:7.1f} MB  ({rate:.0f} req/s)", flush=True)
    if wrong:
        raise RuntimeError(f"{wrong} answers were not what the request called for")
    return curve


def report(curve: list[tuple[int, float]]) -> str:
    """The curve as one markdown row per sample, and its spread against the first sample."""
    first = curve[0][1]
    lines = ["| requests | RSS MB | vs first |", "|---:|---:|---:|"]
    lines += [f"| {n} | {mb:.1f} | {(mb / first - 1) * 100:+.1f} % |" for n, mb in curve]
    low, high = min(mb for _, mb in curve), max(mb for _, mb in curve)
    verdict = "within" if high <= first * 1.1 and low >= first * 0.9 else "OUTSIDE"
    lines.append(
        f"\nRSS {first:.1f} MB after the warm-up, {curve[-1][1]:.1f} MB at the end, "
        f"min {low:.1f} / max {high:.1f} MB: {(high / first - 1) * 100:+.1f} % at most, "
        f"{verdict} ±10 %"
    )
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--ids", type=int, default=10_000, help="distinct x-request-id values")
    parser.add_argument("--models", type=int, default=1_000, help="distinct unknown models")
    parser.add_argument("--unknown-every", type=int, default=10, help="0: no unknown models")
    parser.add_argument("--samples", type=int, default=20, help="RSS readings after warm-up")
    parser.add_argument("--warmup", type=int, default=5_000)
    parser.add_argument("--full", action="store_true", help="the full production path")
    parser.add_argument("--redis-url", default=redis_stats.DEFAULT_URL)
    parser.add_argument("--postgres-url", default=full.DEFAULT_POSTGRES)
    return parser


def main() -> None:
    args = _parser().parse_args()
    pinned = fleet.cores()
    if pinned[1] is not None:
        os.sched_setaffinity(0, {pinned[1]})
    target = fleet.FULL if args.full else "gateway"
    services = fleet.Services()
    if args.full:
        redis = fleet.Redis(args.redis_url, f"gwbench:{os.getpid()}:")
        services = fleet.Services(redis, full.Resources(args.postgres_url))
    children: dict[str, Child] = {}
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp:
        try:
            fleet.start(children, [fleet.DIRECT, target], Path(tmp), "httptools", pinned, services)
            curve = uvloop.run(_run(children[target], args))
        finally:
            fleet.stop(children)
            if services.postgres is not None:
                services.postgres.close()
            if services.redis is not None:
                probe = redis_stats.Probe(services.redis.url)
                with contextlib.closing(probe):
                    probe.delete_prefix(services.redis.prefix)
    print(f"\n{target}: {args.requests} requests after {args.warmup} of warm-up, ")
    print(f"{args.ids} distinct x-request-id, {args.models} distinct unknown models\n")
    print(report(curve))


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(130)
