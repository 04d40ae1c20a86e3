"""Minting, hashing and the checks on limits: pure functions."""

from __future__ import annotations

import hashlib
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from gateway.tenancy.keys import (
    KeyRecord,
    check_budget,
    check_count,
    check_limits,
    check_models,
    check_name,
    check_team,
    key_hash,
    new_key,
    new_key_id,
    parse_duration,
    prefix_of,
    shown,
    usd,
)


def test_new_key_is_gw_and_32_random_bytes_url_safe() -> None:
    keys = {new_key() for _ in range(200)}
    assert len(keys) == 200
    for key in keys:
        assert re.fullmatch(r"gw-[A-Za-z0-9_-]{43}", key)  # 32 bytes in url-safe base64
    assert len({prefix_of(k) for k in keys}) == 200


def test_hash_prefix_and_id() -> None:
    key = "gw-AbCdEfGhIjKlMnOp"
    assert key_hash(key) == hashlib.sha256(key.encode()).hexdigest()
    assert prefix_of(key) == "gw-AbCdEfGhI"
    assert re.fullmatch(r"key_[0-9a-f]{12}", new_key_id())


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("30d", timedelta(days=30)),
        ("12h", timedelta(hours=12)),
        ("90m", timedelta(minutes=90)),
        ("2w", timedelta(weeks=2)),
        ("45s", timedelta(seconds=45)),
        (" 7D ", timedelta(days=7)),
    ],
)
def test_parse_duration(raw: str, expected: timedelta) -> None:
    assert parse_duration(raw) == expected


@pytest.mark.parametrize("raw", ["", "30", "d", "3x", "-1d", "1.5h", "0d", "30 days"])
def test_parse_duration_refuses_with_a_clear_message(raw: str) -> None:
    with pytest.raises(ValueError, match=r"is not a duration: .*\(e\.g\. 30d\)"):
        parse_duration(raw)


def test_budgets_are_exact_and_bounded() -> None:
    assert check_budget("5.5", "b") == Decimal("5.5")
    assert check_budget(0.1, "b") == Decimal("0.1")
    assert check_budget(12, "b") == Decimal(12)
    assert check_budget(None, "b") is None
    for bad in ("-1", "abc", "NaN", "Infinity", "1e9", True, [1]):
        with pytest.raises(ValueError, match="b must"):
            check_budget(bad, "b")
    assert usd(Decimal("100.0000000000")) == "100"
    assert usd(Decimal("0.0000012300")) == "0.00000123"


def test_counts_models_and_names() -> None:
    assert check_count(60, "rpm") == 60
    for bad in (0, -5, 2**31, True, "10", 1.5):
        with pytest.raises(ValueError, match="rpm must be a whole number"):
            check_count(bad, "rpm")
    assert check_models(["b", " a ", "b"]) == ["a", "b"]
    assert check_models("a,b, c") == ["a", "b", "c"]
    assert check_models(None) is None
    for bad_models in ([], [" "], ["a\x00"], ["x" * 300]):
        with pytest.raises(ValueError, match="models must"):
            check_models(bad_models)
    assert check_name(" acme ", "team") == "acme"
    for bad in ("", "  ", "a\nb", "x" * 200):
        with pytest.raises(ValueError, match="team must be"):
            check_name(bad, "team")
    assert check_team(" team-a.b_c:1@x ") == "team-a.b_c:1@x"
    for bad in ("", "-lead", "a b", "a/b", "é", "x" * 129):
        with pytest.raises(ValueError, match="team must be 1 to 128 letters"):
            check_team(bad)
    assert shown("key_0123") == "key_0123" and shown("gw-AbCdEfGhI") == "gw-AbCdEfGhI"
    assert shown("gw-AbCdEfGhIjKlMnOpQrStUv") == "gw-AbCdEfGhI…"
    assert check_limits({"rpm": None, "models": "a"}) == {"rpm": None, "models": ["a"]}


def test_a_key_is_active_until_revoked_or_expired() -> None:
    now = datetime(2027, 1, 1, tzinfo=UTC)
    rec = KeyRecord(
        "key_1", "gw-x", "t", None, None, None, None, None, None,
        expires_at=now + timedelta(hours=1), revoked_at=None, created_at=now, last_used_at=None,
    )  # fmt: skip
    assert rec.is_active(now)
    assert not rec.is_active(now + timedelta(hours=1))
    assert not replace(rec, revoked_at=now).is_active(now)
    assert replace(rec, expires_at=None).is_active(now + timedelta(days=999))
