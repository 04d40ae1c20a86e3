"""Build the Store the settings ask for: Redis (single or cluster) when configured, else memory."""

from __future__ import annotations

from typing import Any

from gateway.settings import Settings
from gateway.state.memory_store import MemoryStore
from gateway.state.store import Store

# Short socket timeouts: a dead Redis must cost a request milliseconds, not seconds.
TIMEOUT_S = 0.5


def check_workers(settings: Settings) -> str | None:
    """Workers of one `serve` must share one state, as replicas do: refuse in-process state for
    several of them unless the operator accepted it. Returns the warning to give when they did."""
    if settings.workers == 1 or settings.redis_url:
        return None
    problem = (
        f"--workers {settings.workers} without GATEWAY_REDIS_URL: every worker would keep its "
        "own quotas, rate windows, budgets, circuits and latency stats (a 100 rpm limit would "
        f"let {settings.workers} x 100 requests a minute through)"
    )
    if not settings.per_worker_state:
        raise ValueError(
            f"{problem}; set GATEWAY_REDIS_URL, or accept per-worker state with "
            "--per-worker-state [GATEWAY_PER_WORKER_STATE]"
        )
    return f"{problem}: accepted with --per-worker-state"


def build_store(settings: Settings) -> Store:
    if not settings.redis_url:
        return MemoryStore(refresh_s=settings.state_refresh_s)
    # Imported here: a gateway without Redis never loads the client (~0.2 s of start-up).
    from redis.asyncio import Redis, RedisCluster

    from gateway.state.redis_store import RedisStore

    client: Redis | RedisCluster
    if settings.redis_cluster:
        client = RedisCluster.from_url(
            settings.redis_url, socket_timeout=TIMEOUT_S, socket_connect_timeout=TIMEOUT_S
        )
    else:
        from gateway.state.redis_connection import TimelyConnection

        options: dict[str, Any] = {}
        if settings.redis_url.startswith("redis://"):  # (rediss:// and unix:// keep their own)
            options["connection_class"] = TimelyConnection
        client = Redis.from_url(
            settings.redis_url,
            socket_timeout=TIMEOUT_S,
            socket_connect_timeout=TIMEOUT_S,
            **options,
        )
    return RedisStore(
        client,
        prefix=settings.redis_prefix,
        refresh_s=settings.state_refresh_s,
        budget_fail_closed=settings.budget_fail_closed,
    )
