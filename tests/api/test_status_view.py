"""The status page's pure judgements: health in a word, circuit state, shares, team spend."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from gateway.api.status_view import circuit, health, recent_attempts, shares, team_spend
from gateway.core.circuit import Breaker
from gateway.core.estimators import Estimate
from gateway.ledger.report import SpendLine

OK_ROW: dict[str, Any] = {
    "credential_rejected": False,
    "circuit_open": False,
    "headroom": 0.9,
    "failure_rate": 0.0,
    "ttft_ms": 120.0,
}


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({}, ("ok", "healthy")),
        ({"ttft_ms": None}, ("idle", "no traffic yet")),
        ({"headroom": 0.1}, ("warn", "quota low")),
        ({"failure_rate": 0.3}, ("warn", "failing")),
        ({"failure_rate": 0.3, "headroom": 0.0}, ("bad", "quota exhausted")),
        ({"circuit_open": True, "headroom": 0.0}, ("bad", "circuit open")),
        ({"credential_rejected": True, "circuit_open": True}, ("bad", "key rejected")),
        (
            {"pool": {"replicas": [{"healthy": False}, {"healthy": False}]}},
            ("bad", "no healthy replica"),
        ),
        ({"pool": {"replicas": [{"healthy": False}, {"healthy": True}]}}, ("ok", "healthy")),
    ],
)
def test_health_names_the_worst_reason(changes: dict[str, Any], expected: tuple[str, str]) -> None:
    assert health(OK_ROW | changes) == expected


@pytest.mark.parametrize(
    ("breaker", "expected"),
    [
        (Breaker(), "closed"),
        (Breaker(streak=5, open_until=110.0, opens=1), "open"),
        (Breaker(streak=5, open_until=90.0, opens=1), "half-open"),
        (Breaker(streak=2, open_until=0.0, opens=0), "closed"),
    ],
)
def test_circuit_state_at_100s(breaker: Breaker, expected: str) -> None:
    assert circuit(breaker, 100.0) == expected


def test_recent_attempts_decay_from_the_last_update() -> None:
    assert recent_attempts(None, 100.0) == 0.0
    assert recent_attempts(Estimate(total=4.0, updated_at=100.0), 100.0) == 4.0
    later = recent_attempts(Estimate(total=4.0, updated_at=100.0), 110.0)
    assert later == pytest.approx(4.0 / 2.718281828, rel=1e-6)  # one FAIL_TAU_S later


def test_shares_sum_to_one_and_are_none_without_traffic() -> None:
    assert shares({"a": 3, "b": 1, "c": 0}) == {"a": 0.75, "b": 0.25, "c": 0.0}
    assert shares({"a": 0, "b": 0}) == {"a": None, "b": None}
    assert shares({}) == {}


def test_team_spend_keeps_the_order_and_adds_budgets_and_idle_budgeted_teams() -> None:
    lines = [
        SpendLine("ads", 3, 300, Decimal("0.75")),
        SpendLine(None, 1, 10, Decimal("0.01")),
        SpendLine("search", 2, 20, Decimal("0.5")),
    ]
    budgets = {"ads": Decimal("0.5"), "search": None, "ml": Decimal(2), "idle": None}
    rows = team_spend(lines, budgets)
    assert [r["team"] for r in rows] == ["ads", None, "search", "ml"]
    assert rows[0] == {
        "team": "ads",
        "requests": 3,
        "tokens": 300,
        "cost_usd": 0.75,
        "budget_usd_day": 0.5,
        "left_usd_day": 0.0,  # overspent: nothing left, never negative
    }
    assert rows[1]["budget_usd_day"] is None and rows[1]["left_usd_day"] is None
    assert rows[3] == {
        "team": "ml",
        "requests": 0,
        "tokens": 0,
        "cost_usd": 0.0,
        "budget_usd_day": 2.0,
        "left_usd_day": 2.0,
    }
