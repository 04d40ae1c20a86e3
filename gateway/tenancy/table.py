"""`gateway keys list` and `gateway teams list` as tables (never a key or a hash)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal

from rich.console import Console
from rich.table import Table

from gateway.tenancy.keys import KeyRecord, TeamRecord, usd
from gateway.tenancy.spend import Spend

_NONE = "-"


def keys_table(keys: Iterable[KeyRecord], spend: Mapping[str, Spend]) -> None:
    table = Table(title="API keys")
    for name in ("id", "prefix"):
        table.add_column(name, no_wrap=True)
    for name in ("team", "name", "models", "limits", "budget day/month", "spend day/month"):
        table.add_column(name)
    for name in ("expires", "revoked", "last used"):
        table.add_column(name)
    for k in keys:
        table.add_row(
            k.id,
            k.prefix,
            k.team,
            k.name or _NONE,
            _models(k.models),
            _limits(k.rpm, k.tpm),
            _budgets(k.budget_usd_day, k.budget_usd_month),
            _spend(spend.get(k.id)),
            _time(k.expires_at),
            _time(k.revoked_at),
            _time(k.last_used_at),
        )
    _print(table)


def teams_table(
    teams: Iterable[TeamRecord], spend: Mapping[str, Spend], keys: Iterable[KeyRecord]
) -> None:
    active = Counter(k.team for k in keys if k.revoked_at is None)
    table = Table(title="Teams")
    table.add_column("team", no_wrap=True)
    for name in ("models", "limits", "budget day/month", "spend day/month"):
        table.add_column(name)
    table.add_column("keys", justify="right")
    for t in teams:
        table.add_row(
            t.name,
            _models(t.models),
            _limits(t.rpm, t.tpm),
            _budgets(t.budget_usd_day, t.budget_usd_month),
            _spend(spend.get(t.name)),
            str(active[t.name]),
        )
    _print(table)


def _print(table: Table) -> None:
    console = Console()
    if not console.is_terminal:  # piped or captured: whole lines, not a squeeze into 80 columns
        console = Console(width=220)
    console.print(table)


def _models(models: frozenset[str] | None) -> str:
    return "all" if models is None else ",".join(sorted(models))


def _limits(rpm: int | None, tpm: int | None) -> str:
    parts = [f"{rpm} rpm" if rpm else "", f"{tpm} tpm" if tpm else ""]
    return " ".join(p for p in parts if p) or _NONE


def _budgets(day: Decimal | None, month: Decimal | None) -> str:
    if day is None and month is None:
        return _NONE
    return f"{_usd(day)} / {_usd(month)}"


def _spend(spend: Spend | None) -> str:
    spend = spend or Spend()
    return f"${usd(spend.day)} / ${usd(spend.month)}"


def _usd(amount: Decimal | None) -> str:
    return _NONE if amount is None else f"${usd(amount)}"


def _time(moment: datetime | None) -> str:
    return _NONE if moment is None else f"{moment:%Y-%m-%d %H:%M}"
