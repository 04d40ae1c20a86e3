"""The key directory's per-key Callers: built once per key and directory version, bounded by
the active keys (a stream of unknown keys caches nothing), rebuilt after any change."""

from __future__ import annotations

import secrets
from decimal import Decimal

from gateway.tenancy.directory import KeyDirectory
from gateway.tenancy.store import KeyStore


async def test_a_caller_is_built_once_and_only_for_active_keys(store: KeyStore) -> None:
    await store.create_team("search", rpm=100, budget_usd_day=Decimal(5))
    record, key = await store.create_key("search", name="app", tpm=1000)
    directory = KeyDirectory(store)
    await directory.refresh()

    first = directory.caller(key)
    assert first is not None
    assert first.team == "search" and first.key_id == record.id
    assert [a.scope for a in first.allowances] == [f"key:{record.id}", "team:search"]
    assert directory.caller(key) is first  # the same object: nothing built per request

    for _ in range(1_000):  # unknown keys, each distinct: refused, and nothing kept for them
        assert directory.caller("gw-" + secrets.token_urlsafe(32)) is None
    assert len(directory._callers) == 1

    await store.update_team("search", rpm=200)
    await directory.refresh()  # the version moved: callers are rebuilt with the new limits
    second = directory.caller(key)
    assert second is not None and second is not first
    assert [a.rpm for a in second.allowances] == [None, 200]

    await store.revoke(record.id)
    await directory.refresh()
    assert directory.caller(key) is None
    assert directory._callers == {}
