"""KeyStore on Postgres and SQLite: keys stored only as hashes, create / list / update / revoke /
expiry, teams, last use, and a version that changes with every mutation."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import insert, select, text

from gateway.ledger.codec import to_row
from gateway.ledger.models import spend_log
from gateway.tenancy.spend import Spend, spend_by
from gateway.tenancy.store import KeyStore, TeamExists
from gateway.tenancy.tables import api_keys
from tests.ledger.factories import NOW, record


async def test_create_then_find_by_id_prefix_or_whole_key(store: KeyStore) -> None:
    rec, key = await store.create_key(
        "acme",
        name="ci",
        models=["gpt-b", "gpt-a"],
        rpm=60,
        tpm=10_000,
        budget_usd_day="5.25",
        budget_usd_month=Decimal("100"),
        expires_in=timedelta(days=30),
    )
    assert key.startswith("gw-") and rec.prefix == key[:12] and rec.id.startswith("key_")
    assert rec.team == "acme" and rec.name == "ci" and rec.models == frozenset({"gpt-a", "gpt-b"})
    assert (rec.rpm, rec.tpm) == (60, 10_000)
    assert (rec.budget_usd_day, rec.budget_usd_month) == (Decimal("5.25"), Decimal(100))
    assert rec.expires_at is not None and rec.expires_at - rec.created_at == timedelta(days=30)
    for ident in (rec.id, rec.prefix, key):
        assert await store.get_key(ident) == rec
    assert await store.get_key("key_000000000000") is None
    assert await store.get_key("gw-" + "x" * 40) is None  # a whole key that is not ours
    assert await store.get_key("a\x00b") is None  # never reaches the database
    assert await store.list_keys() == [rec]
    assert await store.list_keys("acme") == [rec]
    assert await store.list_keys("other") == []
    assert await store.list_keys("a\x00") == []
    # The team came into being, without limits of its own.
    team = await store.get_team("acme")
    assert team is not None and team.rpm is None and team.models is None


async def test_only_the_hash_and_prefix_are_stored(store: KeyStore) -> None:
    keys = [(await store.create_key("acme", name=f"k{i}"))[1] for i in range(3)]
    async with store.engine.connect() as conn:
        rows = (await conn.execute(select(api_keys))).all()
        dump = await conn.execute(text("SELECT * FROM api_keys"))  # raw, as stored
        raw = " ".join(str(v) for row in dump for v in row)
    assert len(rows) == 3
    for key in keys:
        secret = key[12:]  # all but the public prefix
        assert key not in raw and secret not in raw and secret[:16] not in raw
        hashes = {r.key_hash for r in rows}
        assert hashlib.sha256(key.encode()).hexdigest() in hashes
        assert key[:12] in {r.prefix for r in rows}


async def test_revoke(store: KeyStore) -> None:
    rec, key = await store.create_key("acme")
    other, other_key = await store.create_key("acme")
    revoked = await store.revoke(rec.prefix)
    assert revoked is not None and revoked.revoked_at is not None and revoked.id == rec.id
    active = await store.active_keys()
    assert set(active) == {hashlib.sha256(other_key.encode()).hexdigest()}
    assert active[hashlib.sha256(other_key.encode()).hexdigest()] == other
    again = await store.revoke(rec.id)  # idempotent: the first revocation time stays
    assert again is not None and again.revoked_at == revoked.revoked_at
    assert await store.revoke("gw-nothere000") is None
    assert (await store.get_key(key)) == revoked  # still listed (the ledger names its id)


async def test_update_sets_and_clears_fields(store: KeyStore) -> None:
    rec, _ = await store.create_key("acme", rpm=10, models=["a"], budget_usd_day=1)
    later = datetime(2030, 1, 1, 12, tzinfo=UTC)
    updated = await store.update_key(rec.id, rpm=None, tpm=500, name="renamed", expires_at=later)
    assert updated is not None
    assert (updated.rpm, updated.tpm, updated.name) == (None, 500, "renamed")
    assert updated.models == frozenset({"a"}) and updated.budget_usd_day == Decimal(1)
    assert updated.expires_at == later
    cleared = await store.update_key(rec.prefix, models=None, budget_usd_day=None, expires_at=None)
    assert cleared is not None and cleared.models is None and cleared.budget_usd_day is None
    assert cleared.expires_at is None
    assert await store.update_key("key_000000000000", rpm=5) is None
    with pytest.raises(ValueError, match="rpm must be"):
        await store.update_key(rec.id, rpm=0)
    with pytest.raises(ValueError, match="unknown field"):
        await store.update_key(rec.id, team="other")  # type: ignore[call-arg]


async def test_expired_keys_are_not_active(store: KeyStore) -> None:
    soon, soon_key = await store.create_key("acme", expires_in=timedelta(hours=1))
    forever, forever_key = await store.create_key("acme")
    assert len(await store.active_keys()) == 2
    in_two_hours = datetime.now(UTC) + timedelta(hours=2)
    assert set(await store.active_keys(now=in_two_hours)) == {
        hashlib.sha256(forever_key.encode()).hexdigest()
    }
    past = datetime.now(UTC) - timedelta(seconds=1)
    await store.update_key(forever.id, expires_at=past)
    assert await store.active_keys() == {hashlib.sha256(soon_key.encode()).hexdigest(): soon}
    with pytest.raises(ValueError, match="expires_in must be positive"):
        await store.create_key("acme", expires_in=timedelta(0))


async def test_version_changes_with_every_mutation_and_only_then(store: KeyStore) -> None:
    seen = [await store.version()]

    async def changed() -> None:
        now = await store.version()
        assert now not in seen
        seen.append(now)

    rec, _ = await store.create_key("acme")
    await changed()
    await store.update_key(rec.id, rpm=5)
    await changed()
    await store.update_key(rec.id, rpm=5)  # same value: still a write, still a new version
    await changed()
    await store.create_team("beta", tpm=100)
    await changed()
    await store.update_team("beta", tpm=None)
    await changed()
    await store.revoke(rec.id)
    await changed()
    # Not mutations: reads, last use, a repeated revocation, unknown rows, nothing to set.
    await store.touch([rec.id], datetime.now(UTC))
    await store.revoke(rec.id)
    await store.update_key("key_000000000000", rpm=1)
    await store.update_team("nobody", rpm=1)
    await store.update_key(rec.id)
    await store.list_keys()
    assert await store.version() == seen[-1]


async def test_touch_records_last_use_and_never_goes_back(store: KeyStore) -> None:
    a, _ = await store.create_key("acme")
    b, _ = await store.create_key("acme")
    at = datetime(2027, 3, 1, 10, 0, 0, 123456, tzinfo=UTC)
    await store.touch([a.id, b.id, a.id], at)
    await store.touch([a.id], at - timedelta(minutes=5))  # a late, older batch
    await store.touch([], at)
    got = {k.id: k.last_used_at for k in await store.list_keys()}
    assert got == {a.id: at, b.id: at}
    await store.touch(iter([f"key_{i:012x}" for i in range(1200)] + [b.id]), at + timedelta(1))
    touched = await store.get_key(b.id)
    assert touched is not None and touched.last_used_at == at + timedelta(1)


async def test_teams(store: KeyStore) -> None:
    team = await store.create_team(
        "acme", models=["a"], rpm=100, tpm=1000, budget_usd_day="10", budget_usd_month=200
    )
    assert team.models == frozenset({"a"}) and team.budget_usd_month == Decimal(200)
    assert await store.get_team("acme") == team
    with pytest.raises(TeamExists, match="team 'acme' already exists"):
        await store.create_team("acme")
    with pytest.raises(ValueError, match="tpm must be"):
        await store.create_team("beta", tpm=-1)
    updated = await store.update_team("acme", rpm=None, budget_usd_day="12.5")
    assert updated is not None and updated.rpm is None and updated.budget_usd_day == Decimal("12.5")
    assert updated.tpm == 1000
    assert await store.update_team("nobody", rpm=1) is None
    assert await store.get_team("nobody") is None
    # A key for an existing team leaves the team's limits alone.
    await store.create_key("acme")
    assert await store.get_team("acme") == updated
    await store.create_team("beta")
    assert [t.name for t in await store.list_teams()] == ["acme", "beta"]


async def test_concurrent_keys_for_a_new_team(store: KeyStore) -> None:
    made = await asyncio.gather(*(store.create_key("fresh", name=str(i)) for i in range(8)))
    assert len({rec.id for rec, _ in made}) == 8
    assert [t.name for t in await store.list_teams()] == ["fresh"]


async def test_spend_today_and_this_month_per_key_and_team(store: KeyStore) -> None:
    rec, _ = await store.create_key("acme")
    rows = [
        to_row(record(1, key_id=rec.id, team="acme", created_at=NOW)),
        to_row(record(2, key_id=rec.id, team="acme", created_at=NOW)),
        to_row(record(3, key_id=None, team="acme", created_at=NOW)),
    ]
    async with store.engine.begin() as conn:
        await conn.execute(insert(spend_log), rows)
    per_key = await spend_by(store.engine, "key_id", now=NOW)
    cost = Decimal("0.0000123456")
    assert per_key == {rec.id: Spend(2 * cost, 2 * cost)}
    assert await spend_by(store.engine, "team", only="acme", now=NOW) == {
        "acme": Spend(3 * cost, 3 * cost)
    }
    tomorrow = await spend_by(store.engine, "team", now=NOW + timedelta(days=1))
    if NOW.month == (NOW + timedelta(days=1)).month:
        assert tomorrow == {"acme": Spend(Decimal(0), 3 * cost)}
