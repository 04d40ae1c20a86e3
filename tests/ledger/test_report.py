"""`gateway spend` totals, from the same view the dashboards use."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.ledger.report import SpendLine, parse_duration, spend_by
from tests.ledger.seed import seed


def test_parse_duration() -> None:
    assert parse_duration("7d") == timedelta(days=7)
    assert parse_duration("12h") == timedelta(hours=12)
    assert parse_duration("2w") == timedelta(days=14)
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration("7 days")


async def test_spend_by_provider_and_team(ledger_url: str, engine: AsyncEngine) -> None:
    await seed(ledger_url)
    assert await spend_by(engine, "provider", timedelta(days=7)) == [
        SpendLine("b", 2, 40, Decimal("0.0008")),
        SpendLine("a", 4, 60, Decimal("0.0004")),
        SpendLine(None, 1, 0, Decimal(0)),
    ]
    teams = await spend_by(engine, "team", timedelta(days=1))
    assert [(t.key, t.requests) for t in teams] == [("ads", 2), ("search", 4), (None, 1)]
