"""One server process of the benchmark: the simulator, a pass-through proxy or the gateway.

    python -m bench.serve sim --port P [--dialect anthropic]
    python -m bench.serve passthrough-httpx --upstream http://127.0.0.1:P/v1 --port Q
    python -m bench.serve gateway --providers F --policies D --transport aiohttp --port Q
    python -m bench.serve gateway ... --redis-url redis://127.0.0.1:6379/0 --redis-prefix P
    python -m bench.serve gateway ... --auth --database-url sqlite:////tmp/x/gateway.db

Proxies run under uvicorn as `gateway serve` does (uvloop, httptools, no access log, one
worker). With --profile FILE, SIGUSR1 starts cProfile and SIGUSR2 stops it and writes FILE.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import importlib.util
import logging
import os
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import uvloop

if TYPE_CHECKING:
    from fastapi import FastAPI

    from gateway.sim import VendorSpec
    from gateway.sim.config import Dialect

HOST = "127.0.0.1"
SIM_MODEL = "m"
KINDS = ("sim", "passthrough-httpx", "passthrough-aiohttp", "gateway")


def default_http() -> str:
    """httptools as `gateway serve` uses it; h11 (much slower) only if it is not installed."""
    return "httptools" if importlib.util.find_spec("httptools") else "h11"


def sim_spec(port: int = 0, dialect: Dialect = "openai") -> VendorSpec:
    """The simulator of the benchmark; `anthropic`: an Anthropic-format vendor (/v1/messages)
    with no key, as `providers_yaml` then points a `kind: anthropic` deployment at it."""
    from gateway.sim import VendorSpec

    # Answers at once: everything measured is the proxies' own cost.
    return VendorSpec(
        port=port,
        dialect=dialect,
        models=[SIM_MODEL],
        ttft_ms=0,
        tokens_per_s=1e6,
        output_tokens=64,  # requests cap it: 16 for a whole answer, 64 for a stream
    )


async def _serve_sim(port: int, dialect: Dialect) -> None:
    from gateway.sim import SimVendor

    vendor = SimVendor("sim", sim_spec(port, dialect), host=HOST)
    await vendor.start()
    try:
        await asyncio.Event().wait()
    finally:
        await vendor.stop()


def _app(args: argparse.Namespace) -> FastAPI:
    if args.kind == "passthrough-httpx":
        from bench.passthrough_httpx import create_app

        return create_app(args.upstream)
    if args.kind == "passthrough-aiohttp":
        from bench.passthrough_aiohttp import create_app as create_aiohttp_app

        return create_aiohttp_app(args.upstream)
    from gateway.app import create_app as create_gateway
    from gateway.settings import Settings

    settings = Settings(
        host=HOST,
        port=args.port,
        providers=args.providers,
        policies=args.policies,
        http_transport=args.transport,
        redis_url=args.redis_url,  # None: in-memory state
        redis_prefix=args.redis_prefix,
        log_level="warning",
        database_url=args.database_url,  # None: ./gateway.db, in the folder it runs in
        master_key=None,
        auth=args.auth,  # off unless asked: the auth targets send a key minted beforehand
    )
    return create_gateway(settings)


def _profile_on_signals(path: Path) -> None:
    """SIGUSR1 starts the profiler, SIGUSR2 stops it and writes `path` (atomically)."""
    profiler = cProfile.Profile()

    def start(signum: int, frame: object) -> None:
        profiler.enable()

    def stop(signum: int, frame: object) -> None:
        profiler.disable()
        tmp = path.with_suffix(".tmp")
        profiler.dump_stats(tmp)
        os.replace(tmp, path)

    signal.signal(signal.SIGUSR1, start)
    signal.signal(signal.SIGUSR2, stop)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=KINDS)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dialect", choices=("openai", "anthropic"), default="openai")
    parser.add_argument("--upstream", help="OpenAI base URL (pass-through proxies)")
    parser.add_argument("--providers", type=Path, help="providers.yaml (gateway)")
    parser.add_argument("--policies", type=Path, help="policies folder (gateway)")
    parser.add_argument("--transport", choices=("aiohttp", "httpx"), default="aiohttp")
    parser.add_argument("--redis-url", help="state in this Redis (gateway; default: in memory)")
    parser.add_argument("--redis-prefix", default="gw:", help="Redis key prefix (gateway)")
    parser.add_argument("--auth", action="store_true", help="auth on: clients send a key")
    parser.add_argument("--database-url", help="ledger and keys (gateway; default ./gateway.db)")
    parser.add_argument("--http", choices=("httptools", "h11"), default=default_http())
    parser.add_argument("--profile", type=Path, help="cProfile on SIGUSR1, written on SIGUSR2")
    args = parser.parse_args()
    if args.kind == "sim":
        uvloop.run(_serve_sim(args.port, args.dialect))  # ends with SIGTERM
        return

    import uvicorn

    logging.basicConfig(level=logging.WARNING)
    app = _app(args)
    if args.profile:
        _profile_on_signals(args.profile)
    http: Any = args.http
    if args.kind == "gateway" and http == "httptools":
        from gateway.api.http_guard import GuardedHttpTools

        http = GuardedHttpTools  # as `gateway serve` runs it: httptools with the edge bounds
    uvicorn.run(
        app,
        host=HOST,
        port=args.port,
        loop="uvloop",
        http=http,
        access_log=False,
        log_level="warning",
    )


if __name__ == "__main__":
    main()
