"""Keys and teams as JSON-ready dicts (the admin API's answers, `--format json`): never a key
or a hash. Budgets and spend are numbers of USD, times ISO 8601 in UTC."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from gateway.tenancy.keys import KeyRecord, TeamRecord
from gateway.tenancy.spend import Spend, headroom


def key_view(rec: KeyRecord, spend: Spend | None = None) -> dict[str, Any]:
    view: dict[str, Any] = {
        "object": "api_key",
        "id": rec.id,
        "prefix": rec.prefix,
        "team": rec.team,
        "name": rec.name,
        **_limits(rec.models, rec.rpm, rec.tpm, rec.budget_usd_day, rec.budget_usd_month),
        "expires_at": _time(rec.expires_at),
        "revoked_at": _time(rec.revoked_at),
        "created_at": _time(rec.created_at),
        "last_used_at": _time(rec.last_used_at),
    }
    if spend is not None:
        view |= _spend(spend, rec.budget_usd_day, rec.budget_usd_month)
    return view


def team_view(rec: TeamRecord, spend: Spend | None = None) -> dict[str, Any]:
    view: dict[str, Any] = {
        "object": "team",
        "name": rec.name,
        **_limits(rec.models, rec.rpm, rec.tpm, rec.budget_usd_day, rec.budget_usd_month),
    }
    if spend is not None:
        view |= _spend(spend, rec.budget_usd_day, rec.budget_usd_month)
    return view


def _limits(
    models: frozenset[str] | None,
    rpm: int | None,
    tpm: int | None,
    day: Decimal | None,
    month: Decimal | None,
) -> dict[str, Any]:
    return {
        "models": None if models is None else sorted(models),
        "rpm": rpm,
        "tpm": tpm,
        "budget_usd_day": _usd(day),
        "budget_usd_month": _usd(month),
    }


def _spend(spend: Spend, day: Decimal | None, month: Decimal | None) -> dict[str, Any]:
    return {
        "spend_usd": {"day": _usd(spend.day), "month": _usd(spend.month)},
        "headroom_usd": {
            "day": _usd(headroom(day, spend.day)),
            "month": _usd(headroom(month, spend.month)),
        },
    }


def _usd(amount: Decimal | None) -> float | None:
    return None if amount is None else float(amount)


def _time(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()
