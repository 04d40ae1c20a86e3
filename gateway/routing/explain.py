"""Why a request goes where it goes: a ranking as JSON and as a one-line summary. Pure."""

from __future__ import annotations

from typing import Any

from gateway.config.runtime import Route
from gateway.routing.scoring import Ranking, Scored


def explain(route: Route, ranking: Ranking) -> dict[str, Any]:
    return {
        "route": route.name,
        "source": route.source,
        "strategy": route.strategy.value,
        "slo": route.slo.model_dump(),
        "max_attempts": route.max_attempts,
        "explored": ranking.explored,
        "candidates": [_scored(s) for s in ranking.ranked],
        "excluded": [{"deployment": e.deployment.id, "reason": e.reason} for e in ranking.excluded],
    }


def _scored(s: Scored) -> dict[str, Any]:
    return {
        "deployment": s.deployment.id,
        "score_usd": s.total,
        "terms": {
            "expected_cost_usd": s.cost_usd,
            "slo_miss_usd": s.miss_usd,
            "failure_usd": s.fail_usd,
            "quota_pressure_usd": s.quota_usd,
        },
        "p_miss": round(s.p_miss, 4),
        "predicted_ttft_ms": round(s.ttft_ms, 1),
        "predicted_tpot_ms": round(s.tpot_ms, 2),
    }


def summary(ranking: Ranking, limit: int = 5) -> str:
    """For the x-gateway-explain response header: ranked candidates, then exclusions."""
    parts = [
        f"{s.deployment.id} J={s.total:.3g} (cost {s.cost_usd:.3g}, miss {s.miss_usd:.3g}, "
        f"fail {s.fail_usd:.3g}, quota {s.quota_usd:.3g})"
        for s in ranking.ranked[:limit]
    ]
    parts += [f"{e.deployment.id} excluded: {e.reason}" for e in ranking.excluded[:limit]]
    return "; ".join(parts)
