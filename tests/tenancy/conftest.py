"""A KeyStore on a migrated ledger database: the real Postgres (a schema of its own) and SQLite."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from gateway.tenancy.store import KeyStore


@pytest.fixture
async def store(ledger_url: str) -> AsyncIterator[KeyStore]:
    keys = await KeyStore.open(ledger_url, migrate=True)
    yield keys
    await keys.close()
