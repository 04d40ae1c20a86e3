"""Admin routes: the live state of every deployment, as the scorer sees it."""

from __future__ import annotations

import time
from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from gateway.api.auth import require_admin
from gateway.api.state import AppState
from gateway.core.estimators import Estimate, to_stats
from gateway.errors import error_object
from gateway.upstream.base import Upstream
from gateway.upstream.pool import PoolUpstream

router = APIRouter(include_in_schema=False)  # not advertised in /openapi.json


@router.get("/admin/providers")
async def providers(request: Request) -> Response:
    state = require_admin(request.scope)
    return Response(orjson.dumps(providers_view(state)), media_type="application/json")


def providers_view(state: AppState) -> dict[str, Any]:
    """Every deployment's live numbers (also the status page's, GET /admin/status)."""
    config = state.router.config
    snapshot = state.store.snapshot()
    now = time.time()
    deployments = []
    for dep in config.deployments.values():
        est = snapshot.get(dep.id) or Estimate()
        stats = to_stats(est, now)
        deployments.append(
            {
                "id": dep.id,
                "provider": dep.provider,
                "upstream_model": dep.upstream_model,
                "price_per_mtok": {"input": dep.input_per_mtok, "output": dep.output_per_mtok},
                "ttft_ms": _round(stats.ttft_ms),
                "tpot_ms": _round(stats.tpot_ms),
                "latency_ms": _round(est.latency_ms),
                "failure_rate": round(stats.p_fail, 4),
                "in_flight": stats.in_flight,
                "quota_headroom": round(est.quota_headroom, 4),
                "provider_reported_headroom": est.hint_headroom,
                "headroom": round(stats.headroom, 4),
                "circuit_open": stats.circuit_open,
                "credential_rejected": dep.provider in state.router.credentials,
                "limits": {
                    lim.scope: {
                        "rpm": lim.rpm,
                        "tpm": lim.tpm,
                        "max_concurrency": lim.max_concurrency,
                    }
                    for lim in dep.limits
                },
                **_pool_row(state.reloader.upstreams.get(dep.provider)),
            }
        )
    return {
        "state": dict(state.store.health()),
        "unavailable_providers": dict(config.unavailable),
        "deployments": deployments,
    }


def _pool_row(upstream: Upstream | None) -> dict[str, object]:
    """For a pool: its cost, effective $/Mtok so far and every replica's live load."""
    if not isinstance(upstream, PoolUpstream):
        return {}
    pool, now = upstream.pool, time.monotonic()
    effective = upstream.effective_usd_per_mtok()
    replicas = [
        {
            "url": r.url,
            "healthy": s.healthy,
            "in_flight": s.in_flight,  # every gateway's (ours: own_in_flight)
            "own_in_flight": r.in_flight,
            "running": s.load.running if s.load else None,
            "waiting": s.load.waiting if s.load else None,
            "kv_usage": s.load.kv_usage if s.load else None,
            "metrics_age_s": _round(now - s.load.at) if s.load else None,
            "tokens_served": r.served,
            # Observed / predicted TTFT so far, and the last (predicted, observed) pair in ms.
            "ttft_bias": round(r.ttft_bias, 3),
            "last_ttft_ms": [round(v, 1) for v in r.last_ttft_ms] if r.last_ttft_ms else None,
        }
        for r, s in zip(upstream.replicas, upstream.states(now), strict=True)
    ]
    return {
        "pool": {
            "engine": pool.engine,
            "billing": pool.billing,
            "gpu_usd_per_hour": pool.usd_per_hour,
            "amortised_usd_per_mtok": pool.amortised_per_mtok,
            "effective_usd_per_mtok": None if effective is None else round(effective, 4),
            "affinity_hits": upstream.affinity_hits,
            "replicas": replicas,
        }
    }


def _round(value: float | None) -> float | None:
    return round(value, 2) if value is not None else None


@router.get("/admin/config")
async def config_status(request: Request) -> Response:
    state = require_admin(request.scope)
    return Response(orjson.dumps(state.reloader.status()), media_type="application/json")


@router.post("/admin/reload")
async def reload_config(request: Request) -> Response:
    """Reload now; 200 with the new status, or 422 with every problem (the old config serves)."""
    state = require_admin(request.scope)
    ok = await state.reloader.reload("POST /admin/reload")
    status = state.reloader.status()
    if ok:
        return Response(orjson.dumps(status), media_type="application/json")
    message = "The new configuration is invalid; the last good one keeps serving."
    body = error_object(message, "invalid_request_error", "config_invalid")
    body["problems"] = status["last_error"]
    return Response(orjson.dumps(body), status_code=422, media_type="application/json")
