"""Who is calling: resolved once per request at the edge (gateway.api.auth), carried inward."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class Allowance:
    """What the callers of one key, or of one team, may use together (None: no limit)."""

    scope: str  # "key:<id>" or "team:<name>"
    team: str  # every scope of a caller shares its team (one Redis hash slot)
    rpm: int | None = None
    tpm: int | None = None
    usd_day: Decimal | None = None  # per UTC day
    usd_month: Decimal | None = None  # per UTC month


@dataclass(frozen=True, slots=True)
class Caller:
    team: str | None = None  # picks the policy's team variant; lands in every spend row
    key_id: str | None = None  # the key's id (never the key), for spend_log.key_id
    models: frozenset[str] | None = None  # the models this caller may use; None: all
    is_master: bool = False
    allowances: tuple[Allowance, ...] = ()  # its key's and its team's limits and budgets
    key_prefix: str | None = None  # the key's first characters (as listed), for the access log

    def may_use(self, model: str) -> bool:
        return self.models is None or model in self.models


ANONYMOUS = Caller()
