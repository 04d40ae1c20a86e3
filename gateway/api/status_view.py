"""The status page's judgements, as pure functions: a deployment's health in one word, traffic
shares, today's spend per team beside its daily budget."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

from gateway.core.circuit import Breaker, half_open, is_open
from gateway.core.estimators import Estimate, decay

if TYPE_CHECKING:
    from gateway.ledger.report import SpendLine  # SQLAlchemy: not needed to be ready

Level = Literal["ok", "warn", "bad", "idle"]
FAILING_RATE = 0.25  # a decayed failure rate from here on is worth a look
LOW_HEADROOM = 0.2  # where scoring's quota pressure starts to move traffic away


def health(row: Mapping[str, Any]) -> tuple[Level, str]:
    """One deployment's state in a word, from its /admin/providers row (worst reason first)."""
    if row.get("credential_rejected"):
        return "bad", "key rejected"
    if row.get("circuit_open"):
        return "bad", "circuit open"
    if row.get("headroom", 1.0) <= 0:
        return "bad", "quota exhausted"
    replicas = (row.get("pool") or {}).get("replicas")
    if replicas and not any(r.get("healthy") for r in replicas):
        return "bad", "no healthy replica"
    if row.get("failure_rate", 0.0) >= FAILING_RATE:
        return "warn", "failing"
    if row.get("headroom", 1.0) < LOW_HEADROOM:
        return "warn", "quota low"
    if row.get("ttft_ms") is None:
        return "idle", "no traffic yet"
    return "ok", "healthy"


def circuit(breaker: Breaker, now: float) -> str:
    if is_open(breaker, now):
        return "open"
    return "half-open" if half_open(breaker, now) else "closed"


def recent_attempts(est: Estimate | None, now: float) -> float:
    """The decayed count of attempts the scorer keeps (the last ~10 s weigh most)."""
    if est is None or not est.updated_at:
        return 0.0
    return decay(est.total, now - est.updated_at)


def shares(counts: Mapping[str, float]) -> dict[str, float | None]:
    """Each one's part of the total; None for all when there is no traffic at all."""
    total = sum(counts.values())
    return {k: (round(v / total, 4) if total > 0 else None) for k, v in counts.items()}


def team_spend(
    lines: Iterable[SpendLine], budgets: Mapping[str, Decimal | None]
) -> list[dict[str, Any]]:
    """Today's spend per team (most expensive first; None: requests without a team), with
    the daily budget and what is left of it; a team with a budget and no spend yet shows 0."""
    rows: list[dict[str, Any]] = []
    seen: set[str | None] = set()
    for line in lines:
        seen.add(line.key)
        rows.append(_team_row(line.key, line.requests, line.tokens, line.cost_usd, budgets))
    for name in sorted(n for n, b in budgets.items() if b is not None and n not in seen):
        rows.append(_team_row(name, 0, 0, Decimal(0), budgets))
    return rows


def _team_row(
    team: str | None,
    requests: int,
    tokens: int,
    cost: Decimal,
    budgets: Mapping[str, Decimal | None],
) -> dict[str, Any]:
    budget = budgets.get(team) if team is not None else None
    return {
        "team": team,
        "requests": requests,
        "tokens": tokens,
        "cost_usd": float(cost),
        "budget_usd_day": None if budget is None else float(budget),
        "left_usd_day": None if budget is None else float(max(budget - cost, Decimal(0))),
    }
