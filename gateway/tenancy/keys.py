"""Gateway API keys and teams as plain data: minting, hashing, durations, limits and records.

A key is `gw-` + 32 random bytes (url-safe base64). Only its sha256 and its first 12 characters
(the lookup prefix shown in listings) are ever stored; the key itself is printed once.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, TypedDict

KEY_PREFIX = "gw-"
PREFIX_LEN = 12  # "gw-" + 9 random characters: 54 bits, unique in the table
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"\s*(\d+)\s*([smhdw])\s*")
MAX_INT = 2**31 - 1  # rpm and tpm are INTEGER columns
MAX_BUDGET = Decimal("99999999")  # Money is NUMERIC(18, 10): 8 integer digits
_BUDGET_QUANTUM = Decimal("1e-10")
MAX_NAME = 128
MAX_MODEL = 256
_TEAM = re.compile(rf"[A-Za-z0-9][A-Za-z0-9._:@-]{{0,{MAX_NAME - 1}}}")
LIMIT_FIELDS = ("models", "rpm", "tpm", "budget_usd_day", "budget_usd_month")
KEY_FIELDS = ("name", *LIMIT_FIELDS, "expires_at")


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def prefix_of(key: str) -> str:
    return key[:PREFIX_LEN]


def new_key_id() -> str:
    return "key_" + secrets.token_hex(6)


def parse_duration(raw: str) -> timedelta:
    """'30d', '12h', '90m', '2w', '45s' → timedelta; a one-line ValueError otherwise."""
    match = _DURATION.fullmatch(raw.lower())
    if not match or int(match[1]) == 0:
        raise ValueError(
            f"'{raw}' is not a duration: use a positive number and s, m, h, d or w (e.g. 30d)"
        )
    return timedelta(seconds=int(match[1]) * _UNITS[match[2]])


Budget = Decimal | int | float | str | None  # USD; checked and made exact by check_budget


class Limits(TypedDict, total=False):
    """A team's or a key's own limits; None: no limit of that kind (a key: the team's applies)."""

    models: Iterable[str] | None
    rpm: int | None
    tpm: int | None
    budget_usd_day: Budget
    budget_usd_month: Budget


class KeyFields(Limits, total=False):
    """What `update_key` may change."""

    name: str | None
    expires_at: datetime | None


@dataclass(frozen=True, slots=True)
class TeamRecord:
    name: str
    models: frozenset[str] | None
    rpm: int | None
    tpm: int | None
    budget_usd_day: Decimal | None
    budget_usd_month: Decimal | None


@dataclass(frozen=True, slots=True)
class KeyRecord:
    id: str
    prefix: str
    team: str
    name: str | None
    models: frozenset[str] | None
    rpm: int | None
    tpm: int | None
    budget_usd_day: Decimal | None
    budget_usd_month: Decimal | None
    expires_at: datetime | None
    revoked_at: datetime | None
    created_at: datetime
    last_used_at: datetime | None

    def is_active(self, now: datetime) -> bool:
        """Not revoked and not expired at `now` (an aware datetime)."""
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or now < self.expires_at


def check_name(value: str, what: str) -> str:
    name = value.strip()
    if not name or len(name) > MAX_NAME or not name.isprintable():
        raise ValueError(f"{what} must be 1 to {MAX_NAME} printable characters")
    return name


def check_team(value: str) -> str:
    """Team names go in URLs (/admin/teams/NAME), headers and policy files: a plain charset."""
    name = value.strip()
    if not _TEAM.fullmatch(name):
        raise ValueError(
            f"team must be 1 to {MAX_NAME} letters, digits and . _ - : @, starting with a letter "
            "or digit"
        )
    return name


def shown(ident: str) -> str:
    """An id or prefix as it may appear in a message; a whole key only as its prefix."""
    if ident.startswith(KEY_PREFIX) and len(ident) > PREFIX_LEN:
        return prefix_of(ident) + "…"
    return ident if ident.isprintable() else repr(ident)


def check_models(value: Iterable[str] | None) -> list[str] | None:
    """A sorted, de-duplicated allow-list; None: every model."""
    if value is None:
        return None
    if isinstance(value, str):
        value = value.split(",")
    models = sorted({m.strip() for m in value if isinstance(m, str) and m.strip()})
    if any(len(m) > MAX_MODEL or not m.isprintable() for m in models):
        raise ValueError(f"models must be names of 1 to {MAX_MODEL} printable characters")
    if not models:
        raise ValueError("models must name at least one model (leave it unset to allow all)")
    return models


def check_count(value: object, what: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_INT:
        raise ValueError(f"{what} must be a whole number from 1 to {MAX_INT}")
    return value


def check_budget(value: object, what: str) -> Decimal | None:
    """USD, exact: a Decimal from 0 to MAX_BUDGET, to 10 decimals (what the column keeps)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, Decimal | int | str | float):
        raise ValueError(f"{what} must be a number of USD")
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"{what} must be a number of USD, not '{value}'") from None
    if not amount.is_finite() or not Decimal(0) <= amount <= MAX_BUDGET:
        raise ValueError(f"{what} must be from 0 to {MAX_BUDGET} USD")
    return amount.quantize(_BUDGET_QUANTUM)


def usd(amount: Decimal) -> str:
    """A budget for people: '5', '12.5', never '5.0000000000' or '1E+2'."""
    return format(amount.normalize(), "f")


def check_limits(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Validated column values for the limit fields present in `fields` (others ignored)."""
    values: dict[str, Any] = {}
    if "models" in fields:
        values["models"] = check_models(fields["models"])
    for count in ("rpm", "tpm"):
        if count in fields:
            values[count] = check_count(fields[count], count)
    for budget in ("budget_usd_day", "budget_usd_month"):
        if budget in fields:
            values[budget] = check_budget(fields[budget], budget)
    return values
